"""The migration commands: plan, approve, sample, run, delta, reconcile, rollback, report.

Each command reads the work directory's ``migration.json`` (source spec and destination, never a token),
``plan.json`` and the ledger, so a migration stopped in one terminal continues in another. The commands are
thin: everything they do is a call on :class:`~dentrix_highlevel.migration.Migration` or the plan.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import json
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import attrs
import click
from rich.table import Table

from dentrix_highlevel._errors import PlanError
from dentrix_highlevel._private_files import write_private
from dentrix_highlevel.cli._common import (
    CONFIG_FILENAME,
    EXIT_FAILED_RECORDS,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_STOPPED,
    EXIT_USAGE,
    RECONCILE_BUCKETS,
    AscendCredentials,
    CliFailure,
    Destination,
    DestinationFlags,
    ProgressReporter,
    SourceSpec,
    WorkdirConfig,
    ascend_options,
    console,
    debug_option,
    destination_options,
    failed_lines,
    ledger_option,
    open_source,
    print_failed,
    reconciliation_table,
    resolve_ledger,
    rollback_counts,
    run_async,
    staged_in,
    sweep_staging,
)
from dentrix_highlevel.cli._options import enum_option, shown_option
from dentrix_highlevel.highlevel import HighLevelClient
from dentrix_highlevel.mapping import (
    CdtHistoryMode,
    ClinicalNotesMode,
    DefaultMapOptions,
    PastAppointmentsMode,
    PatientPolicy,
)
from dentrix_highlevel.migration import (
    MERGEABLE_FIELDS,
    PLAN_FILENAME,
    PLAN_REPORT_FILENAME,
    CalendarLayout,
    FamilyContactPolicy,
    LocationSnapshot,
    MergePolicy,
    Migration,
    MigrationPlan,
    MigrationPolicies,
    RemovedInSourcePolicy,
    RunResult,
    RunStatus,
    build_plan,
    export_audit,
    open_existing_ledger,
    options_from_dict,
    plan_date,
)
from dentrix_highlevel.migration._state.open import ledger_exists
from dentrix_highlevel.sources._staging_dirs import (
    STAGING_DIRNAME,
    remove_kept_staging,
    remove_leftover_staging,
)

__all__ = ["COMMANDS", "report_path"]

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")

_WORKDIR = click.option(
    "--workdir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The migration's work directory (plan, approval, ledger, audit log, reports).",
)
_NO_PROGRESS = click.option("--no-progress", is_flag=True, help="Do not draw progress bars.")


def _policies(plan: MigrationPlan) -> MigrationPolicies:
    try:
        return MigrationPolicies(**dict(plan.policies))
    except (TypeError, ValueError) as exc:
        raise CliFailure(
            f"the policies in {PLAN_FILENAME} are not valid ({type(exc).__name__}); fix them"
        ) from None


def _load_plan(workdir: Path) -> MigrationPlan:
    try:
        return MigrationPlan.load(workdir)
    except PlanError as exc:
        # Names what is wrong (e.g. the option edited by hand), never a value.
        raise CliFailure(f"{exc}; fix {PLAN_FILENAME} or run `dentrix-highlevel plan` again") from None


@asynccontextmanager
async def _migration(
    workdir: Path,
    config: WorkdirConfig,
    *,
    destination: Destination,
    ascend: AscendCredentials,
    plan: MigrationPlan | None,
    source: SourceSpec | None = None,
    policies: MigrationPolicies | None = None,
    progress: ProgressReporter | None = None,
) -> AsyncIterator[Migration]:
    """The workdir's migration: its source (or ``source``, a newer export for a delta), the client and a
    :class:`Migration` on them, opened and closed together."""
    policies = policies or (_policies(plan) if plan is not None else MigrationPolicies())
    source = source or config.source
    migration_id = config.migration_id
    sweep_staging(workdir)
    async with (
        staged_in(workdir),
        open_source(source, ascend, use_env_proxy=destination.use_env_proxy, workdir=workdir) as opened,
        destination.client() as hl,
    ):

        def build(maps: Any = None, options: DefaultMapOptions | None = None) -> Migration:
            return Migration(
                opened,
                hl,
                workdir=workdir,
                maps=maps,
                options=options,
                policies=policies,
                migration_id=migration_id,
                progress=progress,
                ledger_url=config.ledger,
            )

        migration = build()
        if plan is not None:
            # The plan's choices (checked when plan.json was loaded) on the engine's as_of: the source
            # export's time, left out of the hash (a delta's newer export moves it), so the hash is the
            # approved one.
            options = options_from_dict(plan.options, as_of=migration.options.as_of)
            migration = build(options=options)
            if migration.plan_hash() != plan.content_hash:
                # plan.json was edited by hand (a changed map): run exactly the maps it holds.
                migration = build(plan.field_maps(), options)
        async with migration:
            yield migration


def _load(
    workdir: Path, destination: DestinationFlags, ledger: str | None = None
) -> tuple[WorkdirConfig, Destination, MigrationPlan]:
    offline = not (workdir / CONFIG_FILENAME).exists() and (workdir / PLAN_FILENAME).exists()
    if offline and _load_plan(workdir).location_id is None:
        raise CliFailure(
            f"the plan in {workdir} was made offline and is not checked against a sub-account: run "
            "`dentrix-highlevel plan` with --location-id and a token into a new --workdir, then approve",
            exit_code=EXIT_REFUSED,
        )
    config = WorkdirConfig.load(workdir)
    resolved = destination.resolve(config.destination)
    if not resolved.token:  # before reading anything else: the one thing every command needs
        raise CliFailure("no HighLevel token: pass --token or set HIGHLEVEL_TOKEN")
    plan = _load_plan(workdir)
    # The ledger URL in use (with --ledger's password, if given): never saved back with it.
    config = attrs.evolve(config, ledger=resolve_ledger(workdir, config.ledger, ledger))
    return config, resolved, plan


def _remember(workdir: Path, config: WorkdirConfig, resolved: Destination) -> None:
    """Keep a destination that worked (e.g. the sandbox moved to another port) for the next command."""
    if resolved != config.destination:
        attrs.evolve(config, destination=resolved).save(workdir)


def _print_result(result: RunResult, label: str, ledger_rows: Sequence[Any]) -> int:
    console.print(
        reconciliation_table(result.reconciliation, title=f"{label} {result.run_id}: {result.status.value}")
    )
    if result.audit_csv is not None:
        console.print(f"audit log: {result.audit_csv} and {result.audit_jsonl}", markup=False)
    failed = failed_lines(ledger_rows)
    print_failed(failed)
    if result.status is RunStatus.STOPPED:
        console.print(f"stopped before the end: {result.stopped_reason}", markup=False)
        console.print("the ledger keeps what was done: run the same command again to resume", markup=False)
        return EXIT_STOPPED
    if failed or not result.reconciliation.reconciles:
        return EXIT_FAILED_RECORDS
    return EXIT_OK


@attrs.frozen
class _Opened:
    """A work directory as a command on it found it (:func:`_load`): ``migration.json`` with the ledger in
    use, the destination resolved from the flags, the plan; and the Ascend flags."""

    workdir: Path
    config: WorkdirConfig
    destination: Destination
    plan: MigrationPlan
    ascend: AscendCredentials
    practice_timezone: str | None

    def on_migration(
        self,
        body: Callable[[Migration], Awaitable[_T]],
        *,
        source: SourceSpec | None = None,
        progress: ProgressReporter | None = None,
    ) -> _T:
        """``body`` on the work directory's migration, in an event loop; then the destination that worked
        is remembered."""

        async def go() -> _T:
            async with _migration(
                self.workdir,
                self.config,
                destination=self.destination,
                ascend=self.ascend,
                plan=self.plan,
                source=source,
                progress=progress,
            ) as migration:
                return await body(migration)

        result = run_async(go)
        _remember(self.workdir, self.config, self.destination)
        return result

    def runbook_step(
        self,
        no_progress: bool,
        step: Callable[[Migration], Awaitable[RunResult]],
        *,
        source: SourceSpec | None = None,
    ) -> tuple[RunResult, list[Any]]:
        """The body sample, run and delta share: ``step`` under the progress bars, then its result and the
        audit rows of its run."""
        progress = ProgressReporter(enabled=not no_progress)

        async def body(migration: Migration) -> tuple[RunResult, list[Any]]:
            with progress.shown():
                result = await step(migration)
            return result, migration.ledger.audit_rows(run_id=result.run_id)

        return self.on_migration(body, source=source, progress=progress)


def _workdir_command(
    name: str, *own: Callable[[Any], Any], progress: bool = False
) -> Callable[[Callable[..., None]], click.Command]:
    """A command on an existing work directory. Its options, in the order ``--help`` lists them: --workdir,
    --ledger, the command's ``own``, the destination and Ascend options, --no-progress (where it draws
    bars), --debug. The function gets the work directory loaded (an :class:`_Opened`, first) and its
    ``own`` options (and ``no_progress``)."""

    def make(function: Callable[..., None]) -> click.Command:
        # Inside --debug: a work directory that does not load is one sentence and an exit code.
        @functools.wraps(function)
        def loaded(
            *,
            workdir: Path,
            ledger: str | None,
            destination: DestinationFlags,
            ascend: AscendCredentials,
            practice_timezone: str | None,
            **kwargs: Any,
        ) -> None:
            config, resolved, plan = _load(workdir, destination, ledger)
            function(_Opened(workdir, config, resolved, plan, ascend, practice_timezone), **kwargs)

        decorated: Callable[..., None] = loaded
        for decorate in reversed(
            (
                _WORKDIR,
                ledger_option,
                *own,
                destination_options,
                ascend_options,
                *((_NO_PROGRESS,) if progress else ()),
                debug_option,
            )
        ):  # the innermost first, as stacked decorators apply
            decorated = decorate(decorated)
        return click.command(name)(decorated)

    return make


# --- plan -------------------------------------------------------------------------------------------------


def _folders(values: Sequence[str]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, folder_id = value.partition("=")
        if not sep or not name or not folder_id:
            raise CliFailure(
                f"--folder {value!r} is not NAME=ID; give the folder's name and its HighLevel id"
            )
        out[name] = folder_id
    return out


# A CDT code: "D" and four digits (ADA's Code on Dental Procedures and Nomenclature).
_CDT_CODE = re.compile(r"D\d{4}")


def _tracked_codes(values: Sequence[str]) -> tuple[str, ...] | None:
    """The --tracked-code values (upper-cased, first occurrence kept); None: the default list."""
    codes: list[str] = []
    for value in values:
        code = value.strip().upper()
        if not _CDT_CODE.fullmatch(code):
            raise CliFailure(f"--tracked-code {value!r} is not a CDT code (D and four digits, e.g. D0120)")
        if code not in codes:
            codes.append(code)
    return tuple(codes) or None


def _patient_policy(flag: str, default: PatientPolicy, what: str) -> Callable[[_F], _F]:
    return enum_option(
        flag,
        PatientPolicy,
        default,
        f"{what}: a contact (with or without the lifecycle opportunity), a contact DND on every channel, "
        "or skipped.",
    )


_MAP_DEFAULTS = DefaultMapOptions()


@click.command("plan")
@click.option("--source", "source_text", required=True, help="g-export:PATH (folder or .zip) or ascend:URL.")
@_WORKDIR
@ledger_option
@destination_options
@ascend_options
@enum_option(
    "--removed-in-source",
    RemovedInSourcePolicy,
    RemovedInSourcePolicy.KEEP,
    "What a delta does with a migrated patient gone from the export.",
)
@enum_option(
    "--family-contacts", FamilyContactPolicy, FamilyContactPolicy.AUTO, "Patients sharing an e-mail or phone."
)
@click.option(
    "--pipeline-name", default="Patient Lifecycle", show_default=True, help="Existing pipeline ('' for none)."
)
@click.option(
    "--calendar-name", default="Dentrix Appointments", show_default=True, help="Calendar ('' for none)."
)
@enum_option(
    "--calendars",
    CalendarLayout,
    CalendarLayout.SINGLE,
    "One calendar (--calendar-name), or one per provider / operatory.",
)
@click.option("--provider-users", is_flag=True, help="Create a HighLevel user per provider with an e-mail.")
@click.option(
    "--treatment-tasks", is_flag=True, help="A follow-up task per open treatment-plan case, on the contact."
)
@shown_option(
    "--task-due-days",
    click.IntRange(min=0),
    7,
    "Treatment tasks fall due this many days after the plan date, 09:00 practice time.",
)
@click.option(
    "--upload-documents",
    is_flag=True,
    help="Upload documents without a hosted URL whose file is in the export (HighLevel media, 25 MB max).",
)
@click.option(
    "--upload-unverified-documents",
    is_flag=True,
    help="With --upload-documents, also upload files whose export row has no sha256 (off: listed instead).",
)
@click.option(
    "--folder", "folders", multiple=True, metavar="NAME=ID", help="A custom field folder made by the admin."
)
@click.option(
    "--family-associations",
    is_flag=True,
    help="Link each family member's contact to its guarantor's contact (a contact-contact association).",
)
@click.option(
    "--no-journal-notes", is_flag=True, help="Do not migrate Office Journal entries as contact Notes."
)
@click.option(
    "--no-overflow-notes",
    is_flag=True,
    help="Do not write a Note with what a long-text field cuts off (the field keeps the first part).",
)
@enum_option(
    "--past-appointments",
    PastAppointmentsMode,
    _MAP_DEFAULTS.past_appointments,
    "Past appointments as a Visit History field on the contact, or as calendar events too.",
)
@enum_option(
    "--cdt-history",
    CdtHistoryMode,
    _MAP_DEFAULTS.cdt_history,
    "Completed procedures as one CDT Code History field, or one date field per tracked code.",
)
@click.option(
    "--tracked-code",
    "tracked_codes",
    multiple=True,
    metavar="CODE",
    help="A CDT code with its own last-date field under --cdt-history per_code (repeat; replaces the "
    f"default list {' '.join(_MAP_DEFAULTS.tracked_codes)}).",
)
@enum_option(
    "--clinical-notes",
    ClinicalNotesMode,
    _MAP_DEFAULTS.clinical_notes,
    "Clinical notes into a Clinical Notes field, one contact Note each, or both.",
)
@shown_option(
    "--long-text-limit-chars",
    click.IntRange(min=200),
    _MAP_DEFAULTS.long_text_limit_chars,
    "Characters a long-text summary field keeps; the rest goes to a Note.",
)
@shown_option(
    "--inactive-after-months",
    click.IntRange(min=1),
    _MAP_DEFAULTS.inactive_after_months,
    "Months since the last visit after which the lifecycle opportunity is at stage Inactive.",
)
@_patient_policy("--non-patient", _MAP_DEFAULTS.non_patient, "Non-patient guarantors")
@_patient_policy("--archived", _MAP_DEFAULTS.archived, "Archived (incl. deceased) patients")
@_patient_policy("--inactive", _MAP_DEFAULTS.inactive, "Inactive patients")
@shown_option(
    "--dedupe-order",
    click.Choice(["email,phone", "phone,email", "email", "phone"]),
    "email,phone",
    "The location's Contact Deduplication Preferences (Settings → Business Profile): the contact "
    "point HighLevel matches first. The API does not expose it; the preflight checks it where it can.",
)
@click.option(
    "--overwrite-field",
    "overwrite_fields",
    multiple=True,
    type=click.Choice(list(MERGEABLE_FIELDS)),
    metavar="FIELD",
    help="A standard contact field where the patient's value replaces what the practice filled in on a "
    "contact it already has (repeat). By default the practice's value is kept (fill-empty).",
)
@click.option(
    "--move-adopted-opportunities",
    is_flag=True,
    help="Move an opportunity the practice's contact already has in the pipeline to the patient's stage "
    "(its name and value always stay as the practice set them).",
)
@click.option("--migration-id", default="dentrix-highlevel", show_default=True, help="Names this migration.")
@click.option(
    "--offline",
    is_flag=True,
    help="Plan from the export alone, before any HighLevel access exists: the Data Availability Report, "
    "the field-mapping plan and the estimate, marked as not yet checked against the sub-account.",
)
@click.option(
    "--practice-id",
    default=None,
    metavar="ID",
    help="The practice namespace of the source keys in HighLevel (default: the source's practice id). "
    "Set it when two offices exported under one practice id go into one location.",
)
@debug_option
def plan_command(
    source_text: str,
    workdir: Path,
    ledger: str | None,
    destination: DestinationFlags,
    ascend: AscendCredentials,
    practice_timezone: str | None,
    removed_in_source: str,
    family_contacts: str,
    pipeline_name: str,
    calendar_name: str,
    calendars: str,
    provider_users: bool,
    treatment_tasks: bool,
    task_due_days: int,
    upload_documents: bool,
    upload_unverified_documents: bool,
    folders: tuple[str, ...],
    family_associations: bool,
    no_journal_notes: bool,
    no_overflow_notes: bool,
    past_appointments: str,
    cdt_history: str,
    tracked_codes: tuple[str, ...],
    clinical_notes: str,
    long_text_limit_chars: int,
    inactive_after_months: int,
    non_patient: str,
    archived: str,
    inactive: str,
    dedupe_order: str,
    overwrite_fields: tuple[str, ...],
    move_adopted_opportunities: bool,
    migration_id: str,
    offline: bool,
    practice_id: str | None,
) -> None:
    """Read the source and the HighLevel location and write the mapping plan (plan.md, plan.json).

    The location is read first, then the export is staged: an unreachable or refusing HighLevel ends the
    command before the export's staging time is spent. ``--offline`` reads the export alone.
    """
    spec = SourceSpec.parse(source_text, practice_timezone=practice_timezone)
    codes = _tracked_codes(tracked_codes)
    # The map options but as_of, which the engine takes from the export (see go()).
    choices: dict[str, Any] = {
        "past_appointments": PastAppointmentsMode(past_appointments),
        "cdt_history": CdtHistoryMode(cdt_history),
        "clinical_notes": ClinicalNotesMode(clinical_notes),
        "long_text_limit_chars": long_text_limit_chars,
        "inactive_after_months": inactive_after_months,
        "non_patient": PatientPolicy(non_patient),
        "archived": PatientPolicy(archived),
        "inactive": PatientPolicy(inactive),
        **({"tracked_codes": codes} if codes is not None else {}),
    }
    if spec.kind == "ascend":
        spec = attrs.evolve(spec, organization_id=ascend.organization_id)
    existing = WorkdirConfig.load_optional(workdir)
    if existing is not None and existing.migration_id != migration_id:
        raise CliFailure(
            f"this work directory holds migration {existing.migration_id!r}; use another --workdir",
        )
    ledger_url = resolve_ledger(workdir, existing.ledger if existing is not None else None, ledger)
    policies = MigrationPolicies(
        removed_in_source=RemovedInSourcePolicy(removed_in_source),
        family_contacts=FamilyContactPolicy(family_contacts),
        pipeline_name=pipeline_name or None,
        calendar_name=calendar_name or None,
        calendars=CalendarLayout(calendars),
        provider_users=provider_users,
        treatment_tasks=treatment_tasks,
        task_due_days=task_due_days,
        field_folders=_folders(folders),
        upload_documents=upload_documents,
        upload_unverified_documents=upload_unverified_documents,
        family_associations=family_associations,
        journal_notes=not no_journal_notes,
        overflow_notes=not no_overflow_notes,
        merge=MergePolicy(overwrite=overwrite_fields, move_adopted_opportunities=move_adopted_opportunities),
        dedupe_order=dedupe_order.split(","),
        practice_id=practice_id or None,
    )
    folder_ids = dict(policies.field_folders)
    if offline:
        _plan_offline(workdir, spec, ascend, choices, policies, destination.use_env_proxy)
        return
    resolved = destination.resolve(existing.destination if existing else None)

    async def go() -> MigrationPlan:
        # The source is made (its settings and credentials checked) but not opened; then HighLevel is read
        # (reads only): a wrong token or an unreachable location fails in seconds, before the export is
        # staged (inside the work directory).
        source = open_source(spec, ascend, use_env_proxy=resolved.use_env_proxy, workdir=workdir)
        check = getattr(source, "check", None)
        if callable(check):  # the export's manifest, required files and encodings: cheap, located
            await anyio.to_thread.run_sync(check)
        async with resolved.client() as hl:
            location = await LocationSnapshot.read(
                hl,
                folders=folder_ids,
                pipeline_name=policies.pipeline_name,
                users=policies.provider_users,
            )
            async with staged_in(workdir), source:
                return await _checked_plan(source, hl, location)

    async def _checked_plan(source: Any, hl: HighLevelClient, location: LocationSnapshot) -> MigrationPlan:
        migration = Migration(source, hl, workdir=workdir, policies=policies, migration_id=migration_id)
        # The engine's as_of (the export's time) with the chosen options: the plan the engine runs.
        options = attrs.evolve(migration.options, **choices)
        built = await build_plan(source, options=options, policies=policies, location=location)
        # The plan is checked against the location before anyone approves it (reads only).
        migration = Migration(
            source, hl, workdir=workdir, options=options, policies=policies, migration_id=migration_id
        )
        checked = await migration.preflight(plan=built)
        return attrs.evolve(built, preflight=checked.to_dict())

    sweep_staging(workdir)
    console.print(f"planning {spec} -> HighLevel location {resolved.location_id} ...", markup=False)
    # The same lock as run: a plan rewritten under a running migration would change what it is running.
    where = ledger_url if ledger_url is not None else workdir
    held = open_existing_ledger(where, exclusive=True) if ledger_exists(where) else None
    try:
        new = run_async(go)
        previous = _load_plan(workdir) if (workdir / PLAN_FILENAME).exists() else None
        if previous is not None and previous.source.fingerprint != new.source.fingerprint:
            raise CliFailure(
                f"{workdir} holds the migration of another practice ({previous.source.fingerprint}, not "
                f"{new.source.fingerprint}); use a new --workdir"
            )
        new.save(workdir)
        history = existing.history if existing is not None else ()
        WorkdirConfig(
            migration_id=migration_id, source=spec, destination=resolved, history=history, ledger=ledger_url
        ).save(workdir)
    finally:
        if held is not None:
            held.close()
    summary = Table(show_header=False, title="Migration plan", title_justify="left")
    summary.add_row("patients", str(new.source.patients))
    summary.add_row("custom fields to create", str(sum(1 for f in new.custom_fields if f.action == "create")))
    summary.add_row("folders to create first", ", ".join(new.folders_to_create) or "none")
    summary.add_row("warnings", str(len(new.warnings)))
    summary.add_row("estimated requests", str(new.estimate.total_requests))
    summary.add_row("plan hash", new.content_hash)
    console.print(summary)
    checked = new.preflight_result()
    if checked is not None:
        console.print(checked.render(), markup=False)
    if previous is not None:
        changes = previous.diff(new)
        console.print(
            "changes since the previous plan: " + ("; ".join(changes) if changes else "none"), markup=False
        )
    if checked is not None and not checked.ok:
        console.print(
            "the preflight failed: fix what it lists, then `dentrix-highlevel doctor` checks again",
            markup=False,
        )
    console.print(f"review {workdir / PLAN_REPORT_FILENAME}, then approve:", markup=False)
    console.print(f"  dentrix-highlevel approve --workdir {workdir} --by NAME", markup=False)


def _plan_offline(
    workdir: Path,
    spec: SourceSpec,
    ascend: AscendCredentials,
    choices: dict[str, Any],
    policies: MigrationPolicies,
    use_env_proxy: bool,
) -> None:
    """``plan --offline``: the export alone (the step a practice does before any HighLevel access exists).
    The plan is written but marked as not checked against a sub-account; ``approve`` refuses it and the
    work directory gets no ``migration.json`` until ``plan`` runs with a location."""
    if (workdir / CONFIG_FILENAME).exists():
        raise CliFailure(
            f"{workdir} already plans against a HighLevel location; plan offline into a new --workdir"
        )

    async def go() -> MigrationPlan:
        async with (
            staged_in(workdir),
            open_source(spec, ascend, use_env_proxy=use_env_proxy, workdir=workdir) as source,
        ):
            options = DefaultMapOptions(as_of=plan_date(source), **choices)
            return await build_plan(source, options=options, policies=policies)

    sweep_staging(workdir)  # a partial staging of a killed command: never reused, removed now
    console.print(f"planning {spec} offline (no HighLevel location read) ...", markup=False)
    new = run_async(go)
    new.save(workdir)
    summary = Table(show_header=False, title="Migration plan (offline)", title_justify="left")
    summary.add_row("patients", str(new.source.patients))
    summary.add_row("custom fields the default maps need", str(len(new.custom_fields)))
    summary.add_row("warnings", str(len(new.warnings)))
    summary.add_row("estimated requests", str(new.estimate.total_requests))
    console.print(summary)
    console.print(
        f"review {workdir / PLAN_REPORT_FILENAME}: the Data Availability Report and the", markup=False
    )
    console.print(
        "field-mapping plan, not yet checked against the sub-account. When HighLevel access exists:",
        markup=False,
    )
    console.print(
        f"  dentrix-highlevel plan --source {spec} --workdir NEW_DIR --location-id ID", markup=False
    )


# --- approve ----------------------------------------------------------------------------------------------


@_workdir_command(
    "approve",
    click.option(
        "--by", "approved_by", required=True, help="Who approves (a staff identity, e.g. an e-mail)."
    ),
    click.option(
        "--force", is_flag=True, help="Approve although the plan's preflight failed (needs --reason)."
    ),
    click.option(
        "--reason", default=None, help="Why a plan whose preflight failed is approved (with --force)."
    ),
)
def approve_command(opened: _Opened, approved_by: str, force: bool, reason: str | None) -> None:
    """Record that NAME approved the plan in the work directory, exactly as it is now."""
    workdir, plan = opened.workdir, opened.plan
    if not approved_by.strip():
        raise CliFailure("--by needs the approver's name or e-mail")
    if force and not (reason or "").strip():
        raise CliFailure("--force needs --reason: say why the failed preflight is accepted")
    if reason is not None and not force:
        raise CliFailure("--reason goes with --force")
    checked = plan.preflight_result()
    if checked is not None and not checked.ok and not force:
        failed = ", ".join(c.check for c in checked.failures)
        raise CliFailure(
            f"the plan's preflight failed ({failed}): fix the location and run `dentrix-highlevel doctor "
            f"--workdir {workdir}`, or approve with --force --reason TEXT",
            exit_code=EXIT_REFUSED,
        )

    async def approve(migration: Migration) -> str:
        if migration.plan_hash() != plan.content_hash:
            raise CliFailure(
                f"{PLAN_FILENAME} no longer matches the source or its maps are not valid for it; "
                "run plan again and review it before approving",
                exit_code=EXIT_REFUSED,
            )
        return migration.approve(
            by=approved_by.strip(), preflight=checked, force_reason=reason if force else None
        ).plan_hash

    approved = opened.on_migration(approve)
    forced = " (forced past a failed preflight)" if force and checked is not None and not checked.ok else ""
    console.print(f"plan {approved} approved by {approved_by.strip()}{forced}", markup=False)
    console.print(f"next: dentrix-highlevel sample --workdir {workdir} --size 25", markup=False)


# --- doctor ---------------------------------------------------------------------------------------------


@_workdir_command("doctor")
def doctor_command(opened: _Opened) -> None:
    """Check, without writing, that the location can take the plan: token, scopes, settings, pipeline,
    calendars, daily budget, workflows. Records the result in the plan; exit 2 when a check fails."""
    plan = opened.plan
    checked = opened.on_migration(lambda migration: migration.preflight(plan=plan))
    # The result goes into the plan (plan.json and plan.md); the content hash, and so an approval, stays.
    attrs.evolve(plan, preflight=checked.to_dict()).save(opened.workdir)
    console.print(checked.render(), markup=False)
    sys.exit(EXIT_OK if checked.ok else EXIT_USAGE)


# --- sample / run / delta ---------------------------------------------------------------------------------


def _sample_summary(path: Path) -> tuple[Counter[str], list[str]]:
    verdicts: Counter[str] = Counter()
    problems: list[str] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            verdict = row.get("verdict", "")
            verdicts[verdict] += 1
            if verdict in ("mismatch", "missing"):
                # ids and field names only: the report file itself holds the values
                problems.append(f"{row.get('source_key')} {row.get('object')}.{row.get('field')}: {verdict}")
    return verdicts, problems


@_workdir_command(
    "sample",
    click.option(
        "--size", type=click.IntRange(min=1), default=25, show_default=True, help="Patients in the sample."
    ),
    progress=True,
)
def sample_command(opened: _Opened, size: int, no_progress: bool) -> None:
    """Migrate a stratified sample, read it back and write the field-level diff report."""
    result, rows = opened.runbook_step(no_progress, lambda migration: migration.sample(size))
    code = _print_result(result, "sample", rows)
    if result.report is not None:
        verdicts, problems = _sample_summary(result.report)
        console.print(
            "field diff: " + ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items()))
            if verdicts
            else "field diff: empty",
            markup=False,
        )
        for line in problems[:30]:
            console.print(f"  {line}", markup=False)
        if len(problems) > 30:
            console.print(f"  ... and {len(problems) - 30} more", markup=False)
        console.print(f"diff report (holds patient values, keep it private): {result.report}", markup=False)
        if problems and code == EXIT_OK:
            code = EXIT_FAILED_RECORDS
    sys.exit(code)


@_workdir_command("run", progress=True)
def run_command(opened: _Opened, no_progress: bool) -> None:
    """The full run (resumes an unfinished one); refuses an unapproved or changed plan."""
    result, rows = opened.runbook_step(no_progress, lambda migration: migration.run())
    sys.exit(_print_result(result, "run", rows))


@_workdir_command(
    "delta",
    click.option(
        "--source", "source_text", required=True, help="The newer export: g-export:PATH or ascend:URL."
    ),
    progress=True,
)
def delta_command(opened: _Opened, source_text: str, no_progress: bool) -> None:
    """Send only what is new or changed in a newer export (patients gone from it per the plan's policy)."""
    config = opened.config
    spec = SourceSpec.parse(
        source_text, practice_timezone=opened.practice_timezone or config.source.practice_timezone
    )
    if spec.kind != config.source.kind:
        raise CliFailure(
            f"this migration reads a {config.source.kind} source; give --source {config.source.kind}:..."
        )
    if spec.kind == "ascend":
        spec = attrs.evolve(
            spec, organization_id=opened.ascend.organization_id or config.source.organization_id
        )
    # Built on the newer source: the ledger (keyed on the practice) refuses another practice's export.
    result, rows = opened.runbook_step(no_progress, lambda migration: migration.delta(), source=spec)
    history = config.history if str(config.source) == str(spec) else (*config.history, str(config.source))
    attrs.evolve(config, source=spec, destination=opened.destination, history=history).save(opened.workdir)
    sys.exit(_print_result(result, "delta", rows))


# --- reconcile / rollback / report ------------------------------------------------------------------------


@_workdir_command("reconcile")
def reconcile_command(opened: _Opened) -> None:
    """Account for every source record per kind and re-read every migrated contact against the plan."""

    async def reconcile(migration: Migration) -> Any:
        return await migration.reconcile(), migration.ledger.records()

    result, records = opened.on_migration(reconcile)
    console.print(reconciliation_table(result.reconciliation, title="reconciliation (all runs)"))
    console.print(
        f"{result.checked} contact(s) re-read; {len(result.mismatches)} field mismatch(es)", markup=False
    )
    for key, field in result.mismatches[:50]:
        console.print(f"  {key}: {field}", markup=False)
    if len(result.mismatches) > 50:
        console.print(f"  ... and {len(result.mismatches) - 50} more", markup=False)
    failed = failed_lines(records)
    print_failed(failed)
    console.print(f"saved: {result.path}", markup=False)
    sys.exit(EXIT_OK if result.ok and not failed else EXIT_FAILED_RECORDS)


@_workdir_command(
    "rollback",
    click.option("--yes", is_flag=True, help="Do not ask for confirmation on a terminal."),
    progress=True,
)
def rollback_command(opened: _Opened, yes: bool, no_progress: bool) -> None:
    """Delete what the migration created and restore what it changed (idempotent, resumable)."""
    if not yes and sys.stdin.isatty():
        click.confirm(
            f"Roll back everything this migration did in location {opened.destination.location_id}?",
            abort=True,
        )

    async def rollback(migration: Migration) -> tuple[RunResult, list[Any], tuple[int, int]]:
        # This command's own totals: the ledger's are cumulative, and a rollback with nothing left to do
        # must say 0, not repeat what an earlier one did.
        before = rollback_counts(migration.ledger)
        result = await migration.rollback()
        after = rollback_counts(migration.ledger)
        return (
            result,
            migration.ledger.audit_rows(run_id=result.run_id),
            (after[0] - before[0], after[1] - before[1]),
        )

    result, rows, (deleted, restored) = opened.on_migration(rollback)
    if result.status is RunStatus.STOPPED:
        console.print(f"rollback stopped: {result.stopped_reason}; run it again to finish", markup=False)
        sys.exit(EXIT_STOPPED)
    console.print(
        f"rollback {result.run_id}: {result.status.value}; {deleted} created object(s) deleted, "
        f"{restored} existing contact(s) restored",
        markup=False,
    )
    failed = failed_lines(rows)
    print_failed(failed)
    sys.exit(EXIT_FAILED_RECORDS if failed else EXIT_OK)


@_workdir_command("recover")
def recover_command(opened: _Opened) -> None:
    """Rebuild a lost (new or empty) ledger from HighLevel: contacts by Source System ID and Source
    Practice ID, uploads by name; then `run` continues and `reconcile` / `rollback` work as before."""
    adopted = opened.on_migration(lambda migration: migration.recover())
    console.print(
        f"recovered {adopted} object(s) from location {opened.destination.location_id}; approve the plan "
        "and run `dentrix-highlevel run` to finish (objects HighLevel already holds are not created again)",
        markup=False,
    )
    sys.exit(EXIT_OK)


def report_path(workdir: Path) -> Path:
    return workdir / "report.md"


def _when(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


@click.command("report")
@_WORKDIR
@ledger_option
@debug_option
def report_command(workdir: Path, ledger: str | None) -> None:
    """Summarise the work directory offline (plan, approval, runs, failed records) into report.md."""
    sweep_staging(workdir)
    config = WorkdirConfig.load(workdir)
    plan = _load_plan(workdir)
    approved, runs, attempts, records, rows = None, [], [], [], []
    ledger_url = resolve_ledger(workdir, config.ledger, ledger)
    where = ledger_url if ledger_url is not None else workdir
    if ledger_exists(where):  # no ledger yet: planned, nothing approved or run
        opened = open_existing_ledger(where)
        try:
            approved = opened.approved_plan()
            runs = opened.runs()
            attempts = opened.attempts()
            records = opened.records()
            rows = opened.audit_rows()
        finally:
            opened.close()
    export_audit(rows, workdir / "audit.csv")
    export_audit(rows, workdir / "audit.jsonl")
    saved = workdir / "reconciliation.json"
    states = Counter((r.kind, r.action.value) for r in records)
    lines = [
        "# Migration report",
        "",
        f"- source: `{config.source}`"
        + (f" (earlier: {', '.join(config.history)})" if config.history else ""),
        f"- destination: location `{config.destination.location_id}` at {config.destination.base_url}",
        f"- plan: `{plan.content_hash}` ({plan.source.patients} patients, "
        f"{plan.estimate.total_requests} requests estimated)",
        "- approval: "
        + (
            f"`{approved.plan_hash}` by {approved.approved_by} at {_when(approved.approved_at)}"
            + (
                ""
                if approved.plan_hash == plan.content_hash
                else " (NOT the current plan.json: approve again)"
            )
            if approved is not None
            else "none yet"
        ),
        "",
        "## Runs",
        "",
        "| run | mode | status | started | finished |",
        "|---|---|---|---|---|",
        *(
            f"| {r.run_id} | {r.mode.value} | {r.status.value} | {_when(r.started_at)} "
            f"| {_when(r.finished_at)} |"
            for r in runs
        ),
        "",
        "## Attempts",
        "",
        "A run stopped (Ctrl-C, SIGTERM, the daily cap, a lost connection) or killed and then resumed",
        "keeps its run id, with one attempt per process.",
        "",
        "| run | attempt | status | started | ended |",
        "|---|---|---|---|---|",
        *(
            f"| {a.run_id} | {a.attempt} | {a.status.value} | {_when(a.started_at)} | {_when(a.ended_at)} |"
            for a in attempts
        ),
        "",
        "## Latest state per kind and action",
        "",
        "| kind | action | records |",
        "|---|---|---|",
        *(f"| {kind} | {action} | {n} |" for (kind, action), n in sorted(states.items())),
        "",
    ]
    failed = failed_lines(records)
    lines += ["## Failed records", "", *(f"- {line}" for line in failed or ["none"]), ""]
    if saved.exists():
        lines += ["## Last reconciliation", "", "```", saved.read_text("utf-8").rstrip(), "```", ""]
    path = report_path(workdir)
    write_private(path, "\n".join(lines))
    table = Table(title=f"runs in {workdir}", title_justify="left")
    for name in ("run", "mode", "status", "started", "finished"):
        table.add_column(name)
    for r in runs:
        table.add_row(r.run_id, r.mode.value, r.status.value, _when(r.started_at), _when(r.finished_at))
    console.print(table)
    console.print(
        "approval: " + (f"{approved.plan_hash[:12]} by {approved.approved_by}" if approved else "none yet"),
        markup=False,
    )
    kinds = json.loads(saved.read_text("utf-8")).get("kinds", []) if saved.exists() else []
    if kinds:
        last = Table(title="last reconciliation (of the last operation)", title_justify="left")
        columns = ("kind", "source", "removed", *RECONCILE_BUCKETS)
        for name in columns:
            last.add_column(name, justify="left" if name == "kind" else "right")
        for kind in kinds:
            # A reconciliation.json saved before the removed column existed had nothing removed.
            last.add_row(*(str(kind.get(name, 0 if name == "removed" else "")) for name in columns))
        console.print(last)
    if failed:
        print_failed(failed)
    else:
        console.print("0 failed record(s)", markup=False)
    console.print(
        f"report: {path}; audit log: {workdir / 'audit.csv'}, {workdir / 'audit.jsonl'}", markup=False
    )


# --- clean ------------------------------------------------------------------------------------------------

#: What ``report`` rewrites from the ledger (and from ``plan.json`` / ``migration.json``) whenever it runs.
REGENERABLE_FILES = ("report.md", "audit.csv", "audit.jsonl")


@click.command("clean")
@_WORKDIR
@debug_option
def clean_command(workdir: Path) -> None:
    """Remove the work directory's regenerable files (the staged export copy, reports); never the ledger.

    Removed: the staged copy of the export (kept for the next command; it holds the whole export), the
    staging a stopped command left, and report.md, audit.csv and audit.jsonl (`report` writes them again
    from the ledger). Kept: the ledger, migration.json, the plan, the approval, the sample diffs and
    reconciliation.json."""
    if not (workdir / CONFIG_FILENAME).is_file():
        raise CliFailure(
            f"{workdir} is not a migration's work directory (no {CONFIG_FILENAME}); nothing removed"
        )
    staging = workdir / STAGING_DIRNAME
    removed = [*remove_kept_staging(staging), *remove_leftover_staging(staging)]
    for name in REGENERABLE_FILES:
        path = workdir / name
        if path.is_file():
            path.unlink()
            removed.append(path)
    with contextlib.suppress(OSError):  # not empty: a command still running there keeps its copy
        staging.rmdir()
    for path in removed:
        console.print(f"removed {path}", markup=False)
    console.print(
        f"{len(removed)} regenerable item(s) removed from {workdir}; the ledger, migration.json, the plan, "
        "the approval, sample diffs and reconciliation.json are kept",
        markup=False,
    )


COMMANDS = (
    plan_command,
    doctor_command,
    approve_command,
    sample_command,
    run_command,
    delta_command,
    reconcile_command,
    rollback_command,
    recover_command,
    report_command,
    clean_command,
)
