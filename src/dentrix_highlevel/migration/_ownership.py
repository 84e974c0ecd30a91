"""Which ledger owns a practice's migration in a location: HighLevel as the second source of truth.

The ledger lives in one work directory; HighLevel does not know it. Deleted, or copied (``cp -a``) and run
beside the original, a ledger that does not know what is already in the location would create every patient
again. So the location records the owner: a location custom value named
``dentrix_highlevel_migration_<namespace>`` holding ``<migration id> <ledger token>``. The token is random,
kept in the ledger, written at the first run and rotated by ``recover`` (the location's value first, then
the ledger): a ledger whose token the location does not hold is refused. A ledger that is new or empty on a
location that already holds its practice's migration is refused too, with the way out: ``dentrix-highlevel
recover`` (``Migration.recover()``) rebuilds the ledger from HighLevel (contacts by Source System ID +
Source Practice ID, uploads by their namespaced names, and every other object by its lookup before the next
create).
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import anyio

from dentrix_highlevel._errors import PlanError
from dentrix_highlevel.highlevel import CustomValueInput, HighLevelClient
from dentrix_highlevel.migration._identity import namespace_slug
from dentrix_highlevel.migration._ledger import Ledger

__all__ = [
    "OwnershipError",
    "claim_location",
    "ledger_is_empty",
    "marker_name",
    "read_owner",
    "release_location",
]


class OwnershipError(PlanError):
    """The location's migration of this practice belongs to another (or a lost) ledger."""


def marker_name(namespace: str) -> str:
    return f"dentrix_highlevel_migration_{namespace_slug(namespace)}"


def ledger_is_empty(ledger: Ledger) -> bool:
    """Nothing created, changed or recorded: a new ledger (or one whose file was deleted)."""
    return not ledger.created_objects(include_rolled_back=True) and not ledger.records()


async def read_owner(hl: HighLevelClient, namespace: str) -> tuple[str, str, str, str] | None:
    """(custom value id, migration id, token, started) of the location's owner record, or None.
    ``started`` is when the migration first claimed the location (UTC ISO): ``recover`` counts a contact
    added before it as the practice's own (merged into, never deleted by rollback)."""
    found = await hl.custom_values.find(name=marker_name(namespace))
    if found is None:
        return None
    parts = (found.value or "").split()
    return (found.id, parts[0], parts[1], parts[2]) if len(parts) == 3 else (found.id, "", "", "")


async def claim_location(
    hl: HighLevelClient,
    ledger: Ledger,
    *,
    namespace: str,
    migration_id: str,
    workdir: Path,
    recovering: bool = False,
    create: bool = True,
) -> None:
    """Refuse a ledger that does not own this practice's migration in the location; else rotate the token
    (location first: a crash in between leaves the ledger's ``next`` token, accepted next time)."""
    owner = await read_owner(hl, namespace)
    current = await anyio.to_thread.run_sync(ledger.note, "ledger_token")
    pending = await anyio.to_thread.run_sync(ledger.note, "ledger_token_next")
    empty = await anyio.to_thread.run_sync(ledger_is_empty, ledger)
    if owner is not None and not recovering and owner[2] not in {t for t in (current, pending) if t}:
        where = f"location {hl.location_id} already holds migration {owner[1] or '?'} of practice {namespace}"
        if empty:
            raise OwnershipError(
                f"{where}, but the ledger in {workdir} is new or empty: run `dentrix-highlevel recover "
                f"--workdir {workdir}` to rebuild it from HighLevel (or use the original work directory)"
            )
        raise OwnershipError(
            f"{where}, written by another copy of this work directory: the ledger in {workdir} is "
            "stale; use the work directory that ran last, or start over with `recover` in a new one"
        )
    if owner is None and not create:
        return  # a rollback: it never claims a location that records no owner (released, or pre-dating it)
    if owner is not None and owner[2] == current and not recovering:
        # The owner already: nothing to write (a re-run with nothing to do sends no write at all). The
        # token is not rotated per run for that reason, so a copy made of a work directory is only told
        # apart once one of the two recovers or rolls back (see docs/reliability.md, known gaps).
        return
    token = secrets.token_hex(12)
    await anyio.to_thread.run_sync(ledger.set_note, "ledger_token_next", token)
    started = (
        owner[3] if owner is not None and owner[3] else dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    value = CustomValueInput(name=marker_name(namespace), value=f"{migration_id} {token} {started}")
    if owner is None:
        await hl.custom_values.create(value)
    else:
        await hl.custom_values.update(owner[0], value)
    await anyio.to_thread.run_sync(ledger.set_note, "ledger_token", token)


async def release_location(hl: HighLevelClient, ledger: Ledger, *, namespace: str) -> None:
    """After a completed rollback the location no longer holds the migration: its owner record goes."""
    owner = await read_owner(hl, namespace)
    token = await anyio.to_thread.run_sync(ledger.note, "ledger_token")
    if owner is not None and owner[2] == token:
        await hl.custom_values.delete(owner[0])
