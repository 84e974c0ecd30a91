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

A copy made *while* a run writes shares that run's token, so the value also holds a lease while a run
writes: ``<run id>@<work directory fingerprint>`` (a hash of the host name and the work directory's path),
taken just before the run's first write (a re-run with nothing to do sends nothing) and cleared, with the
token rotated, when the run ends. Another work directory is refused while a lease of another one stands (a
run in flight, or one stopped or killed there: it resumes from there); a copy whose run's lease was cleared
holds the old token and is refused as stale.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import socket
from pathlib import Path

import anyio

from dentrix_highlevel._errors import PlanError
from dentrix_highlevel.highlevel import CustomValueInput, HighLevelClient
from dentrix_highlevel.migration._engine.identity import namespace_slug
from dentrix_highlevel.migration._state.ledger import Ledger
from dentrix_highlevel.migration._state.setup_record import SetupRecord

__all__ = [
    "OwnershipError",
    "claim_location",
    "end_lease",
    "ledger_is_empty",
    "marker_name",
    "read_owner",
    "release_location",
    "take_lease",
    "workdir_fingerprint",
]


class OwnershipError(PlanError):
    """The location's migration of this practice belongs to another (or a lost) ledger."""


def marker_name(namespace: str) -> str:
    return f"dentrix_highlevel_migration_{namespace_slug(namespace)}"


def ledger_is_empty(ledger: Ledger) -> bool:
    """Nothing created, changed or recorded: a new ledger (or one whose file was deleted)."""
    return not ledger.created_objects(include_rolled_back=True) and not ledger.records()


def workdir_fingerprint(workdir: Path) -> str:
    """Which work directory holds a lease: the host and the path (a ``cp -a`` copy has another path)."""
    where = f"{socket.gethostname()}\0{workdir.resolve()}"
    return hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:16]


async def read_owner(hl: HighLevelClient, namespace: str) -> tuple[str, str, str, str, str] | None:
    """(custom value id, migration id, token, started, lease) of the location's owner record, or None.
    ``started`` is when the migration first claimed the location (UTC ISO): ``recover`` counts a contact
    added before it as the practice's own (merged into, never deleted by rollback). ``lease`` is
    ``<run id>@<work directory fingerprint>`` while a run writes (or stopped writing there), else ``""``."""
    found = await hl.custom_values.find(name=marker_name(namespace))
    if found is None:
        return None
    parts = (found.value or "").split()
    if len(parts) in (3, 4):
        return (found.id, parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else "")
    return (found.id, "", "", "", "")


def _lease_where(lease: str) -> str:
    return lease.rpartition("@")[2]


async def claim_location(
    hl: HighLevelClient,
    ledger: Ledger,
    *,
    namespace: str,
    migration_id: str,
    workdir: Path,
    recovering: bool = False,
    create: bool = True,
) -> bool:
    """Refuse a ledger that does not own this practice's migration in the location; else rotate the token
    (location first: a crash in between leaves the ledger's ``next`` token, accepted next time). True when
    the location holds a lease of this work directory (a run stopped here): the run ends it."""
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
    if (
        owner is not None
        and owner[4]
        and not recovering
        and _lease_where(owner[4]) != workdir_fingerprint(workdir)
    ):
        raise OwnershipError(
            f"location {hl.location_id} is being written by run {owner[4].partition('@')[0]} of migration "
            f"{owner[1] or '?'} from another work directory (a copy of {workdir}, or the original of this "
            "copy), or a run stopped there: finish it in that work directory; if it is lost, run "
            f"`dentrix-highlevel recover --workdir NEW_DIR` in a new work directory"
        )
    if owner is None and not create:
        return False  # a rollback never claims a location that records no owner (released, or pre-dating it)
    if owner is not None and owner[2] == current and not recovering:
        # The owner already: nothing to write (a re-run with nothing to do sends no write at all). A run
        # that writes takes a lease first (take_lease) and rotates the token at its end (end_lease).
        return bool(owner[4])
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
    return False


async def _write_owner(
    hl: HighLevelClient, ledger: Ledger, *, namespace: str, migration_id: str, lease: str
) -> None:
    """Rewrite the owner record with a new token and ``lease`` (location first, as in claim_location)."""
    owner = await read_owner(hl, namespace)
    if owner is None:
        return
    token = secrets.token_hex(12)
    await anyio.to_thread.run_sync(ledger.set_note, "ledger_token_next", token)
    words = [migration_id, token, owner[3] or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")]
    value = CustomValueInput(
        name=marker_name(namespace), value=" ".join([*words, *([lease] if lease else [])])
    )
    await hl.custom_values.update(owner[0], value)
    await anyio.to_thread.run_sync(ledger.set_note, "ledger_token", token)


async def take_lease(
    hl: HighLevelClient, ledger: Ledger, *, namespace: str, migration_id: str, run_id: str, workdir: Path
) -> None:
    """Before a run's first write: the location says which run of which work directory is writing."""
    lease = f"{run_id}@{workdir_fingerprint(workdir)}"
    await _write_owner(hl, ledger, namespace=namespace, migration_id=migration_id, lease=lease)


async def end_lease(hl: HighLevelClient, ledger: Ledger, *, namespace: str, migration_id: str) -> None:
    """A run that wrote has ended: its lease goes and the token rotates, so a copy of the work directory
    made while it ran (holding the old token) is refused as stale."""
    await _write_owner(hl, ledger, namespace=namespace, migration_id=migration_id, lease="")


async def release_location(hl: HighLevelClient, ledger: Ledger, *, namespace: str) -> None:
    """After a completed rollback the location no longer holds the migration: its owner record and its
    setup record (``setup_record``) go."""
    owner = await read_owner(hl, namespace)
    token = await anyio.to_thread.run_sync(ledger.note, "ledger_token")
    if owner is not None and owner[2] == token:
        # The setup record first: a crash in between leaves the owner, and the next rollback ends this.
        await (await SetupRecord.read(hl, namespace)).delete(hl)
        await hl.custom_values.delete(owner[0])
