"""The preflight: before any write, check that the location can take this migration's plan.

One row per check, ✔ / ⚠ / ✘ with the fix: the token, every scope the plan's features need, the
location's duplicate settings, the pipeline and its stages, the calendars and their teams, the daily
budget left against the estimate, and the published workflows that may fire on migrated contacts.

Nothing is written. Read scopes are tried with a read; write scopes with a body HighLevel must refuse as
invalid (``{}`` lacks every required field), because HighLevel checks the scope before the body: a 401
"not authorized for this scope" means the scope is missing, any other answer (a 422) that it is granted.
Rows carry ids, setting names and the practice's own object names (calendars, workflows), never patient
data.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from dentrix_highlevel._errors import (
    AuthenticationError,
    HighLevelError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
)
from dentrix_highlevel.highlevel import HighLevelClient, Location, RequestKind
from dentrix_highlevel.migration._plan.scopes import Feature, required_scopes

__all__ = ["CheckStatus", "Preflight", "PreflightCheck", "run_preflight"]


class CheckStatus(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"

    @property
    def symbol(self) -> str:
        return {"ok": "✔", "warn": "⚠", "fail": "✘"}[self.value]


@attrs.frozen(kw_only=True)
class PreflightCheck:
    """One check: what was checked, how it came out, what was seen (ids and names), and the fix."""

    check: str
    status: CheckStatus = attrs.field(converter=CheckStatus)
    detail: str
    fix: str = ""


@attrs.frozen(kw_only=True)
class Preflight:
    """The preflight's result; ``ok`` when no check failed (warnings are for a person to read)."""

    location_id: str
    checked_at: str
    checks: tuple[PreflightCheck, ...]
    requests: int
    """HighLevel requests the preflight itself sent."""

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> tuple[PreflightCheck, ...]:
        return tuple(c for c in self.checks if c.status is CheckStatus.FAIL)

    @property
    def warnings(self) -> tuple[PreflightCheck, ...]:
        return tuple(c for c in self.checks if c.status is CheckStatus.WARN)

    def render(self) -> str:
        """Plain text, one row per check (what ``dentrix-highlevel doctor`` prints)."""
        lines = []
        for c in self.checks:
            lines.append(f"{c.status.symbol} {c.check}: {c.detail}")
            if c.fix and c.status is not CheckStatus.OK:
                lines.append(f"    fix: {c.fix}")
        verdict = "passed" if self.ok else f"FAILED ({len(self.failures)} check(s))"
        lines.append(f"preflight {verdict}, {len(self.warnings)} warning(s), {self.requests} request(s)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "location_id": self.location_id,
            "checked_at": self.checked_at,
            "requests": self.requests,
            "ok": self.ok,
            "checks": [
                {"check": c.check, "status": c.status.value, "detail": c.detail, "fix": c.fix}
                for c in self.checks
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preflight:
        return cls(
            location_id=str(data["location_id"]),
            checked_at=str(data["checked_at"]),
            requests=int(data.get("requests", 0)),
            checks=tuple(
                PreflightCheck(
                    check=str(c["check"]),
                    status=c["status"],
                    detail=str(c["detail"]),
                    fix=str(c.get("fix", "")),
                )
                for c in data.get("checks", ())
            ),
        )


@attrs.frozen
class _Probe:
    """One way to try a scope without changing anything: a read, or a create HighLevel must refuse as
    invalid (``{}`` lacks every required field). ``{location}`` / ``{company}`` are filled in."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    json: Any = None
    form: Mapping[str, str] | None = None
    """Multipart fields without a file (an upload HighLevel must refuse)."""


_LOC = {"locationId": "{location}"}
_PROBES: Mapping[str, _Probe] = {
    "contacts.readonly": _Probe(
        "POST", "/contacts/search", json={"locationId": "{location}", "pageLimit": 1}
    ),
    "contacts.write": _Probe("POST", "/contacts/", json={}),
    "locations.readonly": _Probe("GET", "/locations/{location}"),
    "locations/tags.readonly": _Probe("GET", "/locations/{location}/tags"),
    "locations/tags.write": _Probe("POST", "/locations/{location}/tags", json={}),
    "locations/customFields.readonly": _Probe("GET", "/locations/{location}/customFields"),
    "locations/customFields.write": _Probe("POST", "/locations/{location}/customFields", json={}),
    "locations/customValues.readonly": _Probe("GET", "/locations/{location}/customValues"),
    "locations/customValues.write": _Probe("POST", "/locations/{location}/customValues", json={}),
    "opportunities.readonly": _Probe("GET", "/opportunities/pipelines", params=_LOC),
    "opportunities.write": _Probe("POST", "/opportunities/", json={}),
    "calendars.readonly": _Probe("GET", "/calendars/", params=_LOC),
    "calendars.write": _Probe("POST", "/calendars/", json={}),
    "calendars/events.readonly": _Probe("GET", "/calendars/events/appointments/preflight"),
    "calendars/events.write": _Probe("POST", "/calendars/events/appointments", json={}),
    "users.readonly": _Probe(
        "GET", "/users/search", params={"companyId": "{company}", "locationId": "{location}", "limit": "1"}
    ),
    "users.write": _Probe("POST", "/users/", json={}),
    "medias.readonly": _Probe(
        "GET",
        "/medias/files",
        params={
            "altType": "location",
            "altId": "{location}",
            "sortBy": "createdAt",
            "sortOrder": "desc",
            "type": "file",
            "limit": "1",
        },
    ),
    "medias.write": _Probe("POST", "/medias/upload-file", form={"hosted": "true"}),
    "associations.readonly": _Probe("GET", "/associations/", params={**_LOC, "skip": "0", "limit": "1"}),
    "associations.write": _Probe("POST", "/associations/", json={}),
    "associations/relation.readonly": _Probe(
        "GET", "/associations/relations/{location}", params={**_LOC, "skip": "0", "limit": "1"}
    ),
    "associations/relation.write": _Probe("POST", "/associations/relations", json={}),
    "workflows.readonly": _Probe("GET", "/workflows/", params=_LOC),
}


class _Scope(enum.Enum):
    GRANTED = "granted"
    MISSING = "missing"
    UNKNOWN = "unknown"


def _fill(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for name, real in ids.items():
            value = value.replace("{" + name + "}", real)
        return value
    if isinstance(value, Mapping):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


async def _probe(hl: HighLevelClient, scope: str, ids: Mapping[str, str]) -> tuple[_Scope, Any]:
    probe = _PROBES[scope]
    try:
        answer = await hl.call(
            probe.method,
            _fill(probe.path, ids),
            # Nothing here can create anything, so every probe may be retried like a read.
            kind=RequestKind.READ if probe.method == "GET" else RequestKind.IDEMPOTENT,
            params=_fill(probe.params, ids) if probe.params is not None else None,
            json=_fill(probe.json, ids) if probe.json is not None else None,
            files={k: (None, v) for k, v in probe.form.items()} if probe.form is not None else None,
        )
    except AuthenticationError as exc:
        return (_Scope.MISSING if exc.reason == "scope" else _Scope.UNKNOWN), exc
    except (TransportError, PermissionDeniedError) as exc:
        return _Scope.UNKNOWN, exc
    except HighLevelError as exc:
        if exc.status_code is not None and exc.status_code >= 500:
            return _Scope.UNKNOWN, exc
        return _Scope.GRANTED, None  # refused as invalid (or not found): past the scope check
    return _Scope.GRANTED, answer


def _features_of(scope: str, features: Iterable[Feature]) -> list[Feature]:
    return [f for f in features if any(op.scope == scope for op in f.operations)]


async def run_preflight(
    hl: HighLevelClient,
    *,
    features: Sequence[Feature],
    pipeline_name: str | None = None,
    stages: Sequence[str] = (),
    calendars: Sequence[str] = (),
    provider_users: bool = False,
    dedupe_order: Sequence[str] = ("email", "phone"),
    estimated_requests: int | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Preflight:
    """Check the location against a plan's needs (see the module docstring); reads only."""
    checks: list[PreflightCheck] = []
    sent_before = hl.requests_sent
    add = checks.append
    location_id = hl.location_id

    def done() -> Preflight:
        return Preflight(
            location_id=location_id,
            checked_at=clock().isoformat(timespec="seconds"),
            checks=tuple(checks),
            requests=hl.requests_sent - sent_before,
        )

    # -- the token ----------------------------------------------------------------------------------------
    location: Location | None = None
    try:
        location = await hl.locations.get()
        add(PreflightCheck(check="token", status="ok", detail=f"valid for location {location_id}"))
    except AuthenticationError as exc:
        if exc.reason != "scope":
            add(
                PreflightCheck(
                    check="token",
                    status="fail",
                    detail=f"HighLevel refused the token ({exc.reason})",
                    fix="generate a new Private Integration token in the sub-account (Settings → Private "
                    "Integrations) and pass it with HIGHLEVEL_TOKEN",
                )
            )
            return done()
        add(PreflightCheck(check="token", status="ok", detail="valid (it lacks locations.readonly, below)"))
    except PermissionDeniedError:
        add(
            PreflightCheck(
                check="token",
                status="fail",
                detail=f"the token has no access to location {location_id}",
                fix="use a token of this sub-account, or the right --location-id",
            )
        )
        return done()
    except (TransportError, HighLevelError) as exc:
        add(
            PreflightCheck(
                check="HighLevel",
                status="fail",
                detail=f"no usable answer ({type(exc).__name__})",
                fix="check the network, --base-url and HighLevel's status, then run again",
            )
        )
        return done()

    # -- scopes ---------------------------------------------------------------------------------------------
    ids = {"location": location_id, "company": (location.company_id if location else None) or ""}
    needed = required_scopes(features)
    granted: dict[str, _Scope] = {
        "locations.readonly": _Scope.GRANTED if location is not None else _Scope.MISSING
    }
    answers: dict[str, Any] = {}
    for scope in needed:
        if scope not in granted:
            granted[scope], answers[scope] = await _probe(hl, scope, ids)
        users = _features_of(scope, features)
        optional = all(f.optional for f in users)
        why = ", ".join(f.name for f in users)
        state = granted[scope]
        if state is _Scope.GRANTED:
            add(PreflightCheck(check=f"scope {scope}", status="ok", detail=f"granted ({why})"))
        elif state is _Scope.MISSING:
            add(
                PreflightCheck(
                    check=f"scope {scope}",
                    status="warn" if optional else "fail",
                    detail=f"not granted; needed for {why}",
                    fix=f"add {scope} to the Private Integration token's scopes (or turn the feature off)",
                )
            )
        else:
            add(
                PreflightCheck(
                    check=f"scope {scope}",
                    status="warn",
                    detail=f"could not be checked ({type(answers.get(scope)).__name__}); needed for {why}",
                    fix="run the preflight again",
                )
            )

    # -- location settings ---------------------------------------------------------------------------
    names = {f.name for f in features}
    if location is not None:
        settings = location.settings
        dup_contacts = bool(settings and settings.allow_duplicate_contact)
        add(
            PreflightCheck(
                check="duplicate contacts",
                status="ok",
                detail=(
                    "allowed: family members sharing an e-mail or phone each get their own contact"
                    if dup_contacts
                    else "not allowed: a family member sharing another's e-mail or phone is created without "
                    "it (recorded as a conflict)"
                ),
                fix="decide this with the practice before the first run, and leave it during the migration",
            )
        )
        if "opportunities" in names:
            dup_opps = bool(settings and settings.allow_duplicate_opportunity)
            add(
                PreflightCheck(
                    check="duplicate opportunities",
                    status="warn" if dup_opps else "ok",
                    detail="allowed" if dup_opps else "not allowed: one lifecycle opportunity per patient",
                    fix="turn 'Allow duplicate opportunities' off in the location's settings",
                )
            )

    if location is not None and granted.get("contacts.readonly") is _Scope.GRANTED:
        dup_allowed = bool(location.settings and location.settings.allow_duplicate_contact)
        checks.append(await _dedupe_order(hl, tuple(dedupe_order), dup_allowed))

    # -- the pipeline -------------------------------------------------------------------------------------
    if "opportunities" in names and pipeline_name is not None:
        checks.extend(await _pipeline(hl, pipeline_name, stages, granted.get("opportunities.readonly")))

    # -- calendars ------------------------------------------------------------------------------------------
    if "appointments" in names and calendars:
        checks.extend(await _calendars(hl, calendars, provider_users, granted.get("calendars.readonly")))

    # -- the daily budget -------------------------------------------------------------------------------
    remaining = hl.limiter.server_daily_remaining
    if estimated_requests is not None:
        if remaining is None:
            add(
                PreflightCheck(
                    check="daily budget", status="warn", detail="HighLevel did not say what is left today"
                )
            )
        elif remaining >= estimated_requests:
            add(
                PreflightCheck(
                    check="daily budget",
                    status="ok",
                    detail=f"{remaining} requests left today; the run needs about {estimated_requests}",
                )
            )
        else:
            days = math.ceil(estimated_requests / max(hl.limiter.budget.daily_max, 1))
            add(
                PreflightCheck(
                    check="daily budget",
                    status="warn",
                    detail=f"{remaining} requests left today; the run needs about {estimated_requests}",
                    fix=f"the run stops at the cap and resumes after the reset (about {days} day(s) in all)",
                )
            )

    # -- workflows ------------------------------------------------------------------------------------------
    if "workflow check" in names:
        checks.extend(
            await _workflows(hl, granted.get("workflows.readonly"), answers.get("workflows.readonly"))
        )
    return done()


async def _dedupe_order(hl: HighLevelClient, order: tuple[str, ...], dup_allowed: bool) -> PreflightCheck:
    """The API does not expose the location's dedupe order, but its duplicate lookup applies it: asked for
    one contact's e-mail and another's phone, it answers with the contact of the first-priority field."""
    check = "dedupe order"
    wanted = " then ".join(order)
    if dup_allowed:
        return PreflightCheck(
            check=check, status="ok", detail="duplicates allowed: HighLevel matches by e-mail, then phone"
        )
    by_email: dict[str, str] = {}
    by_phone: dict[str, str] = {}
    async for contact in hl.contacts.search(page_limit=100):
        if contact.email and not contact.phone:
            by_email.setdefault(contact.id, contact.email)
        elif contact.phone and not contact.email:
            by_phone.setdefault(contact.id, contact.phone)
        if by_email and by_phone:
            break
    if not (by_email and by_phone):
        return PreflightCheck(
            check=check,
            status="ok",
            detail=f"the plan says {wanted}; not verifiable here (no contacts to test with)",
            fix="compare with Settings → Business Profile → Contact Deduplication Preferences",
        )
    (email_owner, email), (phone_owner, phone) = next(iter(by_email.items())), next(iter(by_phone.items()))
    found = await hl.contacts.find_duplicate(email=email, phone=phone)
    seen = "email" if found is not None and found.id == email_owner else None
    seen = seen or ("phone" if found is not None and found.id == phone_owner else None)
    if seen is None:
        return PreflightCheck(
            check=check, status="warn", detail=f"the plan says {wanted}; HighLevel's answer was unclear"
        )
    if seen != order[0]:
        other = "phone,email" if seen == "phone" else "email,phone"
        return PreflightCheck(
            check=check,
            status="fail",
            detail=f"the location matches {seen} first; the plan says {wanted}",
            fix=f"plan again with --dedupe-order {other} (MigrationPolicies(dedupe_order=...))",
        )
    return PreflightCheck(
        check=check, status="ok", detail=f"the location matches {seen} first, as the plan says"
    )


async def _pipeline(
    hl: HighLevelClient, name: str, stages: Sequence[str], scope: _Scope | None
) -> list[PreflightCheck]:
    check = f"pipeline {name!r}"
    if scope is not _Scope.GRANTED:
        return [PreflightCheck(check=check, status="warn", detail="not checked (no opportunities.readonly)")]
    pipeline = await hl.pipelines.find(name=name)
    if pipeline is None:
        return [
            PreflightCheck(
                check=check,
                status="fail",
                detail="missing (the API cannot create pipelines)",
                fix=f"create it in HighLevel with the stages {', '.join(stages) or 'of your map'}",
            )
        ]
    have = {(s.name or "").casefold() for s in pipeline.stages}
    missing = [s for s in stages if s.casefold() not in have]
    if missing:
        return [
            PreflightCheck(
                check=check,
                status="fail",
                detail=f"{pipeline.id} lacks the stage(s) {', '.join(missing)}",
                fix="add the stages in HighLevel, named exactly so",
            )
        ]
    return [
        PreflightCheck(check=check, status="ok", detail=f"{pipeline.id} with {len(pipeline.stages)} stage(s)")
    ]


async def _calendars(
    hl: HighLevelClient, names: Sequence[str], provider_users: bool, scope: _Scope | None
) -> list[PreflightCheck]:
    if scope is not _Scope.GRANTED:
        return [
            PreflightCheck(check="calendars", status="warn", detail="not checked (no calendars.readonly)")
        ]
    by_name: dict[str, Any] = {}
    for calendar in await hl.calendars.list():
        if calendar.name:
            by_name.setdefault(calendar.name, calendar)
    out = []
    for name in names:
        found = by_name.get(name)
        check = f"calendar {name!r}"
        if found is None:
            team = "the providers' users" if provider_users else "no team (appointments unassigned)"
            out.append(
                PreflightCheck(
                    check=check, status="ok", detail=f"created by the migration (event calendar; {team})"
                )
            )
            continue
        members = sum(1 for m in found.team_members if isinstance(m, dict) and m.get("userId"))
        if provider_users:
            out.append(
                PreflightCheck(
                    check=check,
                    status="warn",
                    detail=f"the practice's calendar {found.id} (team of {members}): used as it is; "
                    "appointments are assigned only to users on its team",
                    fix="add the providers' users to its team in HighLevel, or their appointments are booked "
                    "unassigned",
                )
            )
        else:
            out.append(
                PreflightCheck(
                    check=check, status="ok", detail=f"the practice's calendar {found.id}: used as it is"
                )
            )
    return out


async def _workflows(hl: HighLevelClient, scope: _Scope | None, answer: Any) -> list[PreflightCheck]:
    if scope is not _Scope.GRANTED:
        return [
            PreflightCheck(
                check="workflows",
                status="warn",
                detail="not checked (no workflows.readonly)",
                fix="grant workflows.readonly, or check by hand which workflows fire on new contacts, tags "
                "or bookings and pause them for the run",
            )
        ]
    try:
        workflows = await hl.workflows.list()
    except NotFoundError:
        workflows = ()
    published = [w for w in workflows if w.published]
    if not published:
        return [
            PreflightCheck(check="workflows", status="ok", detail=f"none published ({len(workflows)} in all)")
        ]
    return [
        PreflightCheck(
            check=f"workflow {w.name or w.id!r}",
            status="warn",
            detail=f"published ({w.id}): may fire on migrated contacts",
            fix="pause it for the run (a migration that sets tags or Recall_Date on thousands of contacts "
            "must not text thousands of patients), and resume it after",
        )
        for w in published
    ]
