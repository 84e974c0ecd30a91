"""The hostile export corpus, generated: a small clean synthetic G export with one kind of damage per case.

Every case starts from the same clean export (16 patients, four families; 1003, 1006, 1009, 1012, 1014 and
1016 are dependants, so dropping their row orphans nobody), rewrites one file with the damage, records on
which physical line it sits, and says which issue the reader must report there and which patients may be
lost. Generated rather than committed: the 10 MB field and the zip bomb would bloat the repository, and the
line numbers are computed, not hand-maintained.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

PATIENTS = 16
SEED = 21
PATIENT_FILE = "v_patient.csv"
BIG_FIELD_CHARS = 10 * 1024 * 1024
LONG_NOTE_CHARS = 1_500_000
FORMULAS = ('=HYPERLINK("http://evil.example/x","open")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0")


@attrs.frozen
class Expected:
    """An issue the reader must report: ``line`` None means "no line" (zip members, whole files)."""

    file: str
    line: int | None
    column: str | None
    code: str
    dropped: bool


@attrs.frozen
class Case:
    name: str
    path: Path
    expected: tuple[Expected, ...]
    lost: frozenset[str] = frozenset()
    """Patient ids whose own row is unusable (everyone else must read exactly as in the clean export)."""
    changed: frozenset[str] = frozenset()
    """Patient ids that read, but with a value that differs from the clean export on purpose."""


def clean_export(base: Path, *, name: str = "clean", patients: int = PATIENTS, seed: int = SEED) -> Path:
    path = base / name
    write_g_export(SyntheticPractice(SynthConfig(patients=patients, seed=seed)), path, pad_text=False)
    return path


def _encode_row(cells: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().encode("utf-8")


RowEdit = Callable[[str, list[str], list[str]], list[bytes] | None]
"""(key, cells, header) -> the raw bytes to write instead of the row (several rows allowed), or None."""


def rewrite(
    export: Path, file: str, edit: RowEdit, *, append: Sequence[bytes] = (), bom: bool = False
) -> dict[str, int]:
    """Rewrite ``file`` row by row; returns the first physical line of every key's (last written) row and,
    under ``"+<n>"``, the line of the n-th appended raw row. Fixes manifest.json's entry for the file."""
    target = export / file
    with target.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    key_col = 0 if file != PATIENT_FILE else header.index("patient_id")
    chunks = [(b"\xef\xbb\xbf" if bom else b"") + _encode_row(header)]
    lines: dict[str, int] = {}
    line = 2
    for cells in body:
        raw = edit(cells[key_col], list(cells), header) or [_encode_row(cells)]
        for chunk in raw:
            lines[cells[key_col]] = line
            chunks.append(chunk)
            line += chunk.count(b"\n")
    for n, chunk in enumerate(append):
        lines[f"+{n}"] = line
        chunks.append(chunk)
        line += chunk.count(b"\n")
    data = b"".join(chunks)
    target.write_bytes(data)
    manifest_path = export / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][file] = {"sha256": hashlib.sha256(data).hexdigest()}
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return lines


def _set(header: list[str], cells: list[str], column: str, value: str) -> list[str]:
    cells[header.index(column)] = value
    return cells


def _raw(cells: list[str]) -> bytes:
    """Cells joined by commas without any quoting (for damage the csv module would otherwise repair)."""
    return (",".join(cells) + "\r\n").encode("utf-8")


def _one(base: Path, name: str) -> Path:
    path = base / name
    shutil.copytree(base / "clean", path)
    return path


def _patient_case(
    base: Path,
    name: str,
    target: str,
    damage: Callable[[list[str], list[str]], bytes],
    expected: Callable[[int], tuple[Expected, ...]],
    *,
    lost: bool = True,
) -> Case:
    path = _one(base, name)
    lines = rewrite(
        path, PATIENT_FILE, lambda key, cells, header: [damage(cells, header)] if key == target else None
    )
    return Case(
        name,
        path,
        expected(lines[target]),
        lost=frozenset({target}) if lost else frozenset(),
        changed=frozenset() if lost else frozenset({target}),
    )


def _p(line: int | None, column: str | None, code: str, dropped: bool, file: str = PATIENT_FILE) -> Expected:
    return Expected(file, line, column, code, dropped)


def build_cases(base: Path) -> dict[str, Case]:
    """Every hostile case under ``base`` (``base / "clean"`` is the clean export they derive from)."""
    clean_export(base)
    cases: list[Case] = []

    def broken_quote(cells: list[str], header: list[str]) -> bytes:
        return _raw(_set(header, cells, "last_name", '"Unclosed'))

    cases.append(
        _patient_case(
            base, "broken_quoting", "1003", broken_quote, lambda n: (_p(n, None, "broken_quoting", True),)
        )
    )
    cases.append(
        _patient_case(
            base,
            "ragged_long",
            "1006",
            lambda cells, header: _encode_row([*cells, "surplus", "cells"]),
            lambda n: (_p(n, None, "column_count", True),),
        )
    )
    cases.append(
        _patient_case(
            base,
            "ragged_short",
            "1009",
            lambda cells, header: _encode_row(cells[:-5]),
            lambda n: (_p(n, None, "column_count", True),),
        )
    )
    cases.append(
        _patient_case(
            base,
            "nul_byte",
            "1012",
            lambda cells, header: _encode_row(_set(header, cells, "first_name", "Ma\x00ry")),
            lambda n: (_p(n, "first_name", "invalid_bytes", False),),
            lost=False,
        )
    )

    def invalid_utf8(cells: list[str], header: list[str]) -> bytes:
        return _encode_row(_set(header, cells, "last_name", "GR\x07N")).replace(b"\x07", b"\xff\xfe")

    cases.append(
        _patient_case(
            base,
            "invalid_utf8",
            "1014",
            invalid_utf8,
            lambda n: (_p(n, "last_name", "invalid_bytes", False),),
            lost=False,
        )
    )

    def mixed_encoding(cells: list[str], header: list[str]) -> bytes:
        # One row saved by a Windows-1252 tool into a UTF-8 file: "Zürich" as cp1252 bytes.
        return _encode_row(_set(header, cells, "city", "Z\x07rich")).replace(b"\x07", "ü".encode("cp1252"))

    cases.append(
        _patient_case(
            base,
            "mixed_encoding",
            "1016",
            mixed_encoding,
            lambda n: (_p(n, "city", "invalid_bytes", False),),
            lost=False,
        )
    )
    bom = _one(base, "bom")
    rewrite(bom, PATIENT_FILE, lambda key, cells, header: None, bom=True)
    cases.append(Case("bom", bom, ()))

    big = _one(base, "big_field")
    # A 10 MB quoted field on one line: over the reader's 2,000,000-character record limit, so that row is
    # refused with a located issue (and the rest of the file reads on).
    big_lines = rewrite(
        big,
        PATIENT_FILE,
        lambda key, cells, header: (
            [_encode_row(_set(header, cells, "note", "x, " * (BIG_FIELD_CHARS // 3)))]
            if key == "1003"
            else None
        ),
    )
    cases.append(
        Case(
            "big_field", big, (_p(big_lines["1003"], None, "broken_quoting", True),), lost=frozenset({"1003"})
        )
    )
    long_note = _one(base, "long_note")
    # A 1.5 MB quoted note (a pasted letter, commas and all) is data: read whole.
    rewrite(
        long_note,
        PATIENT_FILE,
        lambda key, cells, header: (
            [_encode_row(_set(header, cells, "note", "y, " * (LONG_NOTE_CHARS // 3)))]
            if key == "1003"
            else None
        ),
    )
    cases.append(Case("long_note", long_note, (), changed=frozenset({"1003"})))

    dup = _one(base, "duplicate_key")
    holder: dict[str, list[str]] = {}

    def grab(key: str, cells: list[str], header: list[str]) -> None:
        if key == "1011":
            holder["row"] = _set(header, list(cells), "first_name", "Impostor")
        return None

    rewrite(dup, PATIENT_FILE, grab)
    lines = rewrite(dup, PATIENT_FILE, lambda key, cells, header: None, append=[_encode_row(holder["row"])])
    cases.append(Case("duplicate_key", dup, (_p(lines["+0"], None, "duplicate_key", True),)))

    dangling = _one(base, "dangling_reference")
    with (dangling / "v_appointment.csv").open(encoding="utf-8-sig", newline="") as handle:
        appt_header = next(csv.reader(handle))
    orphan = dict.fromkeys(appt_header, "")
    orphan.update(
        {
            "appointment_id": "990001",
            "patient_id": "777777",
            "appointment_date": "2025-07-01",
            "start_hour": "9",
            "start_minute": "0",
            "length": "30",
            "provider_id": "777",
            "operatory_id": "777",
            "status_id": "777",
        }
    )
    appt_lines = rewrite(
        dangling,
        "v_appointment.csv",
        lambda key, cells, header: None,
        append=[_encode_row([orphan[c] for c in appt_header])],
    )
    pat_lines = rewrite(
        dangling,
        PATIENT_FILE,
        lambda key, cells, header: (
            [_encode_row(_set(header, cells, "pri_provider_id", "4242"))] if key == "1010" else None
        ),
    )
    cases.append(
        Case(
            "dangling_reference",
            dangling,
            (
                _p(appt_lines["+0"], "patient_id", "dangling_reference", True, "v_appointment.csv"),
                _p(pat_lines["1010"], "pri_provider_id", "dangling_reference", False),
            ),
            changed=frozenset({"1010"}),
        )
    )

    for case_name, target, value in (
        ("date_zeros", "1003", "00/00/0000"),
        ("date_feb30", "1006", "02/30/2020"),
        ("date_iso_garbage", "1009", "2020-13-45"),
    ):
        cases.append(
            _patient_case(
                base,
                case_name,
                target,
                lambda cells, header, v=value: _encode_row(_set(header, cells, "birth_date", v)),
                lambda n: (_p(n, "birth_date", "bad_date", False),),
                lost=False,
            )
        )
    # Year 1900 and the 9999-12-31 sentinel are *valid* dates to the reader (Dentrix writes 9999-12-31 for
    # "open"): no issue; they read as 1900-01-01 and as unknown. The engine test checks what is sent.
    for case_name, target, value in (
        ("date_1900", "1012", "1900-01-01"),
        ("date_9999", "1014", "9999-12-31"),
    ):
        cases.append(
            _patient_case(
                base,
                case_name,
                target,
                lambda cells, header, v=value: _encode_row(_set(header, cells, "birth_date", v)),
                lambda n: (),
                lost=False,
            )
        )

    balances = _one(base, "balances")
    bal_lines = rewrite(
        balances,
        "v_guarantor_balance.csv",
        lambda key, cells, header: (
            [_encode_row(_set(header, cells, "balance_0_30_days", "-125.50"))]
            if key == "1001"
            else [_encode_row(_set(header, cells, "balance_31_60_days", "twelve dollars"))]
            if key == "1005"
            else None
        ),
    )
    cases.append(
        Case(
            "balances",
            balances,
            (_p(bal_lines["1005"], "balance_31_60_days", "bad_number", False, "v_guarantor_balance.csv"),),
            changed=frozenset({"1001", "1002", "1003", "1005", "1006"}),
        )
    )

    def names(cells: list[str], header: list[str]) -> bytes:
        _set(header, cells, "first_name", "Zoë 😀🦷")
        return _encode_row(_set(header, cells, "last_name", "\u202eمحمد עברית"))

    cases.append(_patient_case(base, "emoji_rtl", "1008", names, lambda n: (), lost=False))

    def formulas(cells: list[str], header: list[str]) -> bytes:
        _set(header, cells, "first_name", FORMULAS[0])
        _set(header, cells, "last_name", FORMULAS[1])
        return _encode_row(_set(header, cells, "city", FORMULAS[2]))

    cases.append(_patient_case(base, "formula_injection", "1004", formulas, lambda n: (), lost=False))

    traversal = base / "path_traversal.zip"
    with zipfile.ZipFile(traversal, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in sorted((base / "clean").iterdir()):
            archive.write(item, item.name)
        archive.writestr("../../etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        archive.writestr("/tmp/absolute-evil.csv", "a,b\n1,2\n")
        archive.writestr("..\\..\\windows-evil.csv", "a,b\n1,2\n")
    cases.append(
        Case(
            "path_traversal",
            traversal,
            (
                _p(None, None, "unsafe_member", True, "../../etc/passwd"),
                _p(None, None, "unsafe_member", True, "/tmp/absolute-evil.csv"),
                _p(None, None, "unsafe_member", True, "..\\..\\windows-evil.csv"),
            ),
        )
    )
    return {case.name: case for case in cases}


def zip_bomb(base: Path, *, expanded_bytes: int = 64 * 1024 * 1024) -> Path:
    """The clean export zipped, plus one member that inflates ~1000x (zeros): the reader must refuse it
    from the zip directory alone, before inflating anything."""
    bomb = base / "zip_bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in sorted((base / "clean").iterdir()):
            archive.write(item, item.name)
        with archive.open("v_clinical_notes_extra.csv", "w") as member:
            block = b"\x00" * (1 << 20)
            for _ in range(expanded_bytes >> 20):
                member.write(block)
    return bomb


def combined(base: Path, *, name: str = "combined") -> tuple[Path, frozenset[str]]:
    """Most of the damage at once in one export (what a bad day looks like); returns it and the patient ids
    whose own row is unusable. ``base / "clean"`` must exist (``build_cases`` or ``clean_export``)."""
    path = _one(base, name)

    def damage(key: str, cells: list[str], header: list[str]) -> list[bytes] | None:
        if key == "1003":
            return [_raw(_set(header, cells, "last_name", '"Unclosed'))]
        if key == "1006":
            return [_encode_row([*cells, "surplus"])]
        if key == "1014":
            return [_encode_row(_set(header, cells, "last_name", "GR\x07N")).replace(b"\x07", b"\xff\xfe")]
        if key == "1016":
            return [_encode_row(_set(header, cells, "birth_date", "02/30/2020"))]
        if key == "1012":
            return [_encode_row(_set(header, cells, "birth_date", "9999-12-31"))]
        if key == "1009":
            return [_encode_row(_set(header, cells, "birth_date", "00/00/0000"))]
        if key == "1008":
            _set(header, cells, "first_name", "Zoë 😀🦷")
            return [_encode_row(_set(header, cells, "last_name", "\u202eمحمد עברית"))]
        if key == "1004":
            _set(header, cells, "first_name", FORMULAS[0])
            _set(header, cells, "last_name", FORMULAS[1])
            return [_encode_row(_set(header, cells, "city", FORMULAS[2]))]
        if key == "1010":
            return [_encode_row(_set(header, cells, "pri_provider_id", "4242"))]
        return None

    holder: dict[str, list[str]] = {}

    def grab(key: str, cells: list[str], header: list[str]) -> None:
        if key == "1011":
            holder["row"] = _set(header, list(cells), "first_name", "Impostor")
        return None

    rewrite(path, PATIENT_FILE, grab)
    rewrite(path, PATIENT_FILE, damage, append=[_encode_row(holder["row"])])
    rewrite(
        path,
        "v_guarantor_balance.csv",
        lambda key, cells, header: (
            [_encode_row(_set(header, cells, "balance_0_30_days", "-125.50"))]
            if key == "1001"
            else [_encode_row(_set(header, cells, "balance_31_60_days", "twelve dollars"))]
            if key == "1005"
            else None
        ),
    )
    return path, frozenset({"1003", "1006"})
