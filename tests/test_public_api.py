"""The public API is what ``dentrix_highlevel.__all__`` says, sorted, and nothing private leaks into it."""

from __future__ import annotations

import dentrix_highlevel


def test_all_is_sorted_and_unique() -> None:
    names = list(dentrix_highlevel.__all__)
    assert names == sorted(names)
    assert len(names) == len(set(names))


def test_every_exported_name_exists_and_is_public() -> None:
    for name in dentrix_highlevel.__all__:
        assert hasattr(dentrix_highlevel, name), name
        assert not name.startswith("_") or name == "__version__", name


def test_public_names_are_defined_in_the_package() -> None:
    for name in dentrix_highlevel.__all__:
        obj = getattr(dentrix_highlevel, name)
        module = getattr(obj, "__module__", "dentrix_highlevel")
        assert module.startswith("dentrix_highlevel"), (name, module)


def test_every_public_exception_derives_from_the_base() -> None:
    for name in dentrix_highlevel.__all__:
        obj = getattr(dentrix_highlevel, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, dentrix_highlevel.DentrixHighLevelError), name


def test_the_types_an_embedding_program_names_are_exported() -> None:
    # What a host's own signatures need: a contact read back, a custom field to create, its progress
    # callback, and the source it hands to Migration.
    for name in ("Contact", "CustomFieldInput", "MigrationSource", "ProgressCallback"):
        assert name in dentrix_highlevel.__all__, name


def test_the_library_logger_has_a_null_handler_and_nothing_else() -> None:
    import logging

    handlers = logging.getLogger("dentrix_highlevel").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
    # Where records go is the host's choice: we add no handler that prints.
    assert all(isinstance(h, logging.NullHandler) for h in handlers)
