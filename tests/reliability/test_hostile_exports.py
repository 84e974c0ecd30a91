"""The hostile export corpus read by ``GExportSource``: every damage is a located issue (file, line, column,
code) and every other record reads exactly as from the clean export; the zip bomb is refused up front."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from tests.reliability._corpus import FORMULAS, LONG_NOTE_CHARS, Case, build_cases, zip_bomb

from dentrix_highlevel.errors import SourceFileError
from dentrix_highlevel.records import PatientBundle
from dentrix_highlevel.sources import GExportSource


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    return build_cases(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def clean(corpus: dict[str, Case]) -> Iterator[dict[str, PatientBundle]]:
    path = next(iter(corpus.values())).path.parent / "clean"
    with GExportSource(path) as source:
        assert source.issues == ()
        yield {b.patient_id: b for b in source.iter_bundles()}


CASES = [
    "broken_quoting",
    "ragged_long",
    "ragged_short",
    "nul_byte",
    "invalid_utf8",
    "mixed_encoding",
    "bom",
    "big_field",
    "long_note",
    "duplicate_key",
    "dangling_reference",
    "date_zeros",
    "date_feb30",
    "date_iso_garbage",
    "date_1900",
    "date_9999",
    "balances",
    "emoji_rtl",
    "formula_injection",
    "path_traversal",
]


@pytest.mark.parametrize("name", CASES)
def test_each_damage_is_located_and_everything_else_reads(
    name: str, corpus: dict[str, Case], clean: dict[str, PatientBundle], tmp_path: Path
) -> None:
    case = corpus[name]
    with GExportSource(case.path, staging_dir=tmp_path / "staging") as source:
        bundles = {b.patient_id: b for b in source.iter_bundles()}
        issues = source.issues
    found = {(i.file, i.line, i.column, str(i.code), i.row_dropped) for i in issues}
    for want in case.expected:
        assert (want.file, want.line, want.column, want.code, want.dropped) in found, (want, sorted(found))
    wanted = {(w.file, w.line, w.column, w.code, w.dropped) for w in case.expected}
    consequences = [i for i in issues if (i.file, i.line, i.column, str(i.code), i.row_dropped) not in wanted]
    # A patient row that cannot be used orphans that patient's appointments, notes...: each of those is
    # reported as a dangling reference, and nothing else may appear.
    assert all(i.code == "dangling_reference" for i in consequences), [str(i) for i in consequences]
    assert bool(consequences) <= bool(case.lost), [str(i) for i in consequences]
    for issue in issues:
        # Clear and value-free: the message names columns and ids, and says what happened.
        assert issue.message
        assert str(issue).startswith(issue.file)
    assert set(bundles) == set(clean) - case.lost
    for pid, bundle in bundles.items():
        if pid not in case.changed:
            # A lost row leaves its family one member short; nothing else about the others may change.
            members = tuple(m for m in clean[pid].family_member_ids if m not in case.lost)
            reference = attrs.evolve(clean[pid], family_member_ids=members)
            assert bundle == reference, f"patient {pid} reads differently in case {name}"


def test_values_survive_exactly(corpus: dict[str, Case], tmp_path: Path) -> None:
    """Emoji, right-to-left text, formula look-alikes and a 10 MB note are data: read byte for byte."""
    with GExportSource(corpus["emoji_rtl"].path) as source:
        patient = source.get_bundle("1008")
        assert patient is not None
        assert patient.patient.first_name == "Zoë 😀🦷"
        assert patient.patient.last_name == "\u202eمحمد עברית"
    with GExportSource(corpus["formula_injection"].path) as source:
        patient = source.get_bundle("1004")
        assert patient is not None
        assert (patient.patient.first_name, patient.patient.last_name, patient.patient.city) == FORMULAS
    with GExportSource(corpus["long_note"].path) as source:
        patient = source.get_bundle("1003")
        assert patient is not None
        assert patient.patient.note == ("y, " * (LONG_NOTE_CHARS // 3)).rstrip()  # notes lose trailing space
    with GExportSource(corpus["date_1900"].path) as source:
        patient = source.get_bundle("1012")
        assert patient is not None
        assert patient.patient.birth_date is not None
        assert patient.patient.birth_date.year == 1900
    with GExportSource(corpus["date_9999"].path) as source:
        patient = source.get_bundle("1014")
        assert patient is not None
        assert patient.patient.birth_date is None, "the open-date sentinel is no birthday"
    with GExportSource(corpus["balances"].path) as source:
        family = source.get_bundle("1001")
        assert family is not None
        assert family.guarantor_balance is not None
        assert family.guarantor_balance.balance_0_30 < 0


def test_path_traversal_members_are_never_written_anywhere(corpus: dict[str, Case], tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    with GExportSource(corpus["path_traversal"].path, staging_dir=staging) as source:
        assert source.patient_count == 16
        written = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert all(p.name == "staging.sqlite3" for p in written), written
    assert not (tmp_path / "etc").exists()
    assert not (tmp_path.parent / "etc").exists()


def test_a_zip_bomb_is_refused_before_inflating(corpus: dict[str, Case], tmp_path: Path) -> None:
    bomb = zip_bomb(next(iter(corpus.values())).path.parent)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    staging = tmp_path / "staging"
    with pytest.raises(SourceFileError, match="zip bomb") as caught:
        GExportSource(bomb, staging_dir=staging).stage()
    assert caught.value.file == "v_clinical_notes_extra.csv"
    # Refused from the zip directory alone: no staging index was even created.
    assert not staging.exists() or not any(staging.iterdir())


def test_a_zip_over_the_size_limit_is_refused(corpus: dict[str, Case], tmp_path: Path) -> None:
    traversal = corpus["path_traversal"].path
    with pytest.raises(SourceFileError, match="expands beyond"):
        GExportSource(traversal, max_uncompressed_bytes=64 * 1024, staging_dir=tmp_path).stage()
    assert os.listdir(tmp_path) == []
