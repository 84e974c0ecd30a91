"""Opening a ledger by where it lives: a work directory (SQLite, the default) or a PostgreSQL URL.

``open_ledger("migrations/smile", identity=...)`` opens ``migrations/smile/ledger.sqlite3``;
``open_ledger("postgresql://migrator@db.internal/dhl?schema=smile", identity=...)`` opens that schema on a
PostgreSQL server, which workers on several machines share. Both return a ``Ledger``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from dentrix_highlevel._errors import LedgerError
from dentrix_highlevel.migration._state.ledger import Ledger, LedgerIdentity
from dentrix_highlevel.migration._state.postgres import PostgresLedger, is_postgres_url, postgres_location
from dentrix_highlevel.migration._state.sqlite import LEDGER_FILENAME, SqliteLedger

__all__ = ["describe_ledger", "ledger_exists", "open_existing_ledger", "open_ledger"]

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def open_ledger(
    where: str | Path, *, identity: LedgerIdentity, exclusive: bool = True, clock: Clock = _utc_now
) -> Ledger:
    """Open (creating if absent) the ledger at ``where``: a ``postgresql://`` URL, else a work directory.

    ``exclusive`` holds the ledger's lock (a file lock, or a PostgreSQL advisory lock: the lease that keeps
    one migration from running twice at once, on any machine) until ``close()``.
    """
    if is_postgres_url(where):
        return PostgresLedger.open(str(where), identity=identity, exclusive=exclusive, clock=clock)
    return SqliteLedger.open(where, identity=identity, exclusive=exclusive, clock=clock)


def open_existing_ledger(where: str | Path, *, exclusive: bool = False, clock: Clock = _utc_now) -> Ledger:
    """Open the ledger already at ``where``, whatever migration it is (``LedgerError`` if there is none)."""
    if is_postgres_url(where):
        return PostgresLedger.open_existing(str(where), exclusive=exclusive, clock=clock)
    return SqliteLedger.open_existing(where, exclusive=exclusive, clock=clock)


def ledger_exists(where: str | Path) -> bool:
    """Whether a ledger is at ``where`` (for a URL: the schema holds a ledger; unreachable is an error)."""
    if is_postgres_url(where):
        try:
            PostgresLedger.open_existing(str(where)).close()
        except LedgerError as exc:
            if str(exc).startswith("no ledger at"):
                return False
            raise
        return True
    return (Path(where) / LEDGER_FILENAME).exists()


def describe_ledger(where: str | Path) -> str:
    """Where a ledger is, fit for messages and reports: never a URL's user or password."""
    if is_postgres_url(where):
        return postgres_location(str(where))
    return str(Path(where) / LEDGER_FILENAME)
