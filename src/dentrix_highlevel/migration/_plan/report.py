"""``plan.md``: the migration plan as a Markdown report a practice admin reads and signs off.

Everything rendered comes from the plan, which holds names, keys, counts and shapes only — never a patient
value. Sections follow the order an admin works through them: summary, what to do in HighLevel first,
the field plan, then the evidence (availability, issues).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

from dentrix_highlevel.mapping import Proposal
from dentrix_highlevel.migration._plan.availability import AvailabilityReport, FieldAvailability
from dentrix_highlevel.migration._plan.estimate import Estimate
from dentrix_highlevel.migration._plan.parts import (
    CollisionReport,
    CustomFieldPlan,
    CutoverWarning,
    DocumentPlan,
    PipelinePlan,
    PlannedField,
    SourceSummary,
    WorkflowToRebuild,
)
from dentrix_highlevel.migration._plan.preflight import Preflight

__all__ = ["PlanView", "render_markdown"]


class PlanView(Protocol):
    """What the report reads of a plan (a :class:`MigrationPlan`): its parts, never the builder."""

    @property
    def generated_at(self) -> str: ...
    @property
    def source(self) -> SourceSummary: ...
    @property
    def location_id(self) -> str | None: ...
    @property
    def allow_duplicates(self) -> bool: ...
    @property
    def as_of(self) -> str: ...
    @property
    def options(self) -> Mapping[str, Any]: ...
    @property
    def policies(self) -> Mapping[str, Any]: ...
    @property
    def maps(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def field_plan(self) -> tuple[PlannedField, ...]: ...
    @property
    def inactive_maps(self) -> Mapping[str, str]: ...
    @property
    def custom_fields(self) -> tuple[CustomFieldPlan, ...]: ...
    @property
    def folders_to_create(self) -> tuple[str, ...]: ...
    @property
    def pipeline(self) -> PipelinePlan | None: ...
    @property
    def proposals(self) -> tuple[Proposal, ...]: ...
    @property
    def workflows(self) -> tuple[WorkflowToRebuild, ...]: ...
    @property
    def warnings(self) -> tuple[CutoverWarning, ...]: ...
    @property
    def field_issues(self) -> Mapping[str, int]: ...
    @property
    def mapped_patients(self) -> int: ...
    @property
    def estimate(self) -> Estimate: ...
    @property
    def availability(self) -> AvailabilityReport: ...
    @property
    def documents(self) -> DocumentPlan | None: ...
    @property
    def calendars(self) -> tuple[str, ...]: ...
    @property
    def collisions(self) -> CollisionReport | None: ...
    @property
    def practice_namespace(self) -> str: ...
    @property
    def content_hash(self) -> str: ...
    def preflight_result(self) -> Preflight | None: ...


_MAX_ISSUE_LINES: Final = 50


def _cell(value: object) -> str:
    # Table cells: a pipe or a line break would break the row.
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _code(value: str | None) -> str:
    return f"`{value}`" if value else ""


def _shapes(field: FieldAvailability) -> str:
    profile = field.profile
    if not profile.filled:
        return "—"
    parts = [
        f"{shape.value} {count / profile.filled:.0%}"
        for shape, count in sorted(profile.shapes.items(), key=lambda kv: (-kv[1], kv[0].value))
    ]
    return ", ".join(parts)


def _distinct(field: FieldAvailability) -> str:
    profile = field.profile
    return f"≥{profile.distinct}" if profile.distinct_capped else str(profile.distinct)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def render_markdown(plan: PlanView) -> str:
    out: list[str] = []
    add = out.append
    est = plan.estimate
    add("# Migration plan: Dentrix → HighLevel")
    add("")
    add(
        f"- Source: {plan.source.kind} `{plan.source.fingerprint}`, "
        f"time zone {plan.source.timezone or 'unknown'}"
    )
    add(
        f"- Practice namespace: `{plan.practice_namespace}` (Source Practice ID on every contact; what "
        "finds this practice's objects again in a location shared with other practices)"
    )
    add(
        f"- HighLevel location: {_code(plan.location_id) or 'not given'}; duplicate contacts "
        f"{'allowed' if plan.allow_duplicates else 'not allowed'}"
    )
    if plan.location_id is None:
        add(
            "- **Not yet checked against the sub-account**: planned from the export alone (`plan --offline`)."
            " Custom fields, the pipeline, users and calendars are what the migration would need in an empty"
            " location; `plan` with the location checks them, and only such a plan can be approved."
        )
    add(f"- Generated: {plan.generated_at}; plan date (as of): {plan.as_of}")
    add(f"- Content hash: `{plan.content_hash}`")
    add("")
    add("## Summary")
    add("")
    add(f"- Patients: {plan.source.patients}")
    add(
        f"- HighLevel requests: {est.total_requests}, about {_duration(est.duration_s)} at "
        f"{est.rate_per_s:g} requests/s; {est.days} day(s) under the daily budget of {est.daily_budget}"
    )
    add(f"- Complexity grade: **{est.grade}**")
    add(
        f"- Custom fields: {sum(1 for f in plan.custom_fields if f.action == 'create')} to create, "
        f"{sum(1 for f in plan.custom_fields if f.action == 'reuse')} to reuse, "
        f"{sum(1 for f in plan.custom_fields if f.action == 'conflict')} in conflict"
    )
    add(
        f"- Source issues: {plan.availability.issues.total}; pre-cutover warnings: {len(plan.warnings)}; "
        f"proposals awaiting a decision: {len(plan.proposals)}"
    )
    add("")

    add("## Preflight")
    add("")
    preflight = plan.preflight_result()
    if preflight is None:
        add("Not checked against the sub-account: run `dentrix-highlevel doctor` before approving.")
    else:
        verdict = "**passed**" if preflight.ok else f"**failed** ({len(preflight.failures)} check(s))"
        add(
            f"Checked against location {_code(preflight.location_id)} at {preflight.checked_at}: {verdict}, "
            f"{len(preflight.warnings)} warning(s), {preflight.requests} read-only request(s). "
            + (
                ""
                if preflight.ok
                else "`approve` refuses this plan until the failures are fixed (or forced)."
            )
        )
        add("")
        out += _table(
            ("", "Check", "Result", "Fix"),
            (
                (c.status.symbol, c.check, c.detail, c.fix if c.status.value != "ok" else "")
                for c in preflight.checks
            ),
        )
    add("")
    if plan.calendars and plan.policies.get("provider_users"):
        add(
            "Appointments are assigned to their provider's user on the calendars the migration creates (the "
            "users are put on their teams); on a calendar the practice already has, only when the user is on "
            "its team, otherwise they are booked unassigned (the audit log says so)."
        )
        add("")

    add("## The practice's data already in the sub-account")
    add("")
    c = plan.collisions
    if c is None:
        add("Not read: the plan was made without the location's contacts (no collision report).")
    else:
        order = " then ".join(c.dedupe_order)
        add(
            f"The location holds {c.contacts_in_location} contact(s) (read with {c.read_requests} "
            f"read-only request(s)); HighLevel matches by {order}. Patients land on the practice's "
            "contacts by the same rule, merged without destroying: the practice's tags stay (the "
            "patient's are added), fields the practice filled keep their value unless the plan "
            "overwrites them, DND only gets stricter; rollback restores each contact exactly."
        )
        add("")
        out += _table(
            ("What", "Count"),
            (
                ("patients merging into an existing contact by e-mail", c.merge_by_email),
                ("patients merging into an existing contact by phone", c.merge_by_phone),
                ("contact points left with another existing contact", c.points_left_with_existing),
                ("existing opportunities adopted (name and value kept)", c.opportunities_adopted),
                ("existing users adopted for providers", c.users_adopted),
                ("custom fields in conflict", len(c.field_conflicts)),
            ),
        )
        merge = plan.policies.get("merge") or {}
        overwrite = ", ".join(merge.get("overwrite") or ()) or "none"
        moved = (
            "moved to the patient's stage"
            if merge.get("move_adopted_opportunities")
            else "left at their stage"
        )
        add("")
        add(f"Fields the patient's value overwrites: {overwrite}; adopted opportunities are {moved}.")
    add("")

    add("## Before the run: in HighLevel")
    add("")
    if plan.folders_to_create:
        add("Create these contact custom-field folders (HighLevel's API cannot create them):")
        add("")
        out += [f"- {name}" for name in plan.folders_to_create]
    else:
        add("Every custom-field folder the plan uses exists.")
    add("")
    if plan.pipeline is None:
        add("No lifecycle pipeline: opportunities are not migrated (policy `pipeline_name` is empty).")
    elif not plan.pipeline.exists:
        stages = ", ".join(s.name for s in plan.pipeline.stages)
        add(
            f"Create the pipeline **{plan.pipeline.name}** with the stages {stages} "
            "(HighLevel's API cannot create pipelines)."
        )
    elif plan.pipeline.missing_stages:
        add(
            f"Add the stages {', '.join(plan.pipeline.missing_stages)} to the pipeline "
            f"**{plan.pipeline.name}**."
        )
    else:
        add(f"The pipeline **{plan.pipeline.name}** exists with every stage.")
    add("")
    layout = plan.policies.get("calendars")
    if layout is not None and plan.calendars:
        # Only for the per-provider / per-operatory layouts: the single calendar reads as it always did.
        add(f"Setup creates these calendars (one per {layout}; an existing one of the same name is reused):")
        add("")
        out += [f"- {name}" for name in plan.calendars]
        add("")
    conflicts = [f for f in plan.custom_fields if f.action == "conflict"]
    if conflicts:
        add("Resolve these custom-field conflicts:")
        add("")
        out += [f"- `{f.field_key}`: {f.reason}" for f in conflicts]
        add("")

    add("## Pre-cutover warnings")
    add("")
    if plan.warnings:
        out += _table(
            ("Warning", "Count", "What to do"), ((w.code, w.count, w.message) for w in plan.warnings)
        )
    else:
        add("None.")
    add("")

    add("## Workflows to rebuild in HighLevel")
    add("")
    out += _table(
        ("Workflow", "Trigger", "Practice name", "Replaces"),
        ((w.name, w.trigger, w.trigger_vocabulary or "", w.replaces) for w in plan.workflows),
    )
    add("")

    add("## Policies")
    add("")
    out += _table(
        ("Policy", "Choice"),
        [(f"options.{k}", v) for k, v in plan.options.items()]
        + [(f"policies.{k}", v) for k, v in plan.policies.items()],
    )
    add("")

    add("## Custom fields")
    add("")
    out += _table(
        ("HighLevel key", "Practice name", "Name", "Type", "Category", "Folder", "Action"),
        (
            (
                f.field_key,
                f.vocabulary_name,
                f.name,
                f.data_type + (f" ({len(f.options)} options)" if f.options else ""),
                f.category,
                f.folder + ("" if f.folder_id else " (to create)"),
                f.action,
            )
            for f in plan.custom_fields
        ),
    )
    add("")

    add("## Field-mapping plan")
    for map_name in plan.maps:
        rows = [f for f in plan.field_plan if f.map == map_name]
        add("")
        add(f"### {map_name} ({rows[0].object if rows else ''})")
        if map_name in plan.inactive_maps:
            add("")
            add(f"Not used in this plan: {plan.inactive_maps[map_name]}.")
        add("")
        out += _table(
            ("Target", "HighLevel key", "Practice name", "Type", "Category", "Source", "Transforms", "Note"),
            (
                (
                    f.target + (" *" if f.required else ""),
                    f.field_key,
                    f.vocabulary_name or "",
                    f.data_type,
                    f.category or "standard",
                    f.source,
                    f.transforms,
                    f.note,
                )
                for f in rows
            ),
        )
    add("")
    add("`*` required: a record without it is reported, not sent.")
    add("")

    add("## Proposals for practice-specific columns (not approved)")
    add("")
    if plan.proposals:
        out += _table(
            ("Column", "Action", "HighLevel key", "Type", "Category", "Confidence", "Reason"),
            (
                (
                    p.column,
                    p.action.value,
                    p.field_key,
                    p.data_type.value,
                    p.category.value,
                    f"{p.confidence:.2f}",
                    p.reason,
                )
                for p in plan.proposals
            ),
        )
        add("")
        add("Proposals stay out of the run until a person adds them to the map (and the plan is approved).")
    else:
        add("None: every column is covered by the map.")
    add("")

    docs = plan.documents
    if docs is not None:
        add("## Documents")
        add("")
        add(
            f"{docs.total} document(s): {docs.hosted} with a hosted URL carried over in Document Links, "
            f"{docs.upload} to upload through HighLevel's media API, "
            f"{sum(docs.manual.values())} listed in Documents To Re-upload for manual re-upload."
        )
        if docs.manual:
            add("")
            out += _table(("Listed for manual re-upload because", "Documents"), sorted(docs.manual.items()))
        if docs.upload:
            add("")
            add(
                "Files are read at run time: one that is missing, over 25 MB, outside `documents/` or fails "
                "the export's SHA-256 is skipped (the audit log says why) and stays listed."
            )
        add("")

    add("## Estimate")
    add("")
    out += _table(("Requests", "Count"), [*est.requests.items(), ("total", est.total_requests)])
    add("")
    add(
        f"Duration at {est.rate_per_s:g} requests/s: {_duration(est.duration_s)}. Daily budget "
        f"{est.daily_budget} (daily cap less the reserve): {est.days} day(s)."
    )
    add("")
    add(f"Complexity grade **{est.grade}** (A easiest … E hardest):")
    add("")
    out += [f"- {reason}" for reason in est.reasons]
    add("")

    add("## Mapping check")
    add("")
    applied = (
        "every patient"
        if plan.mapped_patients >= plan.source.patients
        else f"the first {plan.mapped_patients} of {plan.source.patients} patients"
    )
    if plan.field_issues:
        add(f"The contact map applied to {applied} reported (counts by field and code; no values):")
        add("")
        out += _table(("Field: code", "Records"), plan.field_issues.items())
    else:
        add(f"The contact map applied to {applied} without a field issue.")
    add("")

    add("## Data availability")
    for entry in plan.availability.files:
        add("")
        figures = f"{entry.records} records"
        if entry.profiled < entry.records:
            figures += f" (the first {entry.profiled} profiled)"
        if entry.rows is not None:
            figures += f"; file: {entry.rows} rows, {entry.dropped or 0} dropped, {entry.issues or 0} issues"
        add(f"### {entry.file} — {entry.record} ({figures if entry.present else 'not in the source'})")
        if not entry.fields:
            continue
        add("")
        out += _table(
            ("Field", "Fill", "Shapes", "Distinct", "Status", "Maps to / reason"),
            (
                (
                    f.field,
                    f"{f.fill_rate:.0%}",
                    _shapes(f),
                    _distinct(f),
                    f.status.value,
                    "; ".join(f.targets) if f.targets else f.reason,
                )
                for f in entry.fields
            ),
        )
    add("")

    issues = plan.availability.issues
    add("## Source issues")
    add("")
    if issues.total:
        out += _table(("Code", "Count"), issues.by_code.items())
        add("")
        add(f"{issues.rows_dropped} row(s) were dropped. First located lines:")
        add("")
        out += [f"- {line}" for line in issues.lines[:_MAX_ISSUE_LINES]]
        if issues.total > _MAX_ISSUE_LINES:
            add(f"- … and {issues.total - _MAX_ISSUE_LINES} more (see plan.json)")
    else:
        add("None.")
    add("")

    add("## Approval")
    add("")
    add("Approving records who approved and the content hash above; a run refuses a plan that changed since.")
    return "\n".join(out) + "\n"
