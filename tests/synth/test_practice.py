"""The synthetic practice: deterministic, any size, shaped and dirty the way real practices are."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from dentrix_highlevel.errors import ConfigurationError
from dentrix_highlevel.records import FamilyPosition, PatientStatus, ProcedureStatus
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice

N = 1200


@pytest.fixture(scope="module")
def practice() -> SyntheticPractice:
    return SyntheticPractice(SynthConfig(patients=N, seed=42))


@pytest.fixture(scope="module")
def families(practice: SyntheticPractice) -> list:  # type: ignore[type-arg]
    return list(practice.families())


def test_same_seed_same_practice_other_seed_other_practice() -> None:
    one = [b.content_hash() for b in SyntheticPractice(SynthConfig(patients=80, seed=1)).bundles()]
    two = [b.content_hash() for b in SyntheticPractice(SynthConfig(patients=80, seed=1)).bundles()]
    other = [b.content_hash() for b in SyntheticPractice(SynthConfig(patients=80, seed=2)).bundles()]
    assert one == two
    assert len(other) == 80
    assert len(set(one) & set(other)) < 5


def test_exact_size_and_family_shape(families: list) -> None:  # type: ignore[type-arg]
    sizes = [len(f.bundles) for f in families]
    assert sum(sizes) == N
    assert 2.2 <= N / len(families) <= 2.8
    for family in families:
        guarantor = family.bundles[0].patient
        assert guarantor.patient_id == family.guarantor_id
        for bundle in family.bundles:
            p = bundle.patient
            assert p.guarantor_id == family.guarantor_id
            # Shared address and home phone inside the family, by construction as in Dentrix.
            assert (p.address_line1, p.zipcode, p.home_phone) == (
                guarantor.address_line1,
                guarantor.zipcode,
                guarantor.home_phone,
            )
            assert set(bundle.family_member_ids) == {b.patient_id for b in family.bundles}
            if p.patient_id != family.guarantor_id:
                assert bundle.guarantor == guarantor


def test_realistic_variety(practice: SyntheticPractice, families: list) -> None:  # type: ignore[type-arg]
    bundles = [b for f in families for b in f.bundles]
    patients = [b.patient for b in bundles]
    statuses = Counter(p.status for p in patients)
    assert all(statuses[s] > 0 for s in PatientStatus)
    non_patient_guarantors = [f for f in families if f.bundles[0].patient.status is PatientStatus.NON_PATIENT]
    assert non_patient_guarantors
    assert all(not f.bundles[0].appointments for f in non_patient_guarantors)
    assert sum(p.email is None for p in patients) > N * 0.2
    children = [b for b in bundles if b.patient.family_position is FamilyPosition.CHILD]
    guardians = {f.guarantor_id: f.bundles[0].patient for f in families}
    assert any(
        c.patient.email and c.patient.email == guardians[c.patient.guarantor_id].email for c in children
    )
    phones = [p.home_phone for p in patients if p.home_phone]
    assert any("x" in ph for ph in phones)
    assert any(re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", ph) for ph in phones)
    assert any(re.fullmatch(r"\d{3}-\d{4}", ph) for ph in phones)  # 7 digits
    names = [p.last_name or "" for p in patients] + [p.first_name or "" for p in patients]
    assert any(any(ord(ch) > 0x2FF for ch in n) for n in names)  # non-Latin
    assert any(any(0xC0 <= ord(ch) <= 0x17F for ch in n) for n in names)  # accented
    assert max(len(n.text or "") for b in bundles for n in b.clinical_notes) > 2000
    today = practice.config.today
    starts = [a.start for b in bundles for a in b.appointments if a.start]
    assert any(s.date() < today for s in starts)
    assert any(s.date() > today for s in starts)
    assert any(b.insurance.secondary for b in bundles)
    codes = {p.ada_code for b in bundles for p in b.procedures}
    assert all(c and re.fullmatch(r"D\d{4}", c) for c in codes)
    assert {p.status for b in bundles for p in b.procedures} == {
        ProcedureStatus.COMPLETED,
        ProcedureStatus.TREATMENT_PLANNED,
    }
    assert any(b.recalls for b in bundles)
    assert any(b.guarantor_balance and b.guarantor_balance.total > 0 for b in bundles)
    assert any(b.referred_by for b in bundles)
    assert any(b.medical_alerts for b in bundles)
    docs = [d for b in bundles for d in b.documents]
    assert any(d.url for d in docs)
    assert any(d.url is None and d.file_path for d in docs)
    assert any(b.journal for b in bundles)
    assert list(practice.unattached_appointments())
    assert all(a.patient_id is None and a.patient_name for a in practice.unattached_appointments())


def test_cp1252_practice_has_only_encodable_text() -> None:
    practice = SyntheticPractice(SynthConfig(patients=300, seed=9, non_latin_names=False))
    for bundle in practice.bundles():
        p = bundle.patient
        for value in (p.last_name, p.first_name, p.email):
            if value:
                value.encode("cp1252")


def test_bad_config() -> None:
    with pytest.raises(ConfigurationError):
        SynthConfig(patients=0)
