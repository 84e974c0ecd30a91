"""GExportSource over generated practices: every record type read back exactly, defects located, safety."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import weakref
import zipfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from dentrix_highlevel import GExportSource
from dentrix_highlevel.errors import ConfigurationError, SourceFileError
from dentrix_highlevel.records import MedicalAlertKind, PatientBundle
from dentrix_highlevel.sources import IssueCode, SourceIssue
from dentrix_highlevel.sources._g_export_specs import REQUIRED_FILES
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

PATIENTS = 240


@pytest.fixture(scope="module")
def practice() -> SyntheticPractice:
    return SyntheticPractice(SynthConfig(patients=PATIENTS, seed=7))


@pytest.fixture(scope="module")
def expected(practice: SyntheticPractice) -> list[PatientBundle]:
    return list(practice.bundles())


@pytest.fixture(scope="module")
def clean_export(practice: SyntheticPractice, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clean") / "export"
    write_g_export(practice, path, date_style="mixed")
    return path


@pytest.fixture(scope="module")
def clean_read(clean_export: Path) -> Iterator[tuple[GExportSource, list[PatientBundle]]]:
    with GExportSource(clean_export) as source:
        yield source, list(source.iter_bundles())


def _assert_same(expected: list[PatientBundle], got: list[PatientBundle]) -> None:
    assert [b.patient_id for b in got] == [b.patient_id for b in expected]
    for want, have in zip(expected, got, strict=True):
        assert have == want, f"bundle of patient {want.patient_id} differs"


def test_clean_export_reads_back_every_record_exactly(
    expected: list[PatientBundle], clean_read: tuple[GExportSource, list[PatientBundle]]
) -> None:
    source, got = clean_read
    assert source.issues == ()
    _assert_same(expected, got)


def test_the_generated_practice_exercises_every_record_type(expected: list[PatientBundle]) -> None:
    """The equality test above only proves something if each kind of record is there."""

    def some(attr: str) -> bool:
        return any(getattr(b, attr) for b in expected)

    for attr in (
        "appointments",
        "procedures",
        "clinical_notes",
        "treatment_cases",
        "recalls",
        "documents",
        "imaging",
        "ledger",
        "referrals",
        "medical_alerts",
        "journal",
        "guarantor",
        "primary_provider",
        "employer",
        "referred_by",
    ):
        assert some(attr), attr
    assert any(b.insurance.secondary is not None for b in expected)
    assert any(
        b.insurance.primary is not None and b.insurance.primary.subscriber is not None for b in expected
    )
    assert any(a.procedures for b in expected for a in b.appointments)
    kinds = {m.kind for b in expected for m in b.medical_alerts}
    assert {MedicalAlertKind.ALLERGY, MedicalAlertKind.MEDICATION, MedicalAlertKind.CONDITION} <= kinds
    assert any(m.open_ended for b in expected for m in b.medical_alerts)
    assert any(p.patient.extra for p in expected)


def test_values_are_typed_trimmed_and_keep_leading_zeros(
    clean_read: tuple[GExportSource, list[PatientBundle]],
) -> None:
    source, got = clean_read
    patients = [b.patient for b in got]
    assert all(p.last_name == p.last_name.strip() for p in patients if p.last_name)
    assert any(p.zipcode and p.zipcode.startswith("0") for p in patients)
    assert any(p.chart_number and p.chart_number.startswith("00") for p in patients)
    assert {o.operatory_id for o in source.operatories()} >= {"01", "02"}
    appointment = next(a for b in got for a in b.appointments)
    assert isinstance(appointment.start, dt.datetime)
    assert appointment.start.tzinfo is None
    assert got[0].practice_timezone == "America/Denver"
    assert appointment.status_description is not None


def test_non_patient_objects_match_the_practice(
    practice: SyntheticPractice, clean_read: tuple[GExportSource, list[PatientBundle]]
) -> None:
    source, _ = clean_read
    assert source.providers() == practice.providers
    assert source.staff() == tuple(attrs.evolve(s, inactive=False) for s in practice.staff)
    assert source.operatories() == practice.operatories
    assert source.appointment_statuses() == practice.appointment_statuses
    assert source.appointment_types() == practice.appointment_types
    assert source.procedure_codes() == practice.procedure_codes
    assert source.insurance_plans() == practice.insurance_plans
    assert source.referral_sources() == practice.referral_sources
    assert source.recall_types() == practice.recall_types
    assert source.employers() == practice.employers
    assert source.unattached_appointments() == tuple(practice.unattached_appointments())
    defs = {(d.table, d.def_id): d.description for d in source.code_definitions()}
    assert defs[("v_payment_types", "3")] == "Credit Card"
    assert source.practice.name == practice.practice.name
    assert source.practice.practice_id == practice.practice.practice_id
    assert source.patient_count == PATIENTS


def test_counts_per_file(clean_read: tuple[GExportSource, list[PatientBundle]]) -> None:
    source, _ = clean_read
    counts = source.counts
    patient = counts["v_patient.csv"]
    assert (patient.rows, patient.records, patient.dropped, patient.issues) == (PATIENTS, PATIENTS, 0, 0)
    assert patient.extra_columns == ("Pref. Hygienist", "Emergency Contact Phone")
    assert "social_sec_num" not in patient.columns
    assert counts["v_appointment.csv"].records > PATIENTS
    assert all(c.present for c in counts.values())


def test_bundles_are_ordered_by_family_guarantor_first(
    clean_read: tuple[GExportSource, list[PatientBundle]],
) -> None:
    _, got = clean_read
    seen: list[str] = []
    for bundle in got:
        family = bundle.patient.guarantor_id or bundle.patient_id
        if not seen or seen[-1] != family:
            assert family not in seen, "a family was split"
            assert bundle.patient_id == family, "guarantor not first"
            seen.append(family)


@pytest.mark.parametrize(
    ("encoding", "suffix", "style"),
    [("cp1252", ".zip", "us"), ("utf-8-sig", ".zip", "iso"), ("utf-8", "", "iso")],
)
def test_encodings_and_zip_read_back_exactly(encoding: str, suffix: str, style: str, tmp_path: Path) -> None:
    practice = SyntheticPractice(SynthConfig(patients=60, seed=11, non_latin_names=encoding != "cp1252"))
    path = tmp_path / f"export{suffix}"
    write_g_export(practice, path, encoding=encoding, date_style=style)  # type: ignore[arg-type]
    with GExportSource(path, staging_dir=tmp_path / "stage") as source:
        got = list(source.iter_bundles())
        assert source.issues == ()
        assert {c.encoding for c in source.counts.values() if c.present} == {encoding}
    _assert_same(list(practice.bundles()), got)


def test_encoding_is_sniffed_when_not_declared(tmp_path: Path) -> None:
    practice = SyntheticPractice(SynthConfig(patients=30, seed=5, non_latin_names=False))
    path = tmp_path / "export"
    write_g_export(practice, path, encoding="cp1252")
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["encoding"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    with GExportSource(path) as source:
        assert source.counts["v_patient.csv"].encoding == "cp1252"
        _assert_same(list(practice.bundles()), list(source.iter_bundles()))


def test_minimum_file_set_works_alone(tmp_path: Path) -> None:
    practice = SyntheticPractice(SynthConfig(patients=50, seed=3))
    path = tmp_path / "minimal"
    write_g_export(practice, path, files=REQUIRED_FILES)
    with GExportSource(path) as source:
        got = list(source.iter_bundles())
        assert source.issues == ()
        assert not source.counts["fullproclog.csv"].present
    for want, have in zip(practice.bundles(), got, strict=True):
        assert have.patient == attrs.evolve(want.patient)
        assert have.recalls == want.recalls
        assert have.guarantor_balance == want.guarantor_balance
        assert [a.appointment_id for a in have.appointments] == [a.appointment_id for a in want.appointments]
        assert all(a.procedures == () for a in have.appointments)
        assert have.insurance.primary is None
        assert have.procedures == ()


@pytest.fixture(scope="module")
def dirty(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[SyntheticPractice, object, GExportSource, list[PatientBundle]]:
    practice = SyntheticPractice(SynthConfig(patients=400, seed=21))
    path = tmp_path_factory.mktemp("dirty") / "export.zip"
    result = write_g_export(practice, path, dirty=3, date_style="mixed")
    source = GExportSource(path)
    bundles = list(source.iter_bundles())
    return practice, result, source, bundles


def test_every_injected_defect_is_reported_where_it_is(
    dirty: tuple[SyntheticPractice, object, GExportSource, list[PatientBundle]],
) -> None:
    _, result, source, _ = dirty
    issues = {(i.file, i.line, i.code): i for i in source.issues}
    kinds = set()
    for defect in result.defects:  # type: ignore[attr-defined]
        if defect.code is None:
            continue
        kinds.add(defect.code)
        issue = issues.get((defect.file, defect.line, defect.code))
        assert issue is not None, defect
        assert issue.row_dropped == defect.row_dropped, defect
        if defect.column:
            assert issue.column == defect.column
    assert kinds >= {
        "bad_date",
        "bad_number",
        "broken_quoting",
        "column_count",
        "invalid_bytes",
        "dangling_reference",
        "duplicate_key",
    }


def test_rows_in_equal_records_plus_dropped_rows(
    dirty: tuple[SyntheticPractice, object, GExportSource, list[PatientBundle]],
) -> None:
    _, result, source, bundles = dirty
    dropped_by_file: dict[str, int] = {}
    for issue in source.issues:
        if issue.row_dropped:
            dropped_by_file[issue.file] = dropped_by_file.get(issue.file, 0) + 1
    for name, count in source.counts.items():
        if count.present:
            assert count.rows == count.records + count.dropped, name
            assert count.dropped == dropped_by_file.get(count.file, 0), name
            assert count.rows == result.rows[name], name  # type: ignore[attr-defined]
    assert len(bundles) == source.counts["v_patient.csv"].records


def test_unaffected_families_read_back_exactly_and_duplicates_appear(
    dirty: tuple[SyntheticPractice, object, GExportSource, list[PatientBundle]],
) -> None:
    practice, result, _, bundles = dirty
    touched = {d.patient_id for d in result.defects if d.patient_id}  # type: ignore[attr-defined]
    expected = list(practice.bundles())
    families_touched = {b.patient.guarantor_id for b in expected if b.patient_id in touched}
    by_id = {b.patient_id: b for b in bundles}
    compared = 0
    for want in expected:
        if want.patient.guarantor_id in families_touched or want.patient_id in touched:
            continue
        if want.referred_by is not None and want.referred_by.referrer_id in touched:
            continue
        assert by_id[want.patient_id] == want
        compared += 1
    assert compared > 80  # level 3 touches most families; the rest must be exact
    duplicates = [d.patient_id for d in result.defects if d.kind == "duplicate_person"]  # type: ignore[attr-defined]
    assert all(pid in by_id for pid in duplicates)


def test_issue_messages_never_carry_patient_values(
    dirty: tuple[SyntheticPractice, object, GExportSource, list[PatientBundle]],
) -> None:
    practice, _, source, _ = dirty
    values: set[str] = set()
    for bundle in practice.bundles():
        p = bundle.patient
        values |= {
            v for v in (p.last_name, p.first_name, p.email, p.home_phone, p.mobile_phone) if v and len(v) > 3
        }
        values |= {n.text[:20] for n in bundle.clinical_notes if n.text}
    text = "\n".join(f"{i.message} {i}" for i in source.issues)
    leaked = [v for v in values if v in text]
    assert leaked == []
    assert all(isinstance(i, SourceIssue) for i in source.issues)


@pytest.mark.anyio
async def test_async_bundles_match_sync_and_filter_by_modified_since(clean_export: Path) -> None:
    async with GExportSource(clean_export, chunk_size=37) as source:
        got = [b async for b in source.bundles()]
        sync = list(source.iter_bundles())
        assert got == sync
        stamps = sorted(b.modified_at for b in got if b.modified_at is not None)
        cut = stamps[len(stamps) // 2]
        recent = [b async for b in source.bundles(modified_since=cut)]
        assert recent
        assert all(b.modified_at is None or b.modified_at >= cut for b in recent)
        assert len(recent) < len(got)
        aware = cut.replace(tzinfo=dt.timezone(dt.timedelta(hours=-6)))  # MDT in June = America/Denver
        assert [b.patient_id async for b in source.bundles(modified_since=aware)] == [
            b.patient_id for b in recent
        ]


@pytest.mark.anyio
async def test_bundles_are_let_go_of_as_they_are_handed_out(clean_export: Path) -> None:
    # A consumer that keeps no bundle holds none: the source does not keep the rest of its chunk's
    # handed-out bundles alive (a run's memory, and every full garbage collection, would grow with them).
    async with GExportSource(clean_export, chunk_size=50) as source:
        previous: weakref.ref[PatientBundle] | None = None
        seen = 0
        async for bundle in source.bundles():
            if previous is not None:
                assert previous() is None, f"bundle {seen} is still held after the consumer let it go"
            previous = weakref.ref(bundle)
            seen += 1
            del bundle
        assert seen == PATIENTS
        previous = None
        for bundle in source.iter_bundles():
            if previous is not None:
                assert previous() is None
            previous = weakref.ref(bundle)
            del bundle


@pytest.mark.anyio
async def test_survey_bundles_are_the_patients_and_appointments_of_the_bundles(clean_export: Path) -> None:
    async with GExportSource(clean_export, chunk_size=23) as source:
        full = [b async for b in source.bundles()]
        survey = [b async for b in source.survey_bundles()]
    assert [b.patient_id for b in survey] == [b.patient_id for b in full]
    assert any(b.appointments for b in full)
    for whole, part in zip(full, survey, strict=True):
        assert part.patient == whole.patient
        assert part.appointments == whole.appointments
        # Everything else is left empty, never half-filled.
        assert part == PatientBundle(
            patient=whole.patient, practice_timezone=whole.practice_timezone, appointments=whole.appointments
        )


def test_content_hash_is_stable_across_reads_and_changes_with_data(
    clean_export: Path, tmp_path: Path
) -> None:
    with GExportSource(clean_export) as one, GExportSource(clean_export, chunk_size=61) as two:
        first = {b.patient_id: b.content_hash() for b in one.iter_bundles()}
        second = {b.patient_id: b.content_hash() for b in two.iter_bundles()}
        assert first == second
        bundle = one.get_bundle("1001")
    assert bundle is not None
    changed = attrs.evolve(bundle, patient=attrs.evolve(bundle.patient, email="other@example.com"))
    assert changed.content_hash() != bundle.content_hash()


def test_staging_is_private_and_removed_on_close(clean_export: Path, tmp_path: Path) -> None:
    parent = tmp_path / "staging"
    source = GExportSource(clean_export, staging_dir=parent)
    source.stage()
    (directory,) = list(parent.iterdir())
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    (db,) = list(directory.iterdir())
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    source.close()
    assert list(parent.iterdir()) == []
    with pytest.raises(SourceFileError, match="closed"):
        source.stage()


def test_missing_required_file_and_column_are_one_clear_error(clean_export: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for item in (i for i in clean_export.iterdir() if i.is_file()):  # documents/ is not copied
        if item.name != "recallpending.csv":
            (copy / item.name).write_bytes(item.read_bytes())
    with pytest.raises(SourceFileError, match=r"recallpending\.csv") as info:
        GExportSource(copy).stage()
    assert info.value.file == "recallpending.csv"
    (copy / "recallpending.csv").write_text("recallid,duedate\n1,2025-01-01\n")
    with pytest.raises(SourceFileError, match="'patid'") as info:
        GExportSource(copy).stage()
    assert info.value.column == "patid"


def test_manifest_problems(clean_export: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for item in (i for i in clean_export.iterdir() if i.is_file()):  # documents/ is not copied
        (copy / item.name).write_bytes(item.read_bytes())
    with open(copy / "v_operatory.csv", "ab") as fh:
        fh.write(b"09,Op 9\r\n")
    (copy / "notes.csv").write_text("x\n1\n")
    with GExportSource(copy) as source:
        codes = {(i.file, i.code) for i in source.issues}
    assert ("v_operatory.csv", IssueCode.MANIFEST_MISMATCH) in codes
    assert ("notes.csv", IssueCode.UNKNOWN_FILE) in codes
    (copy / "manifest.json").unlink()
    with pytest.raises(SourceFileError, match=r"manifest\.json"):
        GExportSource(copy).stage()
    with GExportSource(copy, practice_timezone="America/New_York") as source:
        assert source.practice_timezone == "America/New_York"
    with pytest.raises(ConfigurationError, match="time zone"):
        GExportSource(copy, practice_timezone="Mars/Olympus").stage()


def test_appointment_file_alias(clean_export: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for item in (i for i in clean_export.iterdir() if i.is_file()):  # documents/ is not copied
        name = "v_appt.csv" if item.name == "v_appointment.csv" else item.name
        (copy / name).write_bytes(item.read_bytes())
    with GExportSource(copy) as source:
        assert source.counts["v_appointment.csv"].file == "v_appt.csv"
        assert any(b.appointments for b in source.iter_bundles())


def test_zip_path_traversal_member_is_refused(clean_export: Path, tmp_path: Path) -> None:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for item in (i for i in clean_export.iterdir() if i.is_file()):  # documents/ is not copied
            zf.write(item, arcname=item.name)
        zf.writestr("../../etc/v_patient.csv", "patient_id\n1\n")
        zf.writestr("/abs/contact.csv", "contactid\n1\n")
    with GExportSource(path) as source:
        unsafe = [i for i in source.issues if i.code == IssueCode.UNSAFE_MEMBER]
        assert {i.file for i in unsafe} == {"../../etc/v_patient.csv", "/abs/contact.csv"}
        assert source.patient_count == PATIENTS


def test_zip_bomb_is_refused(clean_export: Path, tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for item in (i for i in clean_export.iterdir() if i.is_file()):  # documents/ is not copied
            if item.name != "images.csv":
                zf.write(item, arcname=item.name)
        zf.writestr("images.csv", b"patient_id,imaging_system,image_id,image_date\n" + b" " * (8 << 20))
    with pytest.raises(SourceFileError, match="zip bomb"):
        GExportSource(path).stage()
    with pytest.raises(SourceFileError, match=r"size limit|expands beyond"):
        GExportSource(path, max_compression_ratio=1e9, max_uncompressed_bytes=4 << 20).stage()


def test_not_an_export(tmp_path: Path) -> None:
    with pytest.raises(SourceFileError, match="not found"):
        GExportSource(tmp_path / "nope.zip").stage()
    junk = tmp_path / "junk.zip"
    junk.write_bytes(os.urandom(64))
    with pytest.raises(SourceFileError, match="not a readable"):
        GExportSource(junk).stage()
    with pytest.raises(ConfigurationError):
        GExportSource(tmp_path, chunk_size=0)


def test_repr_of_source_and_bundles_has_no_phi(clean_read: tuple[GExportSource, list[PatientBundle]]) -> None:
    source, got = clean_read
    bundle = got[0]
    text = repr(source) + repr(bundle) + repr(bundle.patient) + repr(bundle.appointments)
    assert bundle.patient.last_name is not None
    assert bundle.patient.last_name.strip() not in text
    assert "1001" in repr(bundle)
