"""SourceKeys: which accounted-for records the current source no longer has (the ``removed`` column)."""

from __future__ import annotations

import attrs

from dentrix_highlevel.migration._engine.source_keys import SourceKeys
from dentrix_highlevel.migration._engine.writers.appointment import appointment_key
from dentrix_highlevel.migration._engine.writers.association import family_link_key
from dentrix_highlevel.migration._engine.writers.document import document_key
from dentrix_highlevel.migration._engine.writers.task import task_key
from dentrix_highlevel.records import PatientBundle
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice


def _bundles() -> list[PatientBundle]:
    return list(SyntheticPractice(SynthConfig(patients=12, seed=5)).bundles())


def _keys(bundle: PatientBundle) -> list[tuple[str, str]]:
    pid = bundle.patient_id
    return [
        ("contact", f"patient:{pid}"),
        ("opportunity", f"patient:{pid}/opportunity"),
        ("note", f"patient:{pid}/overflow:visit_history"),
        ("relation", family_link_key(pid)),
        *(("appointment", appointment_key(a)) for a in bundle.appointments),
        *(("note", f"clinical_note:{n.note_id}") for n in bundle.clinical_notes),
        *(("note", f"journal:{j.contact_id}") for j in bundle.journal),
        *(("task", task_key(c)) for c in bundle.treatment_cases),
        *(("document", document_key(d.document_id)) for d in bundle.documents),
    ]


def test_a_removed_patients_records_are_removed_the_others_are_not() -> None:
    bundles = _bundles()
    gone = max(bundles, key=lambda b: len(_keys(b)))
    assert len(_keys(gone)) > 6, "the seed gives the patient related records of several kinds"
    keys = SourceKeys.of(b for b in bundles if b is not gone)
    assert all(keys.removed(kind, key) for kind, key in _keys(gone))
    assert not any(keys.removed(kind, key) for b in bundles if b is not gone for kind, key in _keys(b))
    # Re-added: nothing of theirs is removed any more.
    assert not any(SourceKeys.of(bundles).removed(kind, key) for kind, key in _keys(gone))


def test_setup_records_are_never_removed_and_prefixes_do_not_collide() -> None:
    keys = SourceKeys.of([])
    for kind, key in [
        ("custom_field", "field:contact.chart_number"),
        ("calendar", "calendar:Dentrix appointments"),
        ("user", "provider:DDS1"),
        ("association", "association:dentrix_family"),
    ]:
        assert not keys.removed(kind, key)
    present = SourceKeys(patient_ids=frozenset({"10"}), related=frozenset({"appointment:7"}))
    assert present.removed("contact", "patient:1")  # not a prefix match of patient:10
    assert present.removed("contact", "patient:100")
    assert not present.removed("opportunity", "patient:10/opportunity")
    assert not present.removed("note", "appointment:7/note:overflow")
    assert present.removed("appointment", "appointment:77")


def test_calendars_and_users_the_source_no_longer_needs_are_removed() -> None:
    keys = SourceKeys.of([]).needing(
        {"calendar": ["calendar:Dentrix \N{EN DASH} DDS1"], "user": ["provider:DDS1", "provider:HYG1"]}
    )
    assert not keys.removed("calendar", "calendar:Dentrix \N{EN DASH} DDS1")
    assert keys.removed("calendar", "calendar:Dentrix \N{EN DASH} HYG3")
    assert not keys.removed("user", "provider:HYG1")
    assert keys.removed("user", "provider:HYG3")
    # Only the kinds it was told about: a provider key of another kind, and custom fields, stay.
    assert not keys.removed("custom_field", "field:contact.chart_number")
    assert not keys.removed("relation", "provider:HYG3")
    # Needing nothing of a kind: every record of it is removed (the plan's layout needs no calendar now).
    assert SourceKeys.of([]).needing({"calendar": []}).removed("calendar", "calendar:Dentrix appointments")


def test_a_related_record_moved_to_another_patient_stays_in_the_source() -> None:
    bundles = _bundles()
    donor = next(b for b in bundles if b.appointments)
    heir = next(b for b in bundles if b is not donor)
    moved = attrs.evolve(heir, appointments=(*heir.appointments, *donor.appointments))
    keys = SourceKeys.of([moved])
    assert not any(keys.removed("appointment", appointment_key(a)) for a in donor.appointments)
    assert keys.removed("contact", f"patient:{donor.patient_id}")
