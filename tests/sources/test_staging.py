"""Staging: values normalised, keys deduplicated, references checked; rows in = records + dropped rows."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dentrix_highlevel import GExportSource
from dentrix_highlevel.sources import IssueCode
from dentrix_highlevel.sources._g_export_specs import REQUIRED_FILES
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

HEADER = b"patient_id,last_name,first_name,status,guar_id,birth_date,social_sec_num,Favourite Colour\r\n"


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("minimal") / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=8, seed=2)), path, files=REQUIRED_FILES)
    return path


def _with_patients(minimal: Path, target: Path, body: bytes) -> Path:
    shutil.copytree(minimal, target)
    (target / "v_patient.csv").write_bytes(HEADER + body)
    return target


def test_values_keys_and_references(minimal: Path, tmp_path: Path) -> None:
    body = (
        b"1,Smith   ,Ann,1,1,07/02/1984,123-45-6789,blue\r\n"
        b"2,Smith,Bob,2,1,1984-13-01,,\r\n"
        b"1,Dupe,Row,1,1,,,\r\n"
        b"3,Lone,Kid,9,77,,,\r\n"
        b",Blank,Key,1,1,,,\r\n"
    )
    path = _with_patients(minimal, tmp_path / "e", body)
    with GExportSource(path) as source:
        issues = [i for i in source.issues if i.file == "v_patient.csv"]
        by_code = {(i.code, i.line) for i in issues}
        assert (IssueCode.BAD_DATE, 3) in by_code
        assert (IssueCode.DUPLICATE_KEY, 4) in by_code
        assert (IssueCode.BAD_CODE, 5) in by_code  # status 9
        assert (IssueCode.DANGLING_REFERENCE, 5) in by_code  # guar_id 77
        assert (IssueCode.MISSING_VALUE, 6) in by_code
        first = source.get_bundle("1")
        assert first is not None
        patient = first.patient
        assert patient.last_name == "Smith"
        assert patient.birth_date is not None
        assert patient.birth_date.isoformat() == "1984-07-02"
        assert patient.extra == {"Favourite Colour": "blue"}  # the SSN column is never read
        assert first.family_member_ids == ("1", "2")
        second = source.get_bundle("2")
        assert second is not None
        assert second.patient.birth_date is None
        assert second.guarantor == patient
        lone = source.get_bundle("3")
        assert lone is not None
        assert lone.patient.status is None
        assert lone.patient.status_code is None
        assert lone.guarantor is None
        count = source.counts["v_patient.csv"]
        assert (count.rows, count.records, count.dropped) == (5, 3, 2)
        row = source._staging.db.execute("SELECT * FROM t_v_patient LIMIT 1").fetchone()  # type: ignore[union-attr]
        columns = list(row.keys())  # sqlite3.Row's "in" looks at values, not names
        assert "social_sec_num" not in columns


_VALID_ROW = st.builds(
    lambda pid, name, status, day: f"{pid},{name},X,{status},{pid},{day},,\r\n".encode(),
    st.integers(1, 40),
    st.sampled_from(["Smith", "Muñoz", "O'Neil", '"Lee, Jr."', '"broken', "", "  "]),
    st.sampled_from(["1", "2", "3", "4", "7", "x", ""]),
    st.sampled_from(["1984-07-02", "02/30/1985", "9999-12-31", "", "N/A"]),
)
_CHUNK = st.one_of(_VALID_ROW, st.binary(max_size=40))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(chunks=st.lists(_CHUNK, max_size=25))
def test_property_rows_in_equal_records_plus_issues(minimal: Path, chunks: list[bytes]) -> None:
    """Whatever v_patient.csv holds after its header, the read never crashes and every row is a record or
    a dropped-row issue."""
    with tempfile.TemporaryDirectory() as tmp:
        path = _with_patients(minimal, Path(tmp) / "e", b"".join(chunks))
        with GExportSource(path) as source:
            count = source.counts["v_patient.csv"]
            dropped = [i for i in source.issues if i.file == "v_patient.csv" and i.row_dropped]
            assert count.rows == count.records + count.dropped
            assert count.dropped == len(dropped)
            assert source.patient_count == count.records
            assert len(list(source.iter_bundles())) == count.records
