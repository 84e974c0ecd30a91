"""``MigrationPlan``: the reviewable artefact a practice admin reads, edits and signs off before a run.

``await build_plan(source, ...)`` reads the source once (no writes anywhere: not to HighLevel, not to the
source) and gathers:

* the Data Availability Report (:mod:`._availability`) and the source issues;
* the field-mapping plan: every target with its HighLevel key, the practice's ``__c`` name, type, category;
* the custom fields to create or reuse, the folders the admin must make (the API cannot), the pipeline and
  its stages;
* the policies chosen, proposals for practice-specific columns (unapproved), the HighLevel workflows the
  practice must rebuild with their trigger fields, pre-cutover warnings;
* the estimate (:mod:`._estimate`).

``plan.save(workdir)`` writes ``plan.json`` (machine-readable; a person may edit its maps) and ``plan.md``
(the report); ``MigrationPlan.load(workdir)`` reads and re-validates it. ``plan.content_hash`` is what an
approval records (:func:`plan_content_hash`), and ``plan.diff(other)`` names what changed.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import inspect
import json
import os
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import anyio
import attrs
import cattrs

from dentrix_highlevel._errors import MappingError, PlanError
from dentrix_highlevel._private_files import ensure_private_dir, write_private
from dentrix_highlevel.highlevel import HighLevelClient, RateBudget
from dentrix_highlevel.mapping import match_custom_field
from dentrix_highlevel.mapping._context import PracticeSettings
from dentrix_highlevel.mapping._default_map import (
    LIFECYCLE_STAGES,
    CdtHistoryMode,
    ClinicalNotesMode,
    DefaultMapOptions,
    DefaultMaps,
    PastAppointmentsMode,
    PatientPolicy,
    default_computed,
    default_maps,
    patient_disposition,
)
from dentrix_highlevel.mapping._map import FieldMap
from dentrix_highlevel.mapping._propose import ExistingCustomField, FuzzyProposer, Proposal, Proposer
from dentrix_highlevel.mapping._serialize import map_from_dict, map_to_dict
from dentrix_highlevel.mapping._targets import CustomFieldTarget, StandardField
from dentrix_highlevel.migration._engine.calendar_layout import calendar_group, calendar_specs
from dentrix_highlevel.migration._engine.identity import identity_targets, practice_namespace
from dentrix_highlevel.migration._engine.policies import CalendarLayout, MigrationPolicies
from dentrix_highlevel.migration._engine.writers.appointment import appointment_is_live, appointment_migrates
from dentrix_highlevel.migration._engine.writers.contact import ContactIndex, plan_contact_points
from dentrix_highlevel.migration._engine.writers.custom_field import existing_custom_fields
from dentrix_highlevel.migration._engine.writers.task import open_case
from dentrix_highlevel.migration._plan.availability import AvailabilityCollector, AvailabilityReport
from dentrix_highlevel.migration._plan.estimate import (
    ComplexityInputs,
    Estimate,
    RequestCounts,
    association_requests,
    estimate,
)
from dentrix_highlevel.migration._plan.parts import (
    CollisionReport,
    CustomFieldPlan,
    CutoverWarning,
    DocumentPlan,
    PipelinePlan,
    PlannedField,
    SourceSummary,
    StagePlan,
    WorkflowToRebuild,
)
from dentrix_highlevel.migration._plan.preflight import Preflight
from dentrix_highlevel.migration._plan.report import render_markdown
from dentrix_highlevel.records import (
    Appointment,
    ClinicalNote,
    LedgerEntryType,
    OfficeJournalEntry,
    PatientBundle,
    ProcedureStatus,
    Provider,
)

__all__ = [
    "PLAN_FILENAME",
    "PLAN_FORMAT",
    "PLAN_FORMAT_VERSION",
    "PLAN_REPORT_FILENAME",
    "CustomFieldPlan",
    "CutoverWarning",
    "DocumentPlan",
    "LocationSnapshot",
    "MigrationPlan",
    "PipelinePlan",
    "PipelineSnapshot",
    "PlanSource",
    "PlannedField",
    "SourceSummary",
    "WorkflowToRebuild",
    "build_plan",
    "options_from_dict",
    "options_to_dict",
    "plan_content_hash",
    "source_fingerprint",
]

PLAN_FILENAME: Final = "plan.json"
PLAN_REPORT_FILENAME: Final = "plan.md"
PLAN_FORMAT: Final = "dentrix-highlevel-plan"
PLAN_FORMAT_VERSION: Final = 1

#: The record class each default map reads (what a map loaded back from ``plan.json`` is checked against).
MAP_SCHEMAS: Final[Mapping[str, type]] = {
    "contact": PatientBundle,
    "opportunity": PatientBundle,
    "appointment": Appointment,
    "clinical_note": ClinicalNote,
    "journal_note": OfficeJournalEntry,
    "provider_user": Provider,
    "provider_contact": Provider,
}


# --- the content hash -----------------------------------------------------------------------------------


def options_to_dict(options: DefaultMapOptions) -> dict[str, Any]:
    """The map options as plain data, *for the hash*: ``as_of`` (the moment the plan was made) and
    ``pipeline_stage_ids`` (known only once setup ran) are left out, so approving today and running tomorrow
    is the same plan."""
    return {
        "past_appointments": options.past_appointments.value,
        "cdt_history": options.cdt_history.value,
        "tracked_codes": list(options.tracked_codes),
        "clinical_notes": options.clinical_notes.value,
        "long_text_limit_chars": options.long_text_limit_chars,
        "inactive_after_months": options.inactive_after_months,
        "non_patient": options.non_patient.value,
        "archived": options.archived.value,
        "inactive": options.inactive.value,
    }


#: The options that take one of an enum's values, and the least value of the whole-number options.
_OPTION_CHOICES: Final[Mapping[str, type[enum.StrEnum]]] = {
    "past_appointments": PastAppointmentsMode,
    "cdt_history": CdtHistoryMode,
    "clinical_notes": ClinicalNotesMode,
    "non_patient": PatientPolicy,
    "archived": PatientPolicy,
    "inactive": PatientPolicy,
}
_OPTION_MINIMUMS: Final[Mapping[str, int]] = {"long_text_limit_chars": 200, "inactive_after_months": 1}


def options_from_dict(data: Mapping[str, Any], *, as_of: dt.datetime | None = None) -> DefaultMapOptions:
    """The inverse of :func:`options_to_dict`: the map options a plan file holds, with ``as_of`` (not part of
    the plan's options; ``None`` keeps the :class:`DefaultMapOptions` default).

    An option the data leaves out takes its default, so a plan written before that option existed loads as
    it ran. A value that is not valid (a hand-edited ``plan.json``) is a :class:`PlanError` naming the
    option and what it accepts, never echoing the value.
    """
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key in _OPTION_CHOICES:
            accepted = [member.value for member in _OPTION_CHOICES[key]]
            if not isinstance(raw, str) or raw not in accepted:
                raise PlanError(f"plan option {key!r} is not valid: it takes one of {', '.join(accepted)}")
            values[key] = _OPTION_CHOICES[key](raw)
        elif key in _OPTION_MINIMUMS:
            least = _OPTION_MINIMUMS[key]
            # bool is an int subclass: true/false in JSON is not a count
            if not isinstance(raw, int) or isinstance(raw, bool) or raw < least:
                raise PlanError(
                    f"plan option {key!r} is not valid: it takes a whole number of at least {least}"
                )
            values[key] = raw
        elif key == "tracked_codes":
            if not isinstance(raw, list | tuple) or not all(isinstance(c, str) and c.strip() for c in raw):
                raise PlanError(f"plan option {key!r} is not valid: it takes a list of CDT codes")
            values[key] = tuple(raw)
        else:
            raise PlanError(f"plan option {key!r} is not an option of the default maps")
    if as_of is not None:
        values["as_of"] = as_of
    return DefaultMapOptions(**values)


def plan_content_hash(
    *,
    maps: Mapping[str, Mapping[str, Any]],
    options: Mapping[str, Any],
    policies: Mapping[str, Any],
    source_fingerprint: str,
) -> str:
    """SHA-256 (hex) over the serialised maps (``map_to_dict`` per map name), the options
    (:func:`options_to_dict`), the policies (``MigrationPolicies.to_dict()``) and the source practice's
    fingerprint: canonical JSON (sorted keys, no whitespace, UTF-8).

    This is the one definition of a plan's identity; the engine's ``plan_hash()`` should call it so an
    approval recorded from a saved plan and the run gate agree.
    """
    document = {
        "maps": {name: maps[name] for name in sorted(maps)},
        "options": dict(options),
        "policies": dict(policies),
        "source": source_fingerprint,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_fingerprint(source: Any) -> str:
    """The source *practice* (not one export's content): ``g:<practice id>`` for a G export (its path name
    when the manifest has no id), ``ascend:<organization id>`` for Ascend; a source may also carry its own
    ``source_fingerprint``."""
    own = getattr(source, "source_fingerprint", None)
    if isinstance(own, str) and own:
        return own
    client = getattr(source, "client", None)
    organization = getattr(client, "organization_id", None)
    if isinstance(organization, str) and organization:
        return f"ascend:{organization}"
    practice = getattr(source, "practice", None)
    practice_id = getattr(practice, "practice_id", None)
    if isinstance(practice_id, str) and practice_id:
        return f"g:{practice_id}"
    path = getattr(source, "_path", None)
    name = Path(path).name if path is not None else type(source).__name__
    return f"g:{name}"


# --- the location as the plan sees it -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PipelineSnapshot:
    id: str
    name: str
    stages: tuple[str, ...] = ()


def _fields(value: Sequence[ExistingCustomField]) -> tuple[ExistingCustomField, ...]:
    return tuple(value)


def _pipelines(value: Sequence[PipelineSnapshot]) -> tuple[PipelineSnapshot, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class ExistingData:
    """The practice's own data in the location, as the collision report needs it: each contact's e-mail
    and phone as 8-byte digests (never the values), the contacts holding an opportunity in the lifecycle
    pipeline, and the users' e-mails (digests). ``requests``: what reading it cost."""

    contacts: tuple[tuple[str, bytes | None, bytes | None], ...] = attrs.field(default=(), repr=False)
    """(contact id, e-mail digest, phone digest)."""
    opportunity_contacts: frozenset[str] = attrs.field(factory=frozenset, repr=False)
    user_emails: frozenset[bytes] = attrs.field(factory=frozenset, repr=False)
    requests: int = 0


def point_digest(point: str, value: str | None) -> bytes | None:
    """How the collision report compares contact points without holding them: as HighLevel stores them
    (e-mails lower-cased, phones E.164), hashed."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().casefold() if point == "email" else value.strip()
    return _digest(point[0], text)


@attrs.frozen(kw_only=True)
class LocationSnapshot:
    """What the plan needs to know of the HighLevel location, read beforehand (the plan itself never calls
    HighLevel): existing custom fields, contact field folders (name → id), pipelines, whether duplicate
    contacts (and opportunities) are allowed, the sub-account's rate budget, and (when read) the practice's
    existing data for the collision report."""

    location_id: str | None = None
    custom_fields: tuple[ExistingCustomField, ...] = attrs.field(default=(), converter=_fields)
    folders: Mapping[str, str] = attrs.field(factory=dict)
    pipelines: tuple[PipelineSnapshot, ...] = attrs.field(default=(), converter=_pipelines)
    allow_duplicates: bool = False
    allow_duplicate_opportunities: bool = False
    rate_budget: RateBudget = attrs.field(factory=RateBudget)
    existing: ExistingData | None = None

    @classmethod
    async def read(
        cls,
        client: HighLevelClient,
        *,
        folders: Mapping[str, str] | None = None,
        existing_data: bool = True,
        pipeline_name: str | None = "Patient Lifecycle",
        users: bool = True,
    ) -> LocationSnapshot:
        """Read the snapshot through ``client`` (three GET requests: the location, its custom fields, its
        pipelines; with ``existing_data`` also every contact, the opportunities of the ``pipeline_name``
        pipeline and, with ``users``, the location's users, for the collision report: read-only, paged).
        The public API lists no contact field folders, so pass ``folders`` (name → id) when the admin has
        made them; the rate budget is the client limiter's."""
        location = await client.locations.get()
        fields = await client.custom_fields.list(model="all")
        pipelines = await client.pipelines.list()
        existing = None
        if existing_data:
            before = client.requests_sent
            contacts = []
            async for contact in client.contacts.search(page_limit=500):
                contacts.append(
                    (contact.id, point_digest("email", contact.email), point_digest("phone", contact.phone))
                )
            with_opportunity: set[str] = set()
            lifecycle = next(
                (
                    p
                    for p in pipelines
                    if pipeline_name and (p.name or "").casefold() == pipeline_name.casefold()
                ),
                None,
            )
            if lifecycle is not None:
                async for opportunity in client.opportunities.search(pipeline_id=lifecycle.id):
                    if opportunity.contact_id:
                        with_opportunity.add(opportunity.contact_id)
            emails: set[bytes] = set()
            if users:
                for user in await client.users.search(limit=100):
                    if (digest := point_digest("email", user.email)) is not None:
                        emails.add(digest)
            existing = ExistingData(
                contacts=tuple(contacts),
                opportunity_contacts=frozenset(with_opportunity),
                user_emails=frozenset(emails),
                requests=client.requests_sent - before,
            )
        settings = location.settings
        return cls(
            location_id=client.location_id,
            custom_fields=existing_custom_fields(fields),
            folders=dict(folders or {}),
            pipelines=tuple(
                PipelineSnapshot(id=p.id, name=p.name or "", stages=tuple(s.name or "" for s in p.stages))
                for p in pipelines
            ),
            allow_duplicates=location.allows_duplicate_contacts,
            allow_duplicate_opportunities=bool(settings and settings.allow_duplicate_opportunity),
            rate_budget=client.limiter.budget,
            existing=existing,
        )


# --- the plan's parts -----------------------------------------------------------------------------------


def _collisions(
    tally: _Tally,
    location: LocationSnapshot,
    policies: MigrationPolicies,
    providers: Sequence[Provider],
    custom_fields: Sequence[CustomFieldPlan],
    user_map: FieldMap | None,
) -> CollisionReport | None:
    existing = location.existing
    if existing is None:
        return None
    index: dict[tuple[str, str], str] = {}
    for contact_id, email, phone in existing.contacts:
        for point, digest in (("email", email), ("phone", phone)):
            if digest is not None:
                index.setdefault((point, digest.hex()), contact_id)
    assignments = plan_contact_points(
        [(key, points, False) for key, points in tally.points],
        ContactIndex(by_point=index),
        allow_duplicates=location.allow_duplicates,
        policy=policies.family_contacts,
        dedupe_order=policies.dedupe_order,
    )
    merged = [a for a in assignments.values() if a.existing_id is not None]
    adopted_opps = 0
    if policies.pipeline_name is not None and not location.allow_duplicate_opportunities:
        adopted_opps = len({a.existing_id for a in merged} & existing.opportunity_contacts)
    users = 0
    if policies.provider_users and user_map is not None:
        practice = PracticeSettings(timezone="UTC")
        for provider in providers:
            email = user_map.apply(provider, practice=practice).payload.get("email")
            if (digest := point_digest("email", email)) is not None and digest in existing.user_emails:
                users += 1
    return CollisionReport(
        contacts_in_location=len(existing.contacts),
        merge_by_email=sum(1 for a in merged if a.matched_by == "email"),
        merge_by_phone=sum(1 for a in merged if a.matched_by == "phone"),
        points_left_with_existing=sum(
            1 for a in assignments.values() if (a.shares_with or "").startswith("contact ")
        ),
        opportunities_adopted=adopted_opps,
        users_adopted=users,
        field_conflicts=tuple(f.field_key for f in custom_fields if f.action == "conflict"),
        read_requests=existing.requests,
        dedupe_order=policies.dedupe_order,
    )


# --- collecting while the source is read ----------------------------------------------------------------


def _digest(kind: str, value: str) -> bytes:
    return hashlib.blake2b(f"{kind}:{value}".encode(), digest_size=8).digest()


class _Tally:
    """Counts for the estimate and the warnings, bundle by bundle. Holds ids and 8-byte digests, never
    values (the digests exist only while the plan is built)."""

    def __init__(
        self,
        maps: Mapping[str, FieldMap],
        options: DefaultMapOptions,
        policies: MigrationPolicies,
        practice: PracticeSettings,
        apply_limit: int,
    ) -> None:
        self.maps = maps
        self.apply_limit = apply_limit
        self.mapped = 0  # patients the contact map was applied to (the first ``apply_limit`` contacts)
        self.sample_overflow = 0
        self.options = options
        self.policies = policies
        self.practice = practice
        self.patients = 0
        self.contacts = 0
        self.opportunities = 0
        self.tasks = 0  # open treatment-plan cases of contacts (``treatment_tasks`` policy)
        self.calendar_groups: dict[str, Appointment] = {}  # one appointment per calendar group key
        self.notes = 0
        self.appointments = 0
        self.records = 0
        self.field_issues: Counter[str] = Counter()
        self.field_issue_lines: list[str] = []
        self.no_contact_point = 0
        self.collisions = 0
        self.family_members = 0  # contacts whose guarantor is another patient: one family link each
        self._points: set[bytes] = set()
        self.claims: set[str] = set()
        self.paid_claims: set[str] = set()
        self.unposted = 0
        self.future_by_provider: Counter[str] = Counter()
        self.can_read_documents = False  # the source has document files (a G export; Ascend has none)
        self.documents: Counter[str] = Counter()
        # The collision report compares each contact's e-mail and phone, as the contact map writes them,
        # with the location's contacts: digests only (``point_digest``), kept while the plan is built.
        contact_map = maps.get("contact")
        self._point_map = (
            attrs.evolve(
                contact_map,
                rules=tuple(
                    r
                    for r in contact_map.rules
                    if isinstance(r.target, StandardField) and r.target.name in ("email", "phone")
                ),
            )
            if contact_map is not None
            else None
        )
        self.points: list[tuple[str, dict[str, str]]] = []

    def _documents(self, bundle: PatientBundle, migrated: bool) -> None:
        for document in bundle.documents:
            self.documents["total"] += 1
            if document.url:
                self.documents["hosted"] += 1
            elif not migrated:
                self.documents["manual: the patient is not migrated as a contact"] += 1
            elif not document.file_path:
                self.documents["manual: no file in the export"] += 1
            elif not self.can_read_documents:
                self.documents["manual: the source holds no document files (Dentrix Ascend)"] += 1
            elif not self.policies.upload_documents:
                self.documents["manual: policy upload_documents is off"] += 1
            elif not (document.sha256 or "").strip() and not self.policies.upload_unverified_documents:
                self.documents["manual: no checksum in the export"] += 1
            else:
                self.documents["upload"] += 1

    def document_plan(self) -> DocumentPlan | None:
        if not self.documents["total"]:
            return None
        manual = {
            k.removeprefix("manual: "): n for k, n in sorted(self.documents.items()) if k.startswith("manual")
        }
        return DocumentPlan(
            total=self.documents["total"],
            hosted=self.documents["hosted"],
            upload=self.documents["upload"],
            manual=manual,
        )

    def add(self, bundle: PatientBundle) -> None:
        self.patients += 1
        self.records += 1 + sum(
            len(x)
            for x in (
                bundle.appointments,
                bundle.procedures,
                bundle.clinical_notes,
                bundle.treatment_cases,
                bundle.recalls,
                bundle.documents,
                bundle.imaging,
                bundle.ledger,
                bundle.medical_alerts,
                bundle.journal,
            )
        )
        as_of = self.options.as_of
        for procedure in bundle.procedures:
            if procedure.claim_id and procedure.status is ProcedureStatus.COMPLETED:
                self.claims.add(procedure.claim_id)
        for row in bundle.ledger:
            if row.claim_id and row.kind is LedgerEntryType.INSURANCE_PAYMENT:
                self.paid_claims.add(row.claim_id)
            if row.date is None or row.date > as_of.date():
                self.unposted += 1
        disposition = patient_disposition(bundle, self.options)
        self._documents(bundle, disposition.contact)
        if not disposition.contact:
            return
        self.contacts += 1
        if self._point_map is not None:
            payload = self._point_map.apply(bundle, practice=self.practice).payload
            hashed = {
                point: digest.hex()
                for point in ("email", "phone")
                if (digest := point_digest(point, payload.get(point))) is not None
            }
            self.points.append((f"patient:{bundle.patient_id}", hashed))
        patient = bundle.patient
        if not patient.is_own_guarantor:
            self.family_members += 1
        phones = [patient.mobile_phone, patient.home_phone, patient.work_phone, patient.other_phone]
        points = [_digest("e", patient.email.strip().casefold())] if patient.email else []
        for phone in phones:
            digits = "".join(ch for ch in phone or "" if ch.isdigit())
            if len(digits) >= 7:
                points.append(_digest("p", digits[-10:]))
        if not points:
            self.no_contact_point += 1
        elif any(p in self._points for p in points):
            self.collisions += 1
        self._points.update(points)
        contact_map = self.maps.get("contact")
        if contact_map is not None and self.mapped < self.apply_limit:
            self.mapped += 1
            result = contact_map.apply(bundle, practice=self.practice)
            if self.policies.overflow_notes:
                self.sample_overflow += len(result.overflow)
            self._issues(result.issues)
        if disposition.opportunity and self.policies.pipeline_name is not None and "opportunity" in self.maps:
            self.opportunities += 1
        if self.policies.journal_notes and "journal_note" in self.maps:
            self.notes += len(bundle.journal)
        if self.options.clinical_notes is not ClinicalNotesMode.FIELD and "clinical_note" in self.maps:
            self.notes += sum(1 for n in bundle.clinical_notes if n.text and n.text.strip())
        for appointment in bundle.appointments:
            # Deleted and broken appointments never become events: the engine's rule, from one place.
            if appointment.start is None or not appointment_is_live(appointment):
                continue
            if appointment.start >= as_of and appointment.provider_id:
                self.future_by_provider[appointment.provider_id] += 1
            wanted = appointment_migrates(self.options, appointment)
            if wanted and self.policies.calendar_name is not None and "appointment" in self.maps:
                self.appointments += 1
                self.calendar_groups.setdefault(
                    calendar_group(self.policies.calendars, appointment), appointment
                )
        if self.policies.treatment_tasks:
            self.tasks += sum(1 for case in bundle.treatment_cases if open_case(case))

    @property
    def overflow_notes(self) -> int:
        """Overflow Notes: counted over the mapped patients, scaled to every contact beyond them."""
        if not self.mapped:
            return 0
        return round(self.sample_overflow * self.contacts / self.mapped)

    def _issues(self, issues: Sequence[Any]) -> None:
        for issue in issues:
            self.field_issues[f"{issue.field}: {issue.code}"] += 1
            if len(self.field_issue_lines) < 50:
                self.field_issue_lines.append(issue.line())


# --- building -------------------------------------------------------------------------------------------


class PlanSource(Protocol):
    """What the plan reads: every source (``GExportSource``, ``AscendSource``) has these."""

    def bundles(self, *, modified_since: dt.datetime | None = None) -> AsyncIterator[PatientBundle]: ...

    @property
    def issues(self) -> Sequence[Any]: ...


def _as_maps(
    maps: DefaultMaps | Mapping[str, FieldMap] | None, options: DefaultMapOptions
) -> dict[str, FieldMap]:
    if maps is None:
        return default_maps(options).all()
    if isinstance(maps, DefaultMaps):
        return maps.all()
    return dict(maps)


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def batches_of(bundles: AsyncIterable[PatientBundle], size: int) -> AsyncIterator[list[PatientBundle]]:
    """The bundles ``size`` at a time (the last batch may hold fewer): work done a batch per thread hop."""
    batch: list[PatientBundle] = []
    async for bundle in bundles:
        batch.append(bundle)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _planned_fields(maps: Mapping[str, FieldMap]) -> list[PlannedField]:
    out = []
    for map_name, field_map in maps.items():
        for rule in field_map.rules:
            target = rule.target
            transforms = repr(rule.transform) if rule.transform is not None else ""
            if isinstance(target, CustomFieldTarget):
                key, vocabulary, data_type = target.field_key, target.vocabulary_name, target.data_type.value
                category: str | None = target.category.value
            else:
                assert isinstance(target, StandardField)
                key, vocabulary, data_type, category = target.name, None, target.kind.value, None
            out.append(
                PlannedField(
                    map=map_name,
                    object=field_map.object.value,
                    target=target.name,
                    field_key=key,
                    vocabulary_name=vocabulary,
                    data_type=data_type,
                    category=category,
                    custom=isinstance(target, CustomFieldTarget),
                    source=rule.source.describe(),
                    transforms=transforms,
                    required=rule.required,
                    note=rule.note,
                )
            )
    return out


def _custom_field_plans(maps: Mapping[str, FieldMap], location: LocationSnapshot) -> list[CustomFieldPlan]:
    folders = {name.casefold(): folder_id for name, folder_id in location.folders.items()}
    seen: dict[str, CustomFieldPlan] = {}
    # The engine's identity fields (Source Practice ID) are created like the maps' own: planned with them.
    targets = [t for field_map in maps.values() for t in field_map.custom_fields()]
    for target in [*targets, *identity_targets(maps)]:
        if target.field_key in seen:
            continue
        match = match_custom_field(target, location.custom_fields)
        existing_id = match.existing.id if match.existing is not None else None
        if match.conflict is not None:
            action, reason = "conflict", f"{match.conflict}: {match.fix}"
        elif match.existing is not None:
            action, reason = "reuse", ""
        else:
            action, reason = "create", ""
        folder = target.category.value
        seen[target.field_key] = CustomFieldPlan(
            field_key=target.field_key,
            name=target.name,
            vocabulary_name=target.vocabulary_name,
            model=target.model.value,
            data_type=target.data_type.value,
            category=target.category.value,
            options=target.options,
            action=action,
            folder=folder,
            folder_id=folders.get(folder.casefold()),
            existing_id=existing_id,
            reason=reason,
        )
    return list(seen.values())


def _pipeline_plan(policies: MigrationPolicies, location: LocationSnapshot) -> PipelinePlan | None:
    if policies.pipeline_name is None:
        return None
    wanted = policies.pipeline_name.casefold()
    found = next((p for p in location.pipelines if p.name.casefold() == wanted), None)
    have = {s.casefold() for s in found.stages} if found is not None else set()
    return PipelinePlan(
        name=policies.pipeline_name,
        exists=found is not None,
        pipeline_id=found.id if found is not None else None,
        stages=tuple(StagePlan(name=s, exists=s.casefold() in have) for s in LIFECYCLE_STAGES),
    )


_WORKFLOWS: Final[tuple[tuple[str, str, str], ...]] = (
    ("Recall outreach", "contact.recall_date", "Dentrix Continuing Care lists and recall cards"),
    ("Balance reminders", "contact.outstanding_balance", "Dentrix billing statements and collection calls"),
    ("Treatment plan follow-up", "contact.treatment_plan_status", "Dentrix Treatment Manager follow-ups"),
    ("Birthday greetings", "dateOfBirth", "birthday letters from the Dentrix Office Manager"),
)


def _workflows(maps: Mapping[str, FieldMap], policies: MigrationPolicies) -> list[WorkflowToRebuild]:
    keys: dict[str, str | None] = {}
    for field_map in maps.values():
        for rule in field_map.rules:
            target = rule.target
            if isinstance(target, CustomFieldTarget):
                keys[target.field_key] = target.vocabulary_name
            else:
                keys.setdefault(target.name, None)
    out = [
        WorkflowToRebuild(name=name, trigger=key, trigger_vocabulary=keys[key], replaces=replaces)
        for name, key, replaces in _WORKFLOWS
        if key in keys
    ]
    if "appointment" in maps and policies.calendar_name is not None:
        calendar = policies.calendar_name
        where = f"calendar {calendar!r}"
        if policies.calendars is not CalendarLayout.SINGLE:
            where = f"any of the per-{policies.calendars.value} calendars (or {calendar!r})"
        out += [
            WorkflowToRebuild(
                name="Appointment reminders",
                trigger=f"appointment booked in {where} (startTime)",
                trigger_vocabulary=None,
                replaces="Dentrix eReminders / Communication Manager confirmations",
            ),
            WorkflowToRebuild(
                name="Review requests",
                trigger="appointment status changed to showed",
                trigger_vocabulary=None,
                replaces="post-visit review requests",
            ),
        ]
    if "opportunity" in maps and policies.pipeline_name is not None:
        out.append(
            WorkflowToRebuild(
                name="Reactivation of inactive patients",
                trigger=f"opportunity moved to stage 'Inactive' in {policies.pipeline_name!r}",
                trigger_vocabulary=None,
                replaces="Dentrix unscheduled-treatment and inactive-patient lists",
            )
        )
    return out


def _warnings(tally: _Tally, providers: Sequence[Provider], unattached: int) -> list[CutoverWarning]:
    inactive = {p.provider_id for p in providers if p.inactive}
    known = {p.provider_id for p in providers}
    candidates = [
        (
            "open_insurance_claims",
            len(tally.claims - tally.paid_claims),
            "insurance claims on completed procedures without an insurance payment: settle or note them in "
            "Dentrix before cutover (claims do not move to HighLevel)",
        ),
        (
            "unposted_ledger_rows",
            tally.unposted,
            "ledger rows without a date or dated after the plan date: post them so the aging balance "
            "is final",
        ),
        (
            "future_appointments_inactive_provider",
            sum(n for pid, n in tally.future_by_provider.items() if pid in inactive),
            "future appointments booked with an inactive provider: reassign them in Dentrix",
        ),
        (
            "future_appointments_unknown_provider",
            sum(n for pid, n in tally.future_by_provider.items() if known and pid not in known),
            "future appointments whose provider is missing from the export",
        ),
        (
            "patients_without_contact_point",
            tally.no_contact_point,
            "patients with neither e-mail nor phone: HighLevel cannot reach them (the contact is still made)",
        ),
        (
            "family_contact_point_collisions",
            tally.collisions,
            "patients sharing an e-mail or phone with an earlier patient (families): HighLevel's upsert "
            "matches on both, so the family-contact policy decides",
        ),
        (
            "unattached_appointments",
            unattached,
            "appointments booked without a patient record (new patients never entered): not migrated",
        ),
    ]
    return [CutoverWarning(code=c, count=n, message=m) for c, n, m in candidates if n]


def _inactive_maps(
    maps: Mapping[str, FieldMap], options: DefaultMapOptions, policies: MigrationPolicies
) -> dict[str, str]:
    """Maps the options or policies leave unused, and why (they stay in the plan, ready to switch on)."""
    reasons = {
        "clinical_note": (
            options.clinical_notes is ClinicalNotesMode.FIELD,
            "options.clinical_notes is 'field': clinical notes go into the Clinical Notes field",
        ),
        "journal_note": (not policies.journal_notes, "policies.journal_notes is off"),
        "appointment": (policies.calendar_name is None, "policies.calendar_name is empty: no events"),
        "opportunity": (policies.pipeline_name is None, "policies.pipeline_name is empty: no opportunities"),
    }
    return {name: why for name, (off, why) in reasons.items() if off and name in maps}


def _source_kind(source: Any) -> str:
    name = type(source).__name__
    return {"GExportSource": "g_export", "AscendSource": "ascend"}.get(name, name)


async def build_plan(
    source: PlanSource,
    *,
    maps: DefaultMaps | Mapping[str, FieldMap] | None = None,
    options: DefaultMapOptions | None = None,
    policies: MigrationPolicies | None = None,
    location: LocationSnapshot | None = None,
    proposer: Proposer | None = None,
    fingerprint: str | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    default_region: str = "US",
    max_issue_lines: int = 200,
    sample_limit: int = 5_000,
) -> MigrationPlan:
    """Read ``source`` once and build the plan (reads only; nothing is written anywhere).

    ``maps`` defaults to ``default_maps(options)``; ``location`` is the HighLevel location as read
    beforehand (default: an empty location with the documented rate budget); ``proposer`` defaults to the
    offline :class:`FuzzyProposer`; ``clock`` stamps ``generated_at`` (a test seam). Every record is
    counted; the first ``sample_limit`` records of each kind are profiled and the contact map is applied to
    the first ``sample_limit`` patients (field issues, overflow Notes scaled to all), which bounds the plan's
    own cost on large practices.
    """
    options = options or DefaultMapOptions()
    policies = policies or MigrationPolicies()
    location = location or LocationSnapshot()
    proposer = proposer or FuzzyProposer()
    # Building and checking the default maps is CPU work: a worker thread.
    field_maps = await anyio.to_thread.run_sync(_as_maps, maps, options)
    timezone = getattr(source, "practice_timezone", None)
    practice = PracticeSettings(timezone=timezone or "UTC", default_region=default_region)
    collector = AvailabilityCollector(profile_limit=sample_limit)
    tally = _Tally(field_maps, options, policies, practice, sample_limit)
    tally.can_read_documents = callable(getattr(source, "read_document", None))

    # Profiling a bundle and applying the maps to it is CPU work: it runs in a worker thread, a batch at a
    # time, so the caller's event loop is free while the plan is built (one thread hop per batch, not per
    # bundle; only one thread touches the collector and the tally at a time).
    def add(batch: Sequence[PatientBundle]) -> None:
        for one in batch:
            collector.add_bundle(one)
            tally.add(one)

    async for batch in batches_of(source.bundles(), _PLAN_BATCH):
        await anyio.to_thread.run_sync(add, batch)
    providers_of = getattr(source, "providers", None)
    providers: tuple[Provider, ...] = tuple(await _maybe(providers_of())) if callable(providers_of) else ()
    collector.add_providers(providers)
    unattached_of = getattr(source, "unattached_appointments", None)
    unattached = len(await _maybe(unattached_of())) if callable(unattached_of) else 0
    counts = getattr(source, "counts", None)
    issues = tuple(source.issues)

    # The report, the proposals and the collisions walk everything the tally kept: CPU work as well.
    def finish() -> MigrationPlan:
        inactive = _inactive_maps(field_maps, options, policies)
        availability = collector.report(
            {name: m for name, m in field_maps.items() if name not in inactive},
            counts=counts if isinstance(counts, Mapping) else None,
            issues=issues,
            max_issue_lines=max_issue_lines,
        )
        extra_columns = availability.extra_columns()
        proposals = proposer.propose(extra_columns, location.custom_fields) if extra_columns else []
        custom_fields = _custom_field_plans(field_maps, location)
        to_create = [f for f in custom_fields if f.action == "create"]
        folders_to_create = sorted({f.folder for f in to_create if f.folder_id is None})
        pipeline = _pipeline_plan(policies, location)
        warnings = _warnings(tally, providers, unattached)
        collisions = _collisions(
            tally, location, policies, providers, custom_fields, field_maps.get("provider_user")
        )
        person_providers = [p for p in providers if not p.is_non_person and not p.inactive]
        lookups = 4  # custom fields, pipelines, users and calendars are each read once
        calendar_create = 1 if tally.appointments and policies.calendar_name is not None else 0
        calendars = calendar_specs(policies, tally.calendar_groups.values(), providers=providers)
        if policies.calendars is not CalendarLayout.SINGLE:
            calendar_create = len(calendars)  # each one created (or found by name, its lookup already read)
        counts_by_kind = RequestCounts(
            setup=lookups + len(to_create) + calendar_create,
            contact_upserts=tally.contacts,
            notes=tally.notes + tally.overflow_notes,
            appointments=tally.appointments,
            opportunities=tally.opportunities,
            users=len(person_providers) if "provider_user" in field_maps else 0,
            documents=tally.documents["upload"],
            tasks=tally.tasks,
            associations=association_requests(tally.family_members) if policies.family_associations else 0,
            # Merging into the practice's data: the run indexes the location's contacts once, reads each
            # contact it merges into (its pre-image) and finds, reads and updates each opportunity it adopts.
            existing_data=(
                collisions.read_requests + collisions.merges + 2 * collisions.opportunities_adopted
                if collisions is not None
                else 0
            ),
        )
        the_estimate = estimate(
            counts_by_kind,
            location.rate_budget,
            ComplexityInputs(
                patients=tally.patients,
                source_records=tally.records,
                source_issues=len(issues),
                unmapped_columns=len(extra_columns),
                contact_point_collisions=tally.collisions,
                # Collisions are a factor of their own; count the other warnings.
                warnings=sum(1 for w in warnings if w.code != "family_contact_point_collisions"),
            ),
        )
        now = (clock or (lambda: dt.datetime.now(dt.UTC)))()
        return MigrationPlan(
            generated_at=now.isoformat(timespec="seconds"),
            source=SourceSummary(
                kind=_source_kind(source),
                fingerprint=fingerprint or source_fingerprint(source),
                timezone=timezone,
                patients=tally.patients,
            ),
            location_id=location.location_id,
            allow_duplicates=location.allow_duplicates,
            as_of=options.as_of.isoformat(timespec="seconds"),
            options=options_to_dict(options),
            policies=policies.to_dict(),
            maps={name: map_to_dict(m) for name, m in field_maps.items()},
            field_plan=tuple(_planned_fields(field_maps)),
            inactive_maps=inactive,
            custom_fields=tuple(custom_fields),
            folders_to_create=tuple(folders_to_create),
            pipeline=pipeline,
            proposals=tuple(proposals),
            workflows=tuple(_workflows(field_maps, policies)),
            warnings=tuple(warnings),
            field_issues=dict(sorted(tally.field_issues.items())),
            mapped_patients=tally.mapped,
            field_issue_lines=tuple(tally.field_issue_lines),
            estimate=the_estimate,
            availability=availability,
            documents=tally.document_plan(),
            calendars=tuple(spec.name for spec in calendars) if tally.appointments else (),
            collisions=collisions,
        )

    return await anyio.to_thread.run_sync(finish)


_PLAN_BATCH: Final = 64
"""Bundles profiled per worker-thread hop while a plan is built (few: every bundle held is heap a full
garbage collection walks while the event loop waits)."""


# --- the plan -------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class MigrationPlan:
    """The reviewable plan (see the module docstring). Identifiers, names, counts and shapes only: a plan
    holds no patient value, so it can be mailed to the practice and kept beside the ledger."""

    generated_at: str
    source: SourceSummary
    location_id: str | None
    allow_duplicates: bool
    as_of: str
    options: Mapping[str, Any]
    policies: Mapping[str, Any]
    maps: Mapping[str, Mapping[str, Any]]
    field_plan: tuple[PlannedField, ...]
    inactive_maps: Mapping[str, str]  # map name → why the options/policies leave it unused
    custom_fields: tuple[CustomFieldPlan, ...]
    folders_to_create: tuple[str, ...]
    pipeline: PipelinePlan | None
    proposals: tuple[Proposal, ...]
    workflows: tuple[WorkflowToRebuild, ...]
    warnings: tuple[CutoverWarning, ...]
    field_issues: Mapping[str, int]
    mapped_patients: int
    field_issue_lines: tuple[str, ...]
    estimate: Estimate
    availability: AvailabilityReport
    documents: DocumentPlan | None = None
    """None when the source has no documents (and in plans written before this section existed)."""
    calendars: tuple[str, ...] = ()
    """The calendars setup creates, or reuses by name (``calendars`` policy); empty without appointments."""
    collisions: CollisionReport | None = None
    """The practice's own data the migration meets (None: the location's data was not read)."""
    preflight: Mapping[str, Any] | None = None
    """The preflight's result (``Preflight.to_dict()``) when the plan was checked against the location:
    ``approve`` refuses a plan whose preflight failed unless forced with a reason. Not part of the hash."""

    def preflight_result(self) -> Preflight | None:
        return Preflight.from_dict(self.preflight) if self.preflight is not None else None

    @property
    def practice_namespace(self) -> str:
        """The namespace the run writes beside every source key (``policies.practice_id``, else the source
        fingerprint): what finds this practice's objects again in a location shared with others."""
        configured = self.policies.get("practice_id")
        return practice_namespace(
            configured if isinstance(configured, str) else None, self.source.fingerprint
        )

    @property
    def content_hash(self) -> str:
        """What an approval records: :func:`plan_content_hash` over maps, options, policies and source."""
        return plan_content_hash(
            maps=self.maps,
            options=self.options,
            policies=self.policies,
            source_fingerprint=self.source.fingerprint,
        )

    # --- maps -------------------------------------------------------------------------------------------

    def map_options(self) -> DefaultMapOptions:
        """The :class:`DefaultMapOptions` the plan was made with (``as_of`` included)."""
        return options_from_dict(self.options, as_of=dt.datetime.fromisoformat(self.as_of))

    def field_maps(self) -> dict[str, FieldMap]:
        """The plan's maps as :class:`FieldMap` s, validated against their record classes (an edited
        ``plan.json`` is checked exactly like a map built in code)."""
        computed = default_computed(self.map_options())
        out = {}
        for name, data in self.maps.items():
            try:
                out[name] = map_from_dict(data, schema=MAP_SCHEMAS.get(name), computed=computed)
            except MappingError as exc:
                raise PlanError(f"map {name!r} in the plan is not valid: {exc}") from None
        return out

    # --- comparing ------------------------------------------------------------------------------------

    def diff(self, other: MigrationPlan) -> list[str]:
        """What differs between this plan and ``other`` in what the content hash covers, one line per
        change (names and keys only): ``maps.contact: rule contact.recall_date changed`` …"""
        changes: list[str] = []
        if self.source.fingerprint != other.source.fingerprint:
            changes.append("source: a different practice (source fingerprint changed)")
        for section, mine, theirs in (
            ("options", self.options, other.options),
            ("policies", self.policies, other.policies),
        ):
            for key, change in _changed_keys(mine, theirs):
                detail = f"{mine[key]!r} -> {theirs[key]!r}" if change == "changed" else change
                changes.append(f"{section}.{key}: {detail}")
        for name, change in _changed_keys(self.maps, other.maps):
            if change == "changed":
                changes += [f"maps.{name}: {line}" for line in _map_diff(self.maps[name], other.maps[name])]
            else:
                changes.append(f"maps.{name}: {change}")
        if not changes and self.content_hash != other.content_hash:
            changes.append("content changed")
        return changes

    # --- files ------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = _converter.unstructure(self)
        assert isinstance(data, dict)
        return {
            "format": PLAN_FORMAT,
            "format_version": PLAN_FORMAT_VERSION,
            "content_hash": self.content_hash,
        } | data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MigrationPlan:
        if data.get("format") != PLAN_FORMAT:
            raise PlanError(f"not a plan file (format {data.get('format')!r})")
        if data.get("format_version") != PLAN_FORMAT_VERSION:
            raise PlanError(f"unsupported plan format_version {data.get('format_version')!r}")
        body = {k: v for k, v in data.items() if k not in ("format", "format_version", "content_hash")}
        options = body.get("options", {})
        if not isinstance(options, Mapping):
            raise PlanError("the plan's options are not an object")
        # Every option spelled out (an option the file lacks takes its default): the hash is the engine's.
        body["options"] = options_to_dict(options_from_dict(options))
        try:
            plan = _converter.structure(body, cls)
        except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"the plan file is not a valid plan ({type(exc).__name__})") from None
        plan.field_maps()  # an edited map must still be a valid map
        return plan

    def to_markdown(self) -> str:
        return render_markdown(self)

    def save(self, workdir: str | os.PathLike[str]) -> Path:
        """Write ``plan.json`` and ``plan.md`` into ``workdir`` (created if needed); returns the JSON path.
        Each file is replaced atomically, so a reader never sees half a plan."""
        folder = Path(workdir)
        # The work directory also holds the ledger and sample diffs (PHI): owner-only when we create it.
        ensure_private_dir(folder)
        write_private(folder / PLAN_FILENAME, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        write_private(folder / PLAN_REPORT_FILENAME, self.to_markdown())
        return folder / PLAN_FILENAME

    @classmethod
    def load(cls, workdir: str | os.PathLike[str]) -> MigrationPlan:
        """Read ``plan.json`` from ``workdir`` and validate it (maps included)."""
        path = Path(workdir) / PLAN_FILENAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PlanError(f"no {PLAN_FILENAME} in the work directory") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PlanError(f"{PLAN_FILENAME} is not valid JSON ({type(exc).__name__})") from None
        if not isinstance(data, dict):
            raise PlanError(f"{PLAN_FILENAME} does not hold a plan object")
        return cls.from_dict(data)


def _changed_keys(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Each key whose value differs between the two, sorted: ``removed`` (only in ``mine``), ``added``
    (only in ``theirs``) or ``changed``."""
    for key in sorted(set(mine) | set(theirs)):
        if key not in theirs:
            yield key, "removed"
        elif key not in mine:
            yield key, "added"
        elif mine[key] != theirs[key]:
            yield key, "changed"


def _rule_key(rule: Mapping[str, Any]) -> str:
    target = rule.get("target")
    if isinstance(target, Mapping) and isinstance(target.get("custom"), Mapping):
        return str(target["custom"].get("field_key") or target["custom"].get("name"))
    return str(target)


def _map_diff(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[str]:
    lines = []
    for key in sorted((set(mine) | set(theirs)) - {"rules"}):
        if mine.get(key) != theirs.get(key):
            lines.append(f"{key} changed")
    my_rules: dict[str, list[Any]] = {}
    their_rules: dict[str, list[Any]] = {}
    for rules, into in ((mine.get("rules", []), my_rules), (theirs.get("rules", []), their_rules)):
        for rule in rules:
            into.setdefault(_rule_key(rule), []).append(rule)
    lines += [f"rule {key} {change}" for key, change in _changed_keys(my_rules, their_rules)]
    if not lines and mine != theirs:
        lines.append("rule order changed")
    return lines


_converter = cattrs.Converter()
