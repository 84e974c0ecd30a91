"""The public API is what each public namespace's ``__all__`` says, sorted, and nothing private leaks
into it; the top level stays small, costs nothing to import, and the names that moved still work (with a
``DeprecationWarning``) for one release."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
import warnings

import pytest

import dentrix_highlevel

#: Every public namespace (the top level included).
NAMESPACES = (
    "dentrix_highlevel",
    "dentrix_highlevel.errors",
    "dentrix_highlevel.records",
    "dentrix_highlevel.sources",
    "dentrix_highlevel.mapping",
    "dentrix_highlevel.highlevel",
    "dentrix_highlevel.migration",
    "dentrix_highlevel.fleet",
    "dentrix_highlevel.synth",
    "dentrix_highlevel.sandbox",
    "dentrix_highlevel.ascend_emulator",
)


def _isort_style(name: str) -> tuple[int, str]:
    """ruff's ``__all__`` order: CONSTANTS, then Classes, then everything else, each alphabetical."""
    if name.isupper() and len(name) > 1:
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_all_is_sorted_and_unique(namespace: str) -> None:
    names = list(importlib.import_module(namespace).__all__)
    assert names == sorted(names, key=_isort_style)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_exported_name_exists_and_is_public(namespace: str) -> None:
    module = importlib.import_module(namespace)
    for name in module.__all__:
        assert hasattr(module, name), name
        assert not name.startswith("_") or name == "__version__", name


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_public_names_are_defined_in_the_package(namespace: str) -> None:
    module = importlib.import_module(namespace)
    for name in module.__all__:
        obj = getattr(module, name)
        if not isinstance(obj, type | types.FunctionType):
            continue  # constants and type aliases (``ProgressCallback = Callable[...]``) have no home
        home = getattr(obj, "__module__", "dentrix_highlevel")
        assert home.startswith("dentrix_highlevel"), (name, home)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_public_exception_derives_from_the_base(namespace: str) -> None:
    module = importlib.import_module(namespace)
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, dentrix_highlevel.DentrixHighLevelError), name


def test_the_top_level_holds_what_a_script_needs_and_little_else() -> None:
    assert len(dentrix_highlevel.__all__) <= 30
    for needed in ("Migration", "build_plan", "GExportSource", "HighLevelClient", "DentrixHighLevelError"):
        assert needed in dentrix_highlevel.__all__


def test_every_error_is_in_the_errors_namespace() -> None:
    from dentrix_highlevel import _errors, errors

    assert set(errors.__all__) == set(_errors.__all__)


def test_moved_names_still_work_with_a_deprecation_warning_naming_their_home() -> None:
    from dentrix_highlevel import _MOVED

    assert _MOVED, "nothing moved?"
    for name, home in _MOVED.items():
        with pytest.warns(DeprecationWarning, match=f"moved to {home}.{name}"):
            old = getattr(dentrix_highlevel, name)
        assert old is getattr(importlib.import_module(home), name), name
        assert name in importlib.import_module(home).__all__, (name, home)


def test_top_level_names_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in dentrix_highlevel.__all__:
            getattr(dentrix_highlevel, name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        dentrix_highlevel.Nope  # noqa: B018 - the lookup is the test


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_importing_the_package_loads_nothing_else() -> None:
    loaded = _loaded_after("import dentrix_highlevel")
    ours = {m for m in loaded if m.startswith("dentrix_highlevel.")}
    assert ours == set(), sorted(ours)
    assert not {"httpx", "anyio", "attrs", "cattrs", "starlette"} & loaded


def test_the_command_lines_help_loads_neither_client_engine_nor_sandbox() -> None:
    code = "from dentrix_highlevel.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    loaded = _loaded_after(code)
    heavy = {
        "dentrix_highlevel.highlevel",
        "dentrix_highlevel.migration",
        "dentrix_highlevel.sandbox",
        "dentrix_highlevel.sources",
        "httpx",
        "starlette",
        "rich",
    }
    assert not heavy & loaded, sorted(heavy & loaded)


def test_the_types_an_embedding_program_names_are_exported() -> None:
    # What a host's own signatures need: a contact read back, a custom field to create, its progress
    # callback, and the source it hands to Migration.
    from dentrix_highlevel import highlevel

    for name in ("MigrationSource", "ProgressCallback"):
        assert name in dentrix_highlevel.__all__, name
    for name in ("Contact", "CustomFieldInput"):
        assert name in highlevel.__all__, name


def test_the_library_logger_has_a_null_handler_and_nothing_else() -> None:
    import logging

    handlers = logging.getLogger("dentrix_highlevel").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
    # Where records go is the host's choice: we add no handler that prints.
    assert all(isinstance(h, logging.NullHandler) for h in handlers)
