"""The documentation site tells the truth about the code.

* The Python blocks of ``docs/quickstart.md`` and ``docs/mapping.md`` that carry a ``title="…"`` run, in
  page order, in one temporary directory per page (each block is a complete script: a reader can paste it
  into a file and run it).
* Every internal link (page and ``#anchor``) and every ``nav`` entry of ``mkdocs.yml`` points at something.
* The generated tables (default map, transforms, G export files) are exactly what the code says today.
  After a change to the code, refresh them with ``python tests/test_docs.py --update`` and review the diff.
* Every custom field any ``DefaultMapOptions`` can produce is listed on the mapping page.
* Every ``dentrix-highlevel`` command line in a shell block of our pages exists, with the flags it uses.
* Every public name of ``dentrix_highlevel.__all__`` has a place in the API reference.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import itertools
import json
import re
import runpy
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import attrs
import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
# Pages other engineers write: links are checked there too, the rest of the rules only on ours.
OTHERS_PAGES = frozenset({"sandbox.md", "ascend.md", "plan.md"})
# Pages whose titled Python blocks run (the quickstart's last block talks to a sandbox server).
RUNNABLE_PAGES = ("quickstart.md", "mapping.md")

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<info>[^\n]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.M | re.S,
)
_TITLE = re.compile(r'title="([^"]+)"')
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_ATTR_ID = re.compile(r"\{[^}]*#([\w-]+)[^}]*\}\s*$")
_GENERATED = re.compile(
    r"(<!-- generated:(?P<name>[\w-]+):start -->\n)(?P<body>.*?)(<!-- generated:(?P=name):end -->)", re.S
)


# ---- reading pages ------------------------------------------------------------------------------------


def our_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if p.relative_to(DOCS).as_posix() not in OTHERS_PAGES)


def all_pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def fences(text: str) -> Iterator[tuple[str, str]]:
    """(info string, body) of every fenced block."""
    for match in _FENCE.finditer(text):
        indent = match["indent"]
        body = "\n".join(line.removeprefix(indent) for line in match["body"].splitlines())
        yield match["info"].strip(), body + "\n"


def without_code(text: str) -> str:
    """The page with fenced blocks and inline code removed (links and headings in code are not links)."""
    text = _FENCE.sub("", text)
    return re.sub(r"`[^`\n]*`", "", text)


def slugify(heading: str) -> str:
    """Python-Markdown's ``toc`` slug, which mkdocs uses for heading anchors."""
    from markdown.extensions.toc import slugify as md_slugify  # type: ignore[import-untyped]

    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    return str(md_slugify(text, "-"))


def anchors(page: Path) -> set[str]:
    # Only fenced blocks go: inline code in a heading is part of its anchor (slugify keeps its text).
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    found: set[str] = set()
    seen: dict[str, int] = {}
    for match in _HEADING.finditer(text):
        title = match.group(2)
        explicit = _ATTR_ID.search(title)
        if explicit:
            found.add(explicit.group(1))
            continue
        slug = slugify(title)
        # Python-Markdown makes repeated headings unique with _1, _2 …
        count = seen.get(slug, 0)
        found.add(slug if count == 0 else f"{slug}_{count}")
        seen[slug] = count + 1
    found.update(re.findall(r'<a (?:id|name)="([^"]+)"', text))
    return found


# ---- generated tables ---------------------------------------------------------------------------------


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(text: object) -> str:
    rendered = _cell(text)
    return f"`{rendered}`" if rendered else ""


def _option_variants() -> list[Any]:
    """Every combination of the DefaultMapOptions choices that change which custom fields exist."""
    from dentrix_highlevel.mapping import (
        CdtHistoryMode,
        ClinicalNotesMode,
        DefaultMapOptions,
        PastAppointmentsMode,
    )

    return [
        DefaultMapOptions(cdt_history=c, clinical_notes=n, past_appointments=p)
        for c, n, p in itertools.product(CdtHistoryMode, ClinicalNotesMode, PastAppointmentsMode)
    ]


@functools.cache
def default_custom_fields() -> tuple[list[tuple[Any, str]], list[tuple[Any, str]]]:
    """(fields of the default options, fields only some other options add), each with its source."""
    from dentrix_highlevel.mapping import CustomFieldTarget, default_maps

    def fields(maps: Any) -> dict[str, tuple[Any, str]]:
        out: dict[str, tuple[Any, str]] = {}
        for field_map in maps.all().values():
            for rule in field_map.rules:
                if isinstance(rule.target, CustomFieldTarget):
                    out.setdefault(rule.target.field_key, (rule.target, rule.source.describe()))
        return out

    default = fields(default_maps())
    optional: dict[str, tuple[Any, str]] = {}
    for options in _option_variants():
        for key, item in fields(default_maps(options)).items():
            if key not in default:
                optional.setdefault(key, item)
    return list(default.values()), [optional[k] for k in sorted(optional)]


def _fields_table(rows: list[tuple[Any, str]]) -> list[str]:
    lines = [
        "| Field (folder) | fieldKey | Practice name | dataType | Options | Filled from |",
        "|---|---|---|---|---|---|",
    ]
    for target, source in rows:
        lines.append(
            f"| {_cell(target.name)} ({target.category.value}) | {_code(target.field_key)} "
            f"| {_code(target.vocabulary_name)} | {target.data_type.value} "
            f"| {_cell(', '.join(target.options))} | {_code(source)} |"
        )
    return lines


def gen_default_custom_fields() -> str:
    default, optional = default_custom_fields()
    lines = _fields_table(default)
    lines += [
        "",
        'Other `DefaultMapOptions` choices add these fields (`cdt_history="per_code"` adds one DATE',
        "field per tracked code; the defaults track the codes listed):",
        "",
        *_fields_table(optional),
    ]
    return "\n".join(lines) + "\n"


def _source_text(data: Any) -> str:
    if isinstance(data, str):
        return data
    ((kind, value),) = data.items()
    if kind in ("coalesce", "collect"):
        return f"{kind}({', '.join(value)})"
    if kind == "computed":
        return f"computed:{value}"
    return f"constant {json.dumps(value, ensure_ascii=False)}"


def _transform_text(data: Any) -> str:
    if isinstance(data, str):
        return data
    ((name, params),) = data.items()
    return f"{name} {json.dumps(params, ensure_ascii=False)}"


def _target_text(data: Any) -> str:
    return data if isinstance(data, str) else data["custom"]["field_key"]


def gen_default_rules() -> str:
    from dentrix_highlevel.mapping import default_maps, map_to_dict

    lines: list[str] = []
    for attribute, field_map in default_maps().all().items():
        data = map_to_dict(field_map)
        lines += [
            f"#### `{attribute}`: {data.get('name', '')}",
            "",
            f"HighLevel object `{data['object']}`, record key `{data.get('key_path', '')}`.",
            "",
            "| Target | Source | Transforms | Why |",
            "|---|---|---|---|",
        ]
        for rule in data["rules"]:
            transforms = " → ".join(_transform_text(t) for t in rule.get("transforms", []))
            required = " (required)" if rule.get("required") else ""
            lines.append(
                f"| {_code(_target_text(rule['target']))}{required} | {_code(_source_text(rule['source']))} "
                f"| {_code(transforms)} | {_cell(rule.get('note', ''))} |"
            )
        lines.append("")
    return "\n".join(lines)


def _first_line(doc: str | None) -> str:
    """A docstring's first paragraph as Markdown: RST roles and double backticks become plain code."""
    text = re.sub(r"\s+", " ", (doc or "").strip().split("\n\n")[0]).strip()
    return re.sub(r":\w+:`([^`]+)`", r"`\1`", text).replace("``", "`")


def gen_transforms() -> str:
    from dentrix_highlevel.mapping import registered_transforms

    lines = ["| Name in a map file | Class | Parameters (default) | What it does |", "|---|---|---|---|"]
    for name, cls in sorted(registered_transforms().items()):
        params = []
        for field in attrs.fields(cast(Any, cls)):
            if field.default is attrs.NOTHING:
                params.append(field.name)
            elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                params.append(f"{field.name}=…")
            else:
                default = field.default.value if hasattr(field.default, "value") else field.default
                params.append(f"{field.name}={default!r}")
        what = _cell(_first_line(cls.__doc__))
        lines.append(f"| `{name}` | `{cls.__name__}` | {_code(', '.join(params))} | {what} |")
    return "\n".join(lines) + "\n"


def gen_g_export_files() -> str:
    from dentrix_highlevel.sources._g_export_specs import FILE_SPECS

    lines = [
        "| File | Required file | Required columns | Optional columns | Key | References |",
        "|---|---|---|---|---|---|",
    ]
    for spec in FILE_SPECS:
        name = f"`{spec.name}`" + "".join(f" (alias `{a}`)" for a in spec.aliases)
        if spec.keeps_extra:
            name += " ⁺"
        required = [c.name for c in spec.columns if c.required]
        optional = [c.name for c in spec.columns if not c.required]
        refs = [
            f"{fk.column} → {fk.target.removesuffix('.csv')}.{fk.target_column}"
            + (" (row dropped)" if fk.drop else "")
            for fk in spec.foreign_keys
        ]
        lines.append(
            f"| {name} | {'yes' if spec.required else ''} | {_cell(', '.join(required))} "
            f"| {_cell(', '.join(optional))} | {_cell(', '.join(spec.key))} | {_cell('; '.join(refs))} |"
        )
    return "\n".join(lines) + "\n"


def gen_g_export_never_read() -> str:
    from dentrix_highlevel.sources._g_export_specs import FILE_SPECS

    lines = []
    for spec in FILE_SPECS:
        if spec.ignored:
            lines.append(f"- `{spec.name}`: {', '.join(sorted(spec.ignored))}")
    return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class Generated:
    page: str
    name: str
    make: Callable[[], str]


def gen_scopes() -> str:
    from dentrix_highlevel.migration._plan.scopes import render_scope_table

    return render_scope_table()


def gen_undocumented() -> str:
    from dentrix_highlevel.sandbox._undocumented import UNDOCUMENTED

    lines = ["| operation | where | name | source |", "|---|---|---|---|"]
    for u in UNDOCUMENTED:
        lines.append(f"| `{u.method} {u.path}` | {u.where} | {_code(u.name)} | {_cell(u.source)} |")
    return "\n".join(lines) + "\n"


GENERATED = (
    Generated("highlevel-setup.md", "scopes", gen_scopes),
    Generated("sandbox.md", "undocumented", gen_undocumented),
    Generated("mapping.md", "default-custom-fields", gen_default_custom_fields),
    Generated("mapping.md", "default-rules", gen_default_rules),
    Generated("mapping.md", "transforms", gen_transforms),
    Generated("g-export.md", "g-export-files", gen_g_export_files),
    Generated("g-export.md", "g-export-never-read", gen_g_export_never_read),
)


def generated_regions(text: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in _GENERATED.finditer(text)}


def update_generated() -> list[str]:
    """Rewrite every generated region from the code; returns the pages changed."""
    changed = []
    for page in sorted({g.page for g in GENERATED}):
        path = DOCS / page
        text = path.read_text(encoding="utf-8")
        for item in (g for g in GENERATED if g.page == page):
            start, end = f"<!-- generated:{item.name}:start -->\n", f"<!-- generated:{item.name}:end -->"
            count = text.count(start)
            if count == 1 and text.count(end) == 1:
                head, rest = text.split(start)
                text = head + start + item.make() + end + rest.split(end)[1]
            if count != 1:
                raise SystemExit(f"{page}: marker pair for {item.name} not found exactly once")
        if text != path.read_text(encoding="utf-8"):
            path.write_text(text, encoding="utf-8")
            changed.append(page)
    return changed


# ---- tests --------------------------------------------------------------------------------------------


def runnable_blocks(page: str | Path) -> list[tuple[str, str]]:
    """(title, body) of every titled Python block of a docs page (by name) or of any Markdown file."""
    path = page if isinstance(page, Path) else DOCS / page
    out = []
    for info, body in fences(path.read_text(encoding="utf-8")):
        title = _TITLE.search(info)
        if info.startswith("python") and title:
            out.append((title.group(1), body))
    return out


def test_quickstart_has_runnable_blocks() -> None:
    titles = [t for page in RUNNABLE_PAGES for t, _ in runnable_blocks(page)]
    assert len(titles) >= 5, titles
    assert len(set(titles)) == len(titles), f"duplicate block titles: {titles}"


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_titled_python_blocks_run(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for title, body in runnable_blocks(page):
        script = tmp_path / title
        script.write_text(body, encoding="utf-8")
        try:
            runpy.run_path(str(script), run_name="__main__")
        except BaseException as exc:
            pytest.fail(f"{page}: block {title!r} failed: {type(exc).__name__}: {exc}")
    out = capsys.readouterr().out
    expected = {
        # Contacts read back from the sandbox; a whole migration that reconciles and rolls back cleanly.
        "quickstart.md": r"(?s)verified [1-9]\d* contacts.*reconciled: True.*contacts left after rollback: 0",
        # The custom map example shows both refusals.
        "mapping.md": r"(?s)refused: .*unknown source column.*refused: .*Trim\(\) takes str",
    }[page]
    assert re.search(expected, out), out[-5000:]


_README_ENV = (
    "HIGHLEVEL_TOKEN",
    "HIGHLEVEL_LOCATION_ID",
    "HIGHLEVEL_BASE_URL",
    "DENTRIX_EXPORT",
    "APPROVED_BY",
)


def _run_readme_snippet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    (title, body), *others = runnable_blocks(REPO / "README.md")
    assert (title, others) == ("migrate.py", [])
    assert body in (REPO / "README.md").read_text(encoding="utf-8")  # exactly as printed
    script = tmp_path / title
    script.write_text(body, encoding="utf-8")
    try:
        runpy.run_path(str(script), run_name="__main__")
    except BaseException as exc:
        pytest.fail(f"README.md: {title!r} failed: {type(exc).__name__}: {exc}")
    return capsys.readouterr().out


def _check_migrated(out: str, workdir: Path) -> None:
    assert re.search(r"sample: completed; field diff in migrations/smile/\S+\.csv", out), out
    assert "run: completed" in out
    assert re.search(r"^contact\s+20\s", out, re.M), out
    assert re.search(r"^total .* OK$", out, re.M), out
    assert (workdir / "plan.md").is_file()  # where the text says it is


def test_readme_library_snippet_runs_as_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's "Using the library" script, byte for byte, with no HighLevel in the environment: the
    embedded sandbox. It writes the plan where the README says, samples, runs and reconciles."""
    for name in _README_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    out = _run_readme_snippet(tmp_path, capsys)
    assert re.search(r"plan: 20 patients, \d+ requests; read migrations/smile/plan\.md", out), out
    _check_migrated(out, tmp_path / "migrations" / "smile")


@pytest.mark.slow
def test_readme_library_snippet_with_a_token_waits_for_a_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same script given a token, a location, an export and a base URL (a sandbox server on loopback,
    standing in for HighLevel): the first run writes the plan and nothing else, the second, approved by a
    person, migrates."""
    from dentrix_highlevel.sandbox import SandboxServer
    from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

    for name in _README_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    write_g_export(SyntheticPractice(SynthConfig(patients=20, seed=9)), tmp_path / "practice-export")
    with SandboxServer() as server:
        assert server.location is not None
        monkeypatch.setenv("HIGHLEVEL_BASE_URL", server.base_url)
        monkeypatch.setenv("HIGHLEVEL_LOCATION_ID", server.location.location_id)
        monkeypatch.setenv("HIGHLEVEL_TOKEN", server.location.token)
        monkeypatch.setenv("DENTRIX_EXPORT", str(tmp_path / "practice-export"))
        out = _run_readme_snippet(tmp_path, capsys)
        assert "nothing written: read the plan" in out
        assert (tmp_path / "migrations" / "smile" / "plan.md").is_file()
        assert server.sandbox.dump()["locations"][server.location.location_id]["contacts"] == []
        monkeypatch.setenv("APPROVED_BY", "office.manager@smile.example")
        _check_migrated(_run_readme_snippet(tmp_path, capsys), tmp_path / "migrations" / "smile")
    assert not (tmp_path / "smile-export").exists()  # no synthetic practice on the real path


@pytest.mark.parametrize("page", all_pages(), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_internal_links_resolve(page: Path) -> None:
    text = without_code(page.read_text(encoding="utf-8"))
    problems = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: … are not ours to check
            continue
        path_part, _, fragment = target.partition("#")
        dest = page if not path_part else (page.parent / path_part).resolve()
        if path_part and DOCS.resolve() not in dest.parents:
            problems.append(f"{target}: outside docs/ (mkdocs cannot serve it)")
            continue
        if not dest.is_file():
            problems.append(f"{target}: no such page")
            continue
        if fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            problems.append(f"{target}: no heading with anchor #{fragment}")
    assert not problems, "\n".join(problems)


def test_nav_entries_exist() -> None:
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:", 1)[1]
    targets = re.findall(r":\s+([\w./-]+\.md)\s*$", nav, re.M)
    assert len(targets) >= 15
    missing = [t for t in targets if not (DOCS / t).is_file()]
    assert not missing, f"nav pages that do not exist: {missing}"
    for page in our_pages():
        rel = page.relative_to(DOCS).as_posix()
        assert rel in targets, f"{rel} is not in the nav"


@pytest.mark.parametrize("item", GENERATED, ids=lambda g: f"{g.page}:{g.name}")
def test_generated_tables_match_code(item: Generated) -> None:
    regions = generated_regions((DOCS / item.page).read_text(encoding="utf-8"))
    assert item.name in regions, f"{item.page} has no generated:{item.name} markers"
    assert regions[item.name] == item.make(), (
        f"{item.page}: the {item.name} table is out of date; run `python tests/test_docs.py --update`"
    )


def test_mapping_page_lists_every_default_custom_field() -> None:
    text = (DOCS / "mapping.md").read_text(encoding="utf-8")
    default, optional = default_custom_fields()
    assert len(default) >= 30
    missing = [t.field_key for t, _ in default + optional if f"`{t.field_key}`" not in text]
    assert not missing, f"mapping.md lacks: {missing}"
    names = [t.name for t, _ in default + optional if t.name not in text]
    assert not names, f"mapping.md lacks field names: {names}"


def _cli_lines(text: str) -> Iterator[list[str]]:
    for info, body in fences(text):
        if info.split(" ")[0] not in ("bash", "console", "sh", "shell"):
            continue
        joined = re.sub(r"\\\n\s*", " ", body)
        for line in joined.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("dentrix-highlevel"):
                # [optional …] placeholders and <values> are documentation, not shell.
                line = re.sub(r"\[[^\]]*\]", "", line)
                yield shlex.split(line.replace("<", "").replace(">", ""), comments=True)


def test_cli_commands_in_our_pages_exist() -> None:
    import click

    from dentrix_highlevel.cli import main

    checked = 0
    problems = []
    for page in our_pages():
        for argv in _cli_lines(page.read_text(encoding="utf-8")):
            command: click.Command = main
            words = argv[1:]
            while isinstance(command, click.Group) and words and not words[0].startswith("-"):
                sub = command.get_command(click.Context(command), words[0])
                if sub is None:
                    problems.append(f"{page.name}: `{' '.join(argv)}`: no command {words[0]!r}")
                    break
                command, words = sub, words[1:]
            else:
                known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
                known |= {"--help", "-h"}
                for word in words:
                    flag = word.split("=", 1)[0]
                    if flag.startswith("-") and flag not in known:
                        problems.append(f"{page.name}: `{' '.join(argv)}`: {command.name} has no {flag}")
                checked += 1
    assert checked >= 3
    assert not problems, "\n".join(problems)


def _reference_coverage() -> set[str]:
    covered: set[str] = set()
    for page in (DOCS / "reference").glob("*.md"):
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"^::: ([\w.]+)\n((?:[ \t]+.*\n)*)", text, re.M):
            target, options = match.group(1), match.group(2)
            members = re.search(r"members:\s*\n((?:\s+- \w+\n)+)", options)
            if members:
                covered |= set(re.findall(r"- (\w+)", members.group(1)))
            elif re.search(r"members:\s*false", options):
                continue  # the module's docstring only
            else:
                module = importlib.import_module(target)
                covered |= set(getattr(module, "__all__", ()))
    return covered


def test_every_public_name_is_in_the_reference() -> None:
    import dentrix_highlevel

    covered = _reference_coverage()
    missing = sorted(set(dentrix_highlevel.__all__) - covered - {"__version__"})
    assert not missing, f"public names without an API reference entry: {missing}"


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        print("updated:", ", ".join(update_generated()) or "nothing")
    else:
        raise SystemExit("usage: python tests/test_docs.py --update")
