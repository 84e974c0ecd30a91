"""The canonical order of a bundle's related records, shared by every source (and the synthetic practice).

Sources sort the same way so a bundle's content hash does not depend on where (or in which row order) the
data came from: chronological where records have a date, then by id (numeric ids numerically).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TypeVar

import attrs

from dentrix_highlevel.records import MedicalAlertKind, PatientBundle, TreatmentPlanCase

__all__ = ["canonical_bundle", "id_order"]

T = TypeVar("T")
_FAR = dt.datetime.max
_ALERT_ORDER = {kind: i for i, kind in enumerate(MedicalAlertKind)}


def id_order(identifier: str | None) -> str:
    """Numeric ids in numeric order, then text ids; ``None`` last."""
    if identifier is None:
        return "~~"
    return identifier.rjust(20, "0") if identifier.isdigit() else "~" + identifier


def _when(value: dt.date | dt.datetime | None) -> dt.datetime:
    if value is None:
        return _FAR
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time())


def _sorted(items: Iterable[T], key: object) -> tuple[T, ...]:
    return tuple(sorted(items, key=key))  # type: ignore[call-overload]


def canonical_bundle(bundle: PatientBundle) -> PatientBundle:
    """The same bundle with every related-record tuple in canonical order."""
    cases = tuple(
        attrs.evolve(
            case, procedures=_sorted(case.procedures, lambda p: (_when(p.date), id_order(p.procedure_id)))
        )
        for case in bundle.treatment_cases
    )
    return attrs.evolve(
        bundle,
        family_member_ids=_sorted(bundle.family_member_ids, id_order),
        appointments=_sorted(bundle.appointments, lambda a: (_when(a.start), id_order(a.appointment_id))),
        procedures=_sorted(bundle.procedures, lambda p: (_when(p.date), id_order(p.procedure_id))),
        clinical_notes=_sorted(bundle.clinical_notes, lambda n: (_when(n.created_at), id_order(n.note_id))),
        treatment_cases=_sorted(cases, _case_key),
        recalls=_sorted(bundle.recalls, lambda r: (_when(r.due_date), id_order(r.recall_type_id))),
        documents=_sorted(bundle.documents, lambda d: (_when(d.created_date), id_order(d.document_id))),
        imaging=_sorted(
            bundle.imaging, lambda i: (_when(i.image_date), i.imaging_system, id_order(i.image_id))
        ),
        ledger=_sorted(bundle.ledger, lambda t: (_when(t.date), id_order(t.transaction_id))),
        referrals=_sorted(bundle.referrals, lambda r: (_when(r.date), id_order(r.referral_id))),
        medical_alerts=_sorted(bundle.medical_alerts, lambda m: (_ALERT_ORDER[m.kind], id_order(m.alert_id))),
        journal=_sorted(bundle.journal, lambda j: (_when(j.contacted_at), id_order(j.contact_id))),
    )


def _case_key(case: TreatmentPlanCase) -> tuple[dt.datetime, str]:
    return (_when(case.created_date), id_order(case.case_id))
