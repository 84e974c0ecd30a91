"""Which accounted-for records the current source no longer has: the reconciliation's ``removed`` column.

The ledger keeps the latest record of every source key ever migrated; a delta that finds a patient gone
keeps or deletes their contact per policy but their records stay accounted for. Counting them against the
current source would unbalance the whole-migration reconciliation, dropping them would hide them: they
are counted as *removed* instead.

A record is told apart by its source key alone, which every record has (skipped and failed ones have
no destination id, so no ``parent_id`` to follow): a patient's own keys are ``patient:<id>`` and
``patient:<id>/...`` (overflow notes, opportunity, family link); the patient's related records are keyed
by their own source id (``appointment:<id>``, ``clinical_note:<id>``, ``journal:<id>``,
``treatment_case:<id>/task``, ``document:<id>``). Such a key is removed when the current source has no
such patient or related record, whichever patient it now hangs off, so a patient re-added to the source
counts as source again. Setup keys (``field:``, ``association:``) come from the plan, not from the source,
and are never removed. Calendars and provider users do come from the source (a provider's calendar from
its migrated appointments, a user from the provider list): ``needing`` gives the keys the current source
still needs per such kind, and a record of that kind the source no longer needs (the only patient with a
provider's appointments gone, a provider gone from the export) is removed too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from dentrix_highlevel.migration._engine.writers.appointment import appointment_key
from dentrix_highlevel.migration._engine.writers.contact import patient_key
from dentrix_highlevel.migration._engine.writers.document import document_key
from dentrix_highlevel.migration._engine.writers.task import task_key
from dentrix_highlevel.records import PatientBundle

__all__ = ["SourceKeys"]

_PATIENT = patient_key("")
# Prefixes of the related records' keys: what ``related``, ``task`` and ``document`` write.
_RELATED = ("appointment:", "clinical_note:", "journal:", "treatment_case:", document_key(""))


def _head(source_key: str) -> str:
    # "treatment_case:7/task" and "appointment:77/note:overflow" belong to their source record's key.
    return source_key.split("/", 1)[0]


@attrs.frozen
class SourceKeys:
    """The patient ids and related records' keys of one reading of the source."""

    patient_ids: frozenset[str]
    related: frozenset[str]
    """Heads of the related records' keys (``appointment:77``, ``treatment_case:7``, ``document:5``)."""
    setup_kinds: frozenset[str] = frozenset()
    """The setup kinds whose needed keys are known (``calendar``, ``user``): see ``needing``."""
    setup_keys: frozenset[tuple[str, str]] = frozenset()
    """(kind, source key) of the setup records of ``setup_kinds`` the current source still needs."""

    @classmethod
    def of(cls, bundles: Iterable[PatientBundle]) -> SourceKeys:
        patient_ids: set[str] = set()
        related: set[str] = set()
        for bundle in bundles:
            patient_ids.add(bundle.patient_id)
            related.update(appointment_key(a) for a in bundle.appointments)
            related.update(f"clinical_note:{n.note_id}" for n in bundle.clinical_notes)
            related.update(f"journal:{j.contact_id}" for j in bundle.journal)
            related.update(_head(task_key(c)) for c in bundle.treatment_cases)
            related.update(document_key(d.document_id) for d in bundle.documents)
        return cls(patient_ids=frozenset(patient_ids), related=frozenset(related))

    def needing(self, setup: Mapping[str, Iterable[str]]) -> SourceKeys:
        """These keys, also knowing the setup records the current source needs: kind -> their source keys
        (``{"calendar": ["calendar:<name>", ...], "user": ["provider:<id>", ...]}``)."""
        return attrs.evolve(
            self,
            setup_kinds=self.setup_kinds | frozenset(setup),
            setup_keys=self.setup_keys | {(kind, key) for kind, keys in setup.items() for key in keys},
        )

    def removed(self, kind: str, source_key: str) -> bool:
        """Whether the record keyed ``source_key`` is of a patient or related record the source no longer
        has, or a setup record of a ``needing`` kind the source no longer needs (a
        ``Reconciliation.from_results(removed=...)`` predicate)."""
        if kind in self.setup_kinds:
            return (kind, source_key) not in self.setup_keys
        head = _head(source_key)
        if head.startswith(_PATIENT):
            return head.removeprefix(_PATIENT) not in self.patient_ids
        if head.startswith(_RELATED):
            return head not in self.related
        return False
