"""The G export writer: manifest counts and hashes, encodings, zip, subsets, located defects."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from dentrix_highlevel.errors import ConfigurationError
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export
from dentrix_highlevel.synth._g_writer import ALL_FILES


@pytest.fixture(scope="module")
def practice() -> SyntheticPractice:
    return SyntheticPractice(SynthConfig(patients=40, seed=4))


def test_manifest_counts_and_hashes_match_the_files(practice: SyntheticPractice, tmp_path: Path) -> None:
    result = write_g_export(practice, tmp_path / "e")
    manifest = json.loads((tmp_path / "e" / "manifest.json").read_text())
    assert manifest["format"] == "dentrix-g-export"
    assert manifest["practice_timezone"] == "America/Denver"
    assert set(manifest["files"]) == set(ALL_FILES)
    for name, entry in manifest["files"].items():
        data = (tmp_path / "e" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        assert len(rows) - 1 == entry["rows"] == result.rows[name]
    assert result.patients == 40
    assert result.defects == ()


def test_zip_bom_and_cp1252(tmp_path: Path) -> None:
    latin = SyntheticPractice(SynthConfig(patients=20, seed=4, non_latin_names=False))
    write_g_export(latin, tmp_path / "a.zip", encoding="utf-8-sig")
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        names = zf.namelist()
        assert sorted(n for n in names if "/" not in n) == sorted([*ALL_FILES, "manifest.json"])
        # Document files travel under documents/<patient>/<document>.pdf, as the export's file_path says.
        documents = [n for n in names if "/" in n]
        assert documents
        assert all(n.startswith("documents/") and n.endswith(".pdf") for n in documents)
        assert zf.read("v_patient.csv").startswith(b"\xef\xbb\xbf")
    assert not (tmp_path / "a.zip.parts").exists()
    write_g_export(latin, tmp_path / "b", encoding="cp1252")
    (tmp_path / "b" / "v_patient.csv").read_bytes().decode("cp1252")
    with pytest.raises(ConfigurationError, match="cp1252"):
        write_g_export(SyntheticPractice(SynthConfig(patients=5)), tmp_path / "c", encoding="cp1252")


def test_padding_and_subsets(practice: SyntheticPractice, tmp_path: Path) -> None:
    write_g_export(practice, tmp_path / "e", files=["v_patient.csv", "v_provider.csv"])
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == [
        "manifest.json",
        "v_patient.csv",
        "v_provider.csv",
    ]
    text = (tmp_path / "e" / "v_patient.csv").read_text(encoding="utf-8")
    assert re.search(r",[^,\r\n]+ {3,},", text)  # trailing-space padding, as Dentrix fixed widths give
    with pytest.raises(ConfigurationError, match="unknown export files"):
        write_g_export(practice, tmp_path / "f", files=["nope.csv"])
    with pytest.raises(FileExistsError):
        write_g_export(practice, tmp_path / "e")
    with pytest.raises(ConfigurationError, match="dirty"):
        write_g_export(practice, tmp_path / "g", dirty=9)


def test_dirty_levels_log_located_defects(tmp_path: Path) -> None:
    practice = SyntheticPractice(SynthConfig(patients=300, seed=8))
    light = write_g_export(practice, tmp_path / "light", dirty=1)
    heavy = write_g_export(practice, tmp_path / "heavy", dirty=3)
    assert 0 < len(light.defects) < len(heavy.defects)
    kinds = {d.kind for d in heavy.defects}
    assert kinds >= {
        "bad_date",
        "broken_quoting",
        "column_count",
        "invalid_bytes",
        "duplicate_key",
        "duplicate_person",
    }
    lines = (tmp_path / "heavy" / "v_patient.csv").read_bytes().split(b"\n")
    for defect in heavy.defects:
        if defect.file == "v_patient.csv" and defect.kind == "invalid_bytes":
            assert b"\xff" in lines[defect.line - 1]
        if defect.file == "v_patient.csv" and defect.kind == "broken_quoting":
            assert lines[defect.line - 1].count(b'"') == 1
