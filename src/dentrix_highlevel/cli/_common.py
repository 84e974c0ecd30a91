"""What the migration commands share: source and destination options, the work directory's
``migration.json``, errors turned into one sentence and an exit code, and rich output helpers.

Exit codes (the command line's contract): 0 success, 1 finished with failed records, 2 usage or
configuration error, 3 refused (unapproved or changed plan), 4 stopped before the end and resumable (daily
cap, HighLevel unreachable or failing: run the same command again), 5 internal error (a bug: rerun with
``--debug`` and report the traceback).

Nothing here prints a patient value; the HighLevel token and Ascend credentials are read from flags or the
environment for each command and never echoed nor written to the work directory.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import signal
import sqlite3
import sys
import tempfile
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import anyio
import attrs
import click
from click.core import ParameterSource
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from dentrix_highlevel._errors import (
    AscendError,
    AuthenticationError,
    ConfigurationError,
    DentrixHighLevelError,
    HighLevelError,
    LedgerError,
    MappingError,
    PermissionDeniedError,
    PlanChangedError,
    PlanError,
    PlanNotApprovedError,
    SourceError,
    TransportError,
)
from dentrix_highlevel._http_limits import require_secure_url
from dentrix_highlevel._private_files import ensure_private_dir, open_private
from dentrix_highlevel.highlevel import DEFAULT_BASE_URL, HighLevelClient, RateBudget
from dentrix_highlevel.migration import LEDGER_FILENAME, MigrationProgress, Reconciliation, RunMode
from dentrix_highlevel.migration._state.ownership import OwnershipError
from dentrix_highlevel.migration._state.postgres import is_postgres_url, postgres_location
from dentrix_highlevel.sources._staging_dirs import STAGING_DIRNAME, remove_leftover_staging

__all__ = [
    "CONFIG_FILENAME",
    "EXIT_FAILED_RECORDS",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "RECONCILE_BUCKETS",
    "AscendCredentials",
    "CliFailure",
    "Destination",
    "DestinationFlags",
    "ProgressReporter",
    "SourceSpec",
    "WorkdirConfig",
    "ascend_options",
    "compact_table",
    "console",
    "debug_option",
    "destination_options",
    "error_console",
    "exit_code_for",
    "failed_lines",
    "handle_termination",
    "ledger_option",
    "open_source",
    "print_failed",
    "reconciliation_table",
    "resolve_ledger",
    "rollback_counts",
    "run_async",
    "staged_in",
    "sweep_staging",
    "url_without_password",
]

EXIT_OK: Final = 0
EXIT_FAILED_RECORDS: Final = 1
EXIT_USAGE: Final = 2
EXIT_REFUSED: Final = 3
EXIT_STOPPED: Final = 4
EXIT_INTERNAL: Final = 5

CONFIG_FILENAME: Final = "migration.json"
_CONFIG_FORMAT: Final = "dentrix-highlevel-migration"
_CONFIG_VERSION: Final = 1

# Results go to stdout (they can be piped); progress and errors to stderr.
# Off a terminal (a pipe, a CI log) rich would wrap tables at 80 columns: give them room instead.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
error_console = Console(
    stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 160
)

T = TypeVar("T")


class CliFailure(Exception):
    """A command ends with ``exit_code`` after printing ``message`` (one sentence with what to do)."""

    def __init__(self, message: str, *, exit_code: int = EXIT_USAGE) -> None:
        self.message = message
        self.exit_code = exit_code
        super().__init__(message)


# --- the source -------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SourceSpec:
    """``g-export:PATH`` (a folder or .zip) or ``ascend:URL`` (the API Exchange base URL)."""

    kind: Literal["g-export", "ascend"]
    location: str
    """An absolute path for a G export; the base URL for Ascend."""
    practice_timezone: str | None = None
    organization_id: str | None = None
    """Ascend only: the organisation (an identifier, not a secret; the ledger is keyed on it)."""

    @classmethod
    def parse(cls, text: str, *, practice_timezone: str | None = None) -> SourceSpec:
        kind, sep, rest = text.partition(":")
        if not sep or not rest:
            raise CliFailure(f"--source {text!r} is not g-export:PATH or ascend:URL; give one of those forms")
        if kind == "g-export":
            path = Path(rest).expanduser().resolve()
            if not path.exists():
                raise CliFailure(f"the G export {path} does not exist; check the path after g-export:")
            return cls(kind="g-export", location=str(path), practice_timezone=practice_timezone)
        if kind == "ascend":
            if not rest.startswith(("https://", "http://")):
                raise CliFailure("--source ascend:URL needs the API Exchange base URL (https://...)")
            try:
                require_secure_url(rest, what="--source ascend:")
            except ConfigurationError as exc:
                raise CliFailure(str(exc)) from None
            return cls(kind="ascend", location=rest.rstrip("/"), practice_timezone=practice_timezone)
        raise CliFailure(f"unknown source kind {kind!r}; use g-export:PATH or ascend:URL")

    def __str__(self) -> str:
        return f"{self.kind}:{self.location}"

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> SourceSpec:
        if not isinstance(data, dict) or data.get("kind") not in ("g-export", "ascend"):
            raise CliFailure(f"{CONFIG_FILENAME} has no valid source; run plan again into a new --workdir")
        return cls(
            kind=data["kind"],
            location=str(data.get("location", "")),
            practice_timezone=data.get("practice_timezone"),
            organization_id=data.get("organization_id"),
        )


@attrs.frozen(kw_only=True)
class AscendCredentials:
    client_id: str | None = attrs.field(default=None, repr=False)
    client_secret: str | None = attrs.field(default=None, repr=False)
    organization_id: str | None = None
    token_url: str | None = None


def sweep_staging(workdir: Path) -> None:
    """Remove the staging copies a killed command left in ``workdir`` (they hold the export's PHI), and
    say so: one line on stderr with the folder's name, never its contents."""
    for leftover in remove_leftover_staging(workdir / STAGING_DIRNAME):
        error_console.print(
            f"removed a staging copy of the export left by a stopped command: {leftover}", markup=False
        )


@contextlib.asynccontextmanager
async def staged_in(workdir: Path) -> AsyncIterator[None]:
    """Around a command's sources: the ``staging`` folder they used goes too once it is empty (each
    source removes its own copy when it closes), so a work directory holds only the migration's files."""
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # not empty (another command's copy) or never made
            (workdir / STAGING_DIRNAME).rmdir()


def open_source(
    spec: SourceSpec,
    credentials: AscendCredentials,
    *,
    use_env_proxy: bool = False,
    workdir: Path | None = None,
) -> Any:
    """The library source for ``spec`` (not yet opened: ``async with`` it); ``use_env_proxy`` lets an
    Ascend client use the ``HTTP(S)_PROXY`` environment (``--use-env-proxy``). Its staging copy goes into
    ``workdir``'s ``staging`` folder (never the shared temp directory)."""
    staging = workdir / STAGING_DIRNAME if workdir is not None else None
    if spec.kind == "g-export":
        from dentrix_highlevel.sources import GExportSource

        if not Path(spec.location).exists():
            raise CliFailure(f"the G export {spec.location} is gone; restore it or pass --source again")
        source = GExportSource(spec.location, practice_timezone=spec.practice_timezone)
        if staging is not None:
            source.use_staging_dir(staging)  # the work directory's: the staged copy is kept and reused
        return source
    from dentrix_highlevel.sources import AscendSource

    organization = credentials.organization_id or spec.organization_id
    missing = [
        name
        for name, value in (
            ("ASCEND_CLIENT_ID", credentials.client_id),
            ("ASCEND_CLIENT_SECRET", credentials.client_secret),
            ("ASCEND_ORGANIZATION_ID", organization),
            ("--practice-timezone", spec.practice_timezone),
        )
        if not value
    ]
    if missing:
        raise CliFailure(f"an Ascend source needs {', '.join(missing)}; set them (flags or environment)")
    # All four are non-empty here (checked above); ``or ""`` only narrows the types.
    return AscendSource(
        base_url=spec.location,
        client_id=credentials.client_id or "",
        client_secret=credentials.client_secret or "",
        organization_id=organization or "",
        practice_timezone=spec.practice_timezone or "",
        token_url=credentials.token_url,
        trust_env=use_env_proxy,
        staging_dir=staging,
    )


# --- the destination --------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Destination:
    """One HighLevel location. The token is held for the command's lifetime only: never in repr or files.

    ``use_env_proxy`` (``--use-env-proxy``) is per command too: a proxy is the terminal's, not the
    migration's, so it is not stored.
    """

    base_url: str
    location_id: str
    token: str | None = attrs.field(default=None, repr=False, eq=False)
    use_env_proxy: bool = attrs.field(default=False, eq=False)
    rate_max: int = 100
    rate_window_ms: int = 10_000
    daily_max: int = 200_000

    #: What ``migration.json`` keeps, named one by one: the token (and the proxy choice) never reach it.
    _SAVED: ClassVar[tuple[str, ...]] = ("base_url", "location_id", "rate_max", "rate_window_ms", "daily_max")

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._SAVED}

    @classmethod
    def from_dict(cls, data: Any) -> Destination:
        if not isinstance(data, dict) or not data.get("location_id"):
            raise CliFailure(
                f"{CONFIG_FILENAME} has no valid destination; run plan again into a new --workdir"
            )
        return cls(
            base_url=str(data.get("base_url") or DEFAULT_BASE_URL),
            location_id=str(data["location_id"]),
            rate_max=int(data.get("rate_max", 100)),
            rate_window_ms=int(data.get("rate_window_ms", 10_000)),
            daily_max=int(data.get("daily_max", 200_000)),
        )

    def budget(self) -> RateBudget:
        return RateBudget.scaled(
            max_requests=self.rate_max, window_ms=self.rate_window_ms, daily_max=self.daily_max
        )

    def client(self) -> HighLevelClient:
        if not self.token:
            raise CliFailure("no HighLevel token: pass --token or set HIGHLEVEL_TOKEN")
        return HighLevelClient(
            location_id=self.location_id,
            token=self.token,
            base_url=self.base_url,
            budget=self.budget(),
            trust_env=self.use_env_proxy,
        )


@attrs.frozen(kw_only=True)
class DestinationFlags:
    """The destination flags as given (None: not given); merged with ``migration.json``."""

    base_url: str | None
    location_id: str | None
    token: str | None = attrs.field(repr=False)
    rate_max: int | None
    rate_window_ms: int | None
    daily_max: int | None
    use_env_proxy: bool = False

    def resolve(self, stored: Destination | None) -> Destination:
        if stored is None:
            if not self.location_id:
                raise CliFailure("no HighLevel location: pass --location-id or set HIGHLEVEL_LOCATION_ID")
            stored = Destination(base_url=self.base_url or DEFAULT_BASE_URL, location_id=self.location_id)
        elif self.location_id and self.location_id != stored.location_id:
            raise CliFailure(
                f"this work directory migrates location {stored.location_id}, not {self.location_id}; "
                "use another --workdir for another location"
            )
        changes: dict[str, Any] = {"token": self.token, "use_env_proxy": self.use_env_proxy}
        for name in ("base_url", "rate_max", "rate_window_ms", "daily_max"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value.rstrip("/") if name == "base_url" else value
        try:
            resolved = attrs.evolve(stored, **changes)
            # Before any source is read: over plain http the token would travel in clear.
            require_secure_url(resolved.base_url, what="--base-url / HIGHLEVEL_BASE_URL")
        except ConfigurationError as exc:
            raise CliFailure(str(exc)) from None
        return resolved


# --- the work directory -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class WorkdirConfig:
    """``migration.json``: which source goes to which location, so any terminal can continue the work.

    Holds the source spec (path or URL, and the organisation id for Ascend), the destination's base URL,
    location id and rate budget, and the history of sources (each delta's export). Never a token or secret.
    """

    migration_id: str
    source: SourceSpec
    destination: Destination
    history: tuple[str, ...] = ()
    ledger: str | None = None
    """The PostgreSQL ledger's URL, or None for ``ledger.sqlite3`` in the work directory. Saved without
    its password (libpq takes it from ``PGPASSWORD`` or ``~/.pgpass``, or ``--ledger`` gives it again)."""

    @staticmethod
    def path(workdir: Path) -> Path:
        return workdir / CONFIG_FILENAME

    @classmethod
    def load(cls, workdir: Path) -> WorkdirConfig:
        path = cls.path(workdir)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CliFailure(
                f"{workdir} holds no migration; run "
                f"`dentrix-highlevel plan --source ... --workdir {workdir}` first"
            ) from None
        except (OSError, ValueError) as exc:
            raise CliFailure(
                f"{path} is unreadable ({type(exc).__name__}); restore it or plan again"
            ) from None
        if not isinstance(data, dict) or data.get("format") != _CONFIG_FORMAT:
            raise CliFailure(f"{path} is not a dentrix-highlevel migration file; use another --workdir")
        if data.get("format_version") != _CONFIG_VERSION:
            raise CliFailure(f"{path} has format_version {data.get('format_version')!r}; upgrade the tool")
        return cls(
            migration_id=str(data.get("migration_id") or "dentrix-highlevel"),
            source=SourceSpec.from_dict(data.get("source")),
            destination=Destination.from_dict(data.get("destination")),
            history=tuple(str(h) for h in data.get("history", ())),
            ledger=str(data["ledger"]) if data.get("ledger") else None,
        )

    @classmethod
    def load_optional(cls, workdir: Path) -> WorkdirConfig | None:
        return cls.load(workdir) if cls.path(workdir).exists() else None

    def save(self, workdir: Path) -> Path:
        ensure_private_dir(workdir)
        document = {
            "format": _CONFIG_FORMAT,
            "format_version": _CONFIG_VERSION,
            "migration_id": self.migration_id,
            "source": self.source.to_dict(),
            "destination": self.destination.to_dict(),
            "history": list(self.history),
            **({"ledger": url_without_password(self.ledger)} if self.ledger else {}),
        }
        path = self.path(workdir)
        with open_private(path) as handle:
            json.dump(document, handle, indent=2, sort_keys=True)
            handle.write("\n")
        return path


# --- options ----------------------------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


def _compose(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


_Gathered = TypeVar("_Gathered", bound=attrs.AttrsInstance)


def _gathered(cls: type[_Gathered], options: dict[str, Any], *, prefix: str = "") -> _Gathered:
    """A ``cls`` made of the options named ``prefix`` + each of its fields, taken out of ``options`` (the
    command's keyword arguments): the command gets the one object, not the flags."""
    return cls(**{field.name: options.pop(prefix + field.name) for field in attrs.fields(cls)})


def destination_options(function: F) -> F:
    """``--base-url``/``--location-id``/``--token`` (each also from the environment) and the rate budget.

    The options arrive as one ``destination`` argument (a :class:`DestinationFlags`).
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return function(*args, destination=_gathered(DestinationFlags, kwargs), **kwargs)

    decorated: F = _compose(
        click.option(
            "--base-url",
            envvar="HIGHLEVEL_BASE_URL",
            default=None,
            help=f"HighLevel API base URL [env HIGHLEVEL_BASE_URL; default {DEFAULT_BASE_URL}].",
        ),
        click.option(
            "--location-id",
            envvar="HIGHLEVEL_LOCATION_ID",
            default=None,
            help="The sub-account (location) id [env HIGHLEVEL_LOCATION_ID].",
        ),
        click.option(
            "--token",
            envvar="HIGHLEVEL_TOKEN",
            default=None,
            show_default=False,
            show_envvar=False,
            help="Private Integration token [env HIGHLEVEL_TOKEN]; never echoed, never written.",
            callback=_warn_if_on_command_line,
        ),
        click.option(
            "--rate-max",
            type=click.IntRange(min=1),
            default=None,
            help="Requests per burst window (HighLevel: 100; match a sandbox's scaled window).",
        ),
        click.option(
            "--rate-window-ms",
            type=click.IntRange(min=1),
            default=None,
            help="Burst window (HighLevel: 10000).",
        ),
        click.option(
            "--daily-max", type=click.IntRange(min=10), default=None, help="Requests per day (200000)."
        ),
        click.option(
            "--use-env-proxy",
            is_flag=True,
            default=False,
            help="Send HighLevel and Ascend requests through HTTPS_PROXY / HTTP_PROXY / ALL_PROXY "
            "(ignored without this flag).",
        ),
    )(cast(F, wrapper))
    return decorated


def _warn_if_on_command_line(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A secret given as a flag is visible to every user of the machine (``ps``, /proc) and stays in the
    shell's history: say so, and name the environment variable to use instead (never the value)."""
    if value is not None and ctx.get_parameter_source(param.name or "") is ParameterSource.COMMANDLINE:
        env = param.envvar if isinstance(param.envvar, str) else "the environment"
        flag = param.opts[0] if param.opts else "this option"
        click.echo(
            f"warning: {flag} on the command line is visible to other users of this machine (ps) and "
            f"kept in your shell history; set {env} in the environment instead.",
            err=True,
        )
    return value


def ascend_options(function: F) -> F:
    """Ascend credentials (flags or ``ASCEND_*`` environment) and the practice's time zone."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # --practice-timezone stays a parameter of its own.
        return function(*args, ascend=_gathered(AscendCredentials, kwargs, prefix="ascend_"), **kwargs)

    decorated: F = _compose(
        click.option(
            "--ascend-client-id", envvar="ASCEND_CLIENT_ID", default=None, help="[env ASCEND_CLIENT_ID]"
        ),
        click.option(
            "--ascend-client-secret",
            envvar="ASCEND_CLIENT_SECRET",
            default=None,
            help="[env ASCEND_CLIENT_SECRET]; never echoed, never written.",
            callback=_warn_if_on_command_line,
        ),
        click.option(
            "--ascend-organization-id",
            envvar="ASCEND_ORGANIZATION_ID",
            default=None,
            help="[env ASCEND_ORGANIZATION_ID]",
        ),
        click.option(
            "--ascend-token-url",
            envvar="ASCEND_TOKEN_URL",
            default=None,
            help="OAuth token URL when not the default [env ASCEND_TOKEN_URL].",
        ),
        click.option(
            "--practice-timezone",
            envvar="DENTRIX_PRACTICE_TIMEZONE",
            default=None,
            help="IANA zone of the practice (required for Ascend; overrides a G export's manifest).",
        ),
    )(cast(F, wrapper))
    return decorated


def server_answers(exc: BaseException) -> list[str]:
    """The ``debug_detail`` of ``exc`` and of every exception it was raised from or grouped with."""
    found: list[str] = []
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        detail = getattr(current, "debug_detail", None)
        if isinstance(detail, str) and detail not in found:
            found.append(detail)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return found


def _print_server_answers(exc: BaseException) -> None:
    answers = server_answers(exc)
    if not answers:
        return
    if not sys.stderr.isatty():
        # A pipe or a redirect is a file: the answers can hold patient data, so a terminal only.
        error_console.print(
            "(what the server answered is shown with --debug on a terminal only: it can hold patient data)",
            markup=False,
        )
        return
    error_console.print(
        "what the server answered (may hold patient data; shown here only, never saved):", markup=False
    )
    for answer in answers:
        error_console.print(f"  {answer}", markup=False)


def debug_option(function: F) -> F:
    """``--debug``: show the traceback of a failure (also ``DENTRIX_HIGHLEVEL_DEBUG=1``)."""

    @functools.wraps(function)
    def wrapper(*args: Any, debug: bool, **kwargs: Any) -> Any:
        debug = debug or os.environ.get("DENTRIX_HIGHLEVEL_DEBUG", "") not in ("", "0")
        try:
            return function(*args, **kwargs)
        except (SystemExit, click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BaseException as exc:  # every failure becomes one sentence and an exit code
            code, message = exit_code_for(exc)
            if debug:
                error_console.print(traceback.format_exc(), markup=False)
                _print_server_answers(exc)
            error_console.print(f"error: {message}", markup=False)
            sys.exit(code)

    decorated: F = click.option(
        "--debug",
        is_flag=True,
        help="Show tracebacks of failures (and, on a terminal, what HighLevel or Ascend answered).",
    )(cast(F, wrapper))
    return decorated


# Our errors' exit code and what to do next, the first that ``isinstance`` matches: a subclass before its
# base (a TransportError is a HighLevelError with its own advice).
_HINTS: Final[tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int, str], ...]] = (
    (
        PlanNotApprovedError,
        EXIT_REFUSED,
        "review plan.md, then run `dentrix-highlevel approve --workdir DIR --by NAME`",
    ),
    (PlanChangedError, EXIT_REFUSED, "review the changes, then approve again"),
    # Its message says what to do (recover, or which work directory owns the location).
    (OwnershipError, EXIT_REFUSED, "nothing was written"),
    (PlanError, EXIT_USAGE, "run `dentrix-highlevel plan` again for this work directory"),
    (
        AuthenticationError,
        EXIT_USAGE,
        "check --token / HIGHLEVEL_TOKEN (a Private Integration token with the needed scopes), then "
        "run the same command again to resume (the ledger keeps what was done)",
    ),
    (
        PermissionDeniedError,
        EXIT_USAGE,
        "check that the token belongs to --location-id / HIGHLEVEL_LOCATION_ID",
    ),
    (
        TransportError,
        EXIT_STOPPED,
        "check --base-url and the network, then run the same command again to resume",
    ),
    (HighLevelError, EXIT_STOPPED, "run the same command again to resume (the ledger keeps what was done)"),
    (
        AscendError,
        EXIT_USAGE,
        "check the Ascend URL and credentials (ASCEND_CLIENT_ID, ASCEND_CLIENT_SECRET)",
    ),
    (SourceError, EXIT_USAGE, "check the --source export"),
    (LedgerError, EXIT_USAGE, "use the work directory of this migration, or a new --workdir"),
    ((MappingError, ConfigurationError), EXIT_USAGE, "fix the setting named above"),
)


def _hint(exc: BaseException) -> tuple[int, str]:
    for kind, code, hint in _HINTS:
        if isinstance(exc, kind):
            return code, hint
    return EXIT_USAGE, "see the message above"


# A disk or permission problem is the environment's, not a bug: exit 2 with the place named.
_SQLITE_ENVIRONMENT = re.compile(r"disk is full|readonly database|read-only|disk I/O error")
_ENVIRONMENT_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT})


def _environment_failure(exc: OSError) -> str:
    """One sentence naming the place (a path of the work directory or the temp directory: no PHI) and
    what is wrong with it."""
    place = Path(str(exc.filename)) if exc.filename else None
    temp = Path(tempfile.gettempdir()).resolve()
    where = "the work directory"
    if place is not None and (place.resolve() == temp or temp in place.resolve().parents):
        where = "the temp directory (TMPDIR)"
    what = "is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "is not writable (read-only)"
    at = f" at {place}" if place is not None else ""
    fix = "free space" if "full" in what else "make it writable"
    return f"{where}{at} {what}; {fix}, or use another one, then run the same command again"


def exit_code_for(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for a failure (no traceback, no patient values)."""
    if isinstance(exc, CliFailure):
        return exc.exit_code, exc.message
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_STOPPED, "interrupted; run the same command again to resume"
    if isinstance(exc, DentrixHighLevelError):
        code, hint = _hint(exc)
        text = str(exc).rstrip(". ")
        return code, f"{text}. {hint[0].upper()}{hint[1:]}."
    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return exit_code_for(exc.exceptions[0])
    if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS:
        return EXIT_USAGE, _environment_failure(exc)
    if isinstance(exc, sqlite3.OperationalError) and _SQLITE_ENVIRONMENT.search(str(exc)):
        # SQLite's own fixed sentences (no values): a staging index or the ledger on a full or read-only
        # disk, not a bug.
        return EXIT_USAGE, (
            f"the work directory's disk refused a write ({exc}); free space or make it writable, or use "
            "another --workdir, then run the same command again"
        )
    # Not ours: its message may hold anything, so only its type is shown.
    return (
        EXIT_INTERNAL,
        f"internal error ({type(exc).__name__}); rerun with --debug and report the traceback",
    )


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def handle_termination() -> None:
    """SIGTERM (what systemd, docker and ``timeout`` send) stops a command the way Ctrl-C does: the
    ledger checkpoints, staging is removed, exit 4 with the resume hint, instead of dying mid-write.
    Outside the event loop it raises ``KeyboardInterrupt``; inside it, :func:`run_async` cancels."""
    if sys.platform != "win32":
        with contextlib.suppress(ValueError):  # not the main thread (an embedding caller): theirs to handle
            signal.signal(signal.SIGTERM, _terminated)


def run_async(function: Callable[[], Awaitable[T]]) -> T:
    """Run ``function`` in an event loop; a SIGTERM meanwhile cancels it (every ``finally`` and
    shielded ledger write runs, as after Ctrl-C) and then raises ``KeyboardInterrupt``."""
    terminated: list[int] = []
    results: list[T] = []

    async def guarded() -> None:
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                    async for signum in signals:
                        terminated.append(signum)
                        group.cancel_scope.cancel()
                        return

            if sys.platform != "win32":
                group.start_soon(watch)
            results.append(await function())
            group.cancel_scope.cancel()

    try:
        anyio.run(guarded)
    finally:
        handle_termination()  # the loop's own handler is gone with it: back to ours
    if terminated or not results:
        raise KeyboardInterrupt
    return results[0]


# --- output -----------------------------------------------------------------------------------------------


class ProgressReporter:
    """A rich progress bar fed by the engine's :class:`MigrationProgress` events (counts, rate, ETA; ids
    only). Draws on stderr; a non-terminal gets the final state once."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA {task.fields[eta]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[counts]}"),
            console=error_console,
            disable=not enabled,
        )
        self._task: TaskID | None = None
        self.last: MigrationProgress | None = None

    def __call__(self, event: MigrationProgress) -> None:
        self.last = event
        rate = f"{event.rate_per_s:.1f} {event.unit}/s"
        eta = f"{event.eta_s:.0f}s" if event.eta_s is not None else "?"
        if event.mode is RunMode.ROLLBACK:  # a rollback undoes objects: it creates and updates nothing
            counts = f"deleted {event.deleted} restored {event.restored} failed {event.failed}"
        else:
            counts = (
                f"created {event.created} updated {event.updated} unchanged {event.unchanged} "
                f"skipped {event.skipped} failed {event.failed}"
            )
        description = f"{event.mode.value} {event.phase}"
        if self._task is None:
            self._task = self._progress.add_task(
                description,
                total=event.total or None,
                completed=event.done,
                rate=rate,
                eta=eta,
                counts=counts,
            )
        else:
            self._progress.update(
                self._task,
                description=description,
                total=event.total or None,
                completed=event.done,
                rate=rate,
                eta=eta,
                counts=counts,
            )

    @contextmanager
    def shown(self) -> Iterator[ProgressReporter]:
        with self._progress:
            yield self


def compact_table(title: str) -> Table:
    """A table that fits 80 columns with nine numeric columns (light rules, a space between columns)."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False)


#: Reconciliation columns, each source record in exactly one ("conflict": written with conflict).
#: They add up to ``source + removed`` (removed: records the current source no longer has).
RECONCILE_BUCKETS = ("created", "updated", "unchanged", "conflict", "skipped", "failed")


def reconciliation_table(reconciliation: Reconciliation, *, title: str) -> Table:
    table = compact_table(title)
    # The equation's order: source + removed = created + updated + unchanged + conflict + skipped + failed.
    for name in ("kind", "source", "removed", *RECONCILE_BUCKETS, "status"):
        table.add_column(
            name, justify="left" if name in ("kind", "status") else "right", no_wrap=name == "kind"
        )
    for k in (*reconciliation.kinds, reconciliation.totals()):
        status = "OK" if k.reconciles else f"MISMATCH {k.difference:+d}"
        table.add_row(
            k.kind,
            *(str(getattr(k, n)) for n in ("source", "removed", *RECONCILE_BUCKETS)),
            status,
            end_section=k is reconciliation.kinds[-1] if reconciliation.kinds else False,
        )
    return table


def failed_lines(rows: Sequence[Any]) -> list[str]:
    """``source_key (kind): reason`` for each failed record among audit rows or ledger records."""
    from dentrix_highlevel.migration import RecordAction, RecordOutcome

    out = []
    for row in rows:
        failed = row.action is RecordAction.FAILED or (
            row.action is RecordAction.CONFLICT and row.outcome is RecordOutcome.NOT_APPLIED
        )
        if failed:
            out.append(
                f"{row.source_key} ({row.kind}): {getattr(row, 'reason', None) or 'no reason recorded'}"
            )
    return out


def print_failed(lines: Sequence[str], *, limit: int = 50) -> None:
    """The failed records, at most ``limit`` of them (the audit log has them all)."""
    if not lines:
        return
    console.print(f"{len(lines)} failed record(s):", markup=False)
    for line in lines[:limit]:
        console.print(f"  {line}", markup=False)
    if len(lines) > limit:
        console.print(f"  ... and {len(lines) - limit} more (see audit.csv)", markup=False)


def rollback_counts(ledger: Any) -> tuple[int, int]:
    """(objects the migration created that are now deleted, practice contacts given their values back)."""
    deleted = sum(1 for o in ledger.created_objects(include_rolled_back=True) if o.rolled_back_at is not None)
    restored = sum(
        1
        for p in ledger.pre_images(include_restored=True)
        if p.kind == "contact" and p.restored_at is not None
    )
    return deleted, restored


# --- the ledger's place -----------------------------------------------------------------------------------


def url_without_password(url: str) -> str:
    """A ledger URL fit to keep in a file: the password (if any) dropped, everything else as given."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (
        (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    )
    return urlunsplit(parts._replace(netloc=netloc))


def resolve_ledger(workdir: Path, stored: str | None, given: str | None) -> str | None:
    """The ledger URL a command uses: ``--ledger`` (which may carry the password) or the one the work
    directory keeps; None means the SQLite ledger in the work directory. Refuses switching stores under a
    migration: a run on a fresh, empty ledger would create every record again."""
    if given is None or not given.strip():
        return stored
    given = given.strip()
    if not is_postgres_url(given):
        raise CliFailure("--ledger takes a postgresql:// URL (leave it out for the SQLite ledger)")
    if stored is None and (workdir / LEDGER_FILENAME).exists():
        raise CliFailure(
            f"{workdir} keeps this migration's ledger in {LEDGER_FILENAME}: leave out --ledger, or plan "
            "into a new --workdir to use a PostgreSQL ledger"
        )
    if stored is not None and postgres_location(stored) != postgres_location(given):
        raise CliFailure(
            f"{workdir} keeps this migration's ledger at {postgres_location(stored)}, not "
            f"{postgres_location(given)}: leave out --ledger or give the same place"
        )
    return given


def ledger_option(function: F) -> F:
    """``--ledger URL`` (or ``DENTRIX_HIGHLEVEL_LEDGER``): a PostgreSQL ledger instead of the work
    directory's SQLite file."""
    return click.option(
        "--ledger",
        "ledger",
        default=None,
        envvar="DENTRIX_HIGHLEVEL_LEDGER",
        show_envvar=True,
        metavar="URL",
        help=(
            "Keep the ledger on a PostgreSQL server (postgresql://user@host/db?schema=NAME) instead of "
            "ledger.sqlite3 in the work directory. Given to plan, it is remembered (without a password)."
        ),
    )(function)
