"""The fleet manifest: one TOML file naming every office of a dental group and what they share.

Every problem is reported with where it is (the file, the office by name and position, the key) and
nothing else: a manifest holds no secrets (tokens are named by environment variable, never given), so the
messages never need to hide a value, but they still quote only keys and office names.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import attrs

from dentrix_highlevel._errors import ConfigurationError, ManifestError
from dentrix_highlevel._http_limits import require_secure_url
from dentrix_highlevel.migration import MigrationPolicies

__all__ = [
    "DEFAULT_BASE_URL",
    "AgencyCredentialSource",
    "AscendCredentialSource",
    "FleetManifest",
    "OfficeSpec",
    "load_manifest",
]

DEFAULT_BASE_URL: Final = "https://services.leadconnectorhq.com"
# An office name becomes a directory name and a report row: letters, digits, dot, dash, underscore.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_TOP_KEYS = frozenset({"defaults", "agency", "ascend", "office"})
_DEFAULT_KEYS = frozenset(
    {
        "base_url",
        "migration_id",
        "rate_max",
        "rate_window_ms",
        "daily_max",
        "concurrency",
        "practice_timezone",
        "policies",
    }
)
_OFFICE_KEYS = frozenset(
    {
        "name",
        "source",
        "location_id",
        "token_env",
        "agency",
        "policies",
        "workdir",
        "practice_timezone",
        "ascend_organization_id",
    }
)
_AGENCY_KEYS = frozenset(
    {
        "company_id",
        "access_token_env",
        "refresh_token_env",
        "client_id_env",
        "client_secret_env",
        "refresh_margin_s",
    }
)
_ASCEND_KEYS = frozenset({"client_id_env", "client_secret_env", "token_url"})
_POLICY_KEYS = frozenset(f.name for f in attrs.fields(MigrationPolicies))


@attrs.frozen(kw_only=True)
class AgencyCredentialSource:
    """Where the agency (Company) OAuth credential is read from: environment variable names only.

    The values are read when a command starts and held in memory; HighLevel rotates the refresh token on
    every refresh and the fleet never writes it anywhere (give ``Fleet(on_agency_refresh=...)`` to keep it
    in a secret store)."""

    company_id: str
    access_token_env: str = "HIGHLEVEL_AGENCY_ACCESS_TOKEN"  # noqa: S105 - a variable's name
    refresh_token_env: str = "HIGHLEVEL_AGENCY_REFRESH_TOKEN"  # noqa: S105 - a variable's name
    client_id_env: str = "HIGHLEVEL_CLIENT_ID"
    client_secret_env: str = "HIGHLEVEL_CLIENT_SECRET"  # noqa: S105 - a variable's name
    refresh_margin_s: float = 300.0
    """Mint a new location token this long before the current one expires."""


@attrs.frozen(kw_only=True)
class AscendCredentialSource:
    """Environment variable names of the Ascend API Exchange credentials shared by the fleet's offices."""

    client_id_env: str = "ASCEND_CLIENT_ID"
    client_secret_env: str = "ASCEND_CLIENT_SECRET"  # noqa: S105 - a variable's name
    token_url: str | None = None


@attrs.frozen(kw_only=True)
class OfficeSpec:
    """One office: its source, its sub-account, how its token is obtained and its own policies."""

    name: str
    index: int
    """1-based position in the manifest (error messages and the report's order)."""
    source_kind: Literal["g-export", "ascend"]
    source_location: str
    """An absolute path (G export) or the API Exchange base URL (Ascend)."""
    location_id: str
    token_env: str | None = None
    agency: bool = False
    policies: MigrationPolicies
    workdir: Path
    practice_timezone: str | None = None
    ascend_organization_id: str | None = None

    @property
    def source(self) -> str:
        return f"{self.source_kind}:{self.source_location}"


@attrs.frozen(kw_only=True)
class FleetManifest:
    """A parsed, validated manifest (:func:`load_manifest`)."""

    path: Path
    base_url: str = DEFAULT_BASE_URL
    migration_id: str = "dentrix-highlevel"
    rate_max: int = 100
    rate_window_ms: int = 10_000
    daily_max: int = 200_000
    concurrency: int = 8
    """Patients in flight per office (the engine's ``concurrency``)."""
    agency: AgencyCredentialSource | None = None
    ascend: AscendCredentialSource = attrs.field(factory=AscendCredentialSource)
    offices: tuple[OfficeSpec, ...]

    @property
    def directory(self) -> Path:
        """The fleet directory: the manifest's folder (default office work directories, the report)."""
        return self.path.parent

    def office(self, name: str) -> OfficeSpec:
        for office in self.offices:
            if office.name == name:
                return office
        raise ConfigurationError(
            f"{self.path.name}: no office named {name!r} (offices: {', '.join(o.name for o in self.offices)})"
        )

    def select(self, names: tuple[str, ...] | list[str] | None) -> tuple[OfficeSpec, ...]:
        """The offices named (in manifest order), or all of them when ``names`` is empty."""
        if not names:
            return self.offices
        wanted = [self.office(name).name for name in names]
        return tuple(o for o in self.offices if o.name in wanted)


class _Reader:
    """Reads one table, remembering where it is for error messages."""

    def __init__(self, where: str, table: Any, allowed: frozenset[str]) -> None:
        self.where = where
        if not isinstance(table, dict):
            raise ManifestError(where, "must be a table")
        self.table: dict[str, Any] = table
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise ManifestError(
                f"{where}: key {unknown[0]!r}", f"unknown key (known: {', '.join(sorted(allowed))})"
            )

    def fail(self, key: str, problem: str) -> ManifestError:
        return ManifestError(f"{self.where}: key {key!r}", problem)

    def string(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self.table.get(key)
        if value is None:
            if required:
                raise self.fail(key, "missing; it is required")
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a non-empty string")
        return value.strip()

    def env_name(self, key: str, default: str | None = None) -> str | None:
        value = self.string(key, default=default)
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise self.fail(key, "must be an environment variable name (letters, digits, _)")
        return value

    def integer(self, key: str, default: int, *, minimum: int = 1) -> int:
        value = self.table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.fail(key, f"must be an integer >= {minimum}")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.table.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise self.fail(key, "must be a number >= 0")
        return float(value)

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "must be true or false")
        return value


def _policy_table(reader: _Reader, key: str) -> dict[str, Any]:
    raw = reader.table.get(key, {})
    table = _Reader(f"{reader.where}: key {key!r}", raw, _POLICY_KEYS)
    return dict(table.table)


def _policies(where: str, merged: Mapping[str, Any]) -> MigrationPolicies:
    try:
        return MigrationPolicies(**dict(merged))
    except ConfigurationError as exc:
        raise ManifestError(f"{where}: policies", str(exc)) from None
    except (TypeError, ValueError) as exc:
        # The exception's text names the field and the expected kind; a manifest holds no patient data.
        raise ManifestError(f"{where}: policies", f"not valid ({exc})") from None


def _source(reader: _Reader, base: Path) -> tuple[Literal["g-export", "ascend"], str]:
    text = reader.string("source", required=True)
    assert text is not None
    kind, sep, rest = text.partition(":")
    if not sep or not rest:
        raise reader.fail("source", "must be g-export:PATH or ascend:URL")
    if kind == "g-export":
        path = Path(rest).expanduser()
        path = (path if path.is_absolute() else base / path).resolve()
        if not path.exists():
            raise reader.fail("source", f"the G export {path} does not exist")
        return "g-export", str(path)
    if kind == "ascend":
        try:
            require_secure_url(rest, what="source ascend:")
        except ConfigurationError as exc:
            raise reader.fail("source", str(exc)) from None
        if not rest.startswith(("https://", "http://")):
            raise reader.fail("source", "ascend:URL needs the API Exchange base URL (https://...)")
        return "ascend", rest.rstrip("/")
    raise reader.fail("source", f"unknown source kind {kind!r}; use g-export:PATH or ascend:URL")


def load_manifest(path: str | os.PathLike[str]) -> FleetManifest:
    """Read and validate a fleet manifest; :class:`ManifestError` says where any problem is."""
    file = Path(path).expanduser().resolve()
    name = file.name
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ManifestError(name, f"no such file ({file})") from None
    except OSError as exc:
        raise ManifestError(name, f"unreadable ({type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(name, f"not valid TOML ({exc})") from None
    top = _Reader(name, data, _TOP_KEYS)
    defaults = _Reader(f"{name}: [defaults]", data.get("defaults", {}), _DEFAULT_KEYS)
    base_url = defaults.string("base_url", default=DEFAULT_BASE_URL) or DEFAULT_BASE_URL
    try:
        require_secure_url(base_url, what="base_url")
    except ConfigurationError as exc:
        raise defaults.fail("base_url", str(exc)) from None
    shared_policies = _policy_table(defaults, "policies")
    _policies(f"{name}: [defaults]", shared_policies)
    default_timezone = defaults.string("practice_timezone")

    agency: AgencyCredentialSource | None = None
    if "agency" in data:
        reader = _Reader(f"{name}: [agency]", data["agency"], _AGENCY_KEYS)
        fallback = AgencyCredentialSource(company_id="-")
        agency = AgencyCredentialSource(
            company_id=reader.string("company_id", required=True) or "",
            access_token_env=reader.env_name("access_token_env", fallback.access_token_env) or "",
            refresh_token_env=reader.env_name("refresh_token_env", fallback.refresh_token_env) or "",
            client_id_env=reader.env_name("client_id_env", fallback.client_id_env) or "",
            client_secret_env=reader.env_name("client_secret_env", fallback.client_secret_env) or "",
            refresh_margin_s=reader.number("refresh_margin_s", fallback.refresh_margin_s),
        )
    ascend_reader = _Reader(f"{name}: [ascend]", data.get("ascend", {}), _ASCEND_KEYS)
    ascend = AscendCredentialSource(
        client_id_env=ascend_reader.env_name("client_id_env", "ASCEND_CLIENT_ID") or "",
        client_secret_env=ascend_reader.env_name("client_secret_env", "ASCEND_CLIENT_SECRET") or "",
        token_url=ascend_reader.string("token_url"),
    )

    raw_offices = data.get("office")
    if not isinstance(raw_offices, list) or not raw_offices:
        raise ManifestError(f"{name}: [[office]]", "the manifest needs at least one [[office]] entry")
    offices: list[OfficeSpec] = []
    seen: dict[str, dict[str, str]] = {"name": {}, "location_id": {}, "workdir": {}}
    for index, raw in enumerate(raw_offices, start=1):
        label = raw.get("name") if isinstance(raw, dict) else None
        where = (
            f"{name}: office {label!r} (#{index})" if isinstance(label, str) else f"{name}: office #{index}"
        )
        reader = _Reader(where, raw, _OFFICE_KEYS)
        office_name = reader.string("name", required=True) or ""
        if not _NAME.fullmatch(office_name):
            raise reader.fail("name", "use letters, digits, '.', '-' or '_' (it names a directory)")
        kind, location = _source(reader, file.parent)
        location_id = reader.string("location_id", required=True) or ""
        token_env = reader.env_name("token_env")
        uses_agency = reader.boolean("agency")
        if uses_agency and token_env:
            raise reader.fail("agency", "give token_env or agency = true, not both")
        if not uses_agency and not token_env:
            raise reader.fail(
                "token_env",
                "missing: name the environment variable of the office's token, or set agency = true",
            )
        if uses_agency and agency is None:
            raise reader.fail("agency", "agency = true needs an [agency] table with company_id")
        overrides = _policy_table(reader, "policies")
        policies = _policies(where, {**shared_policies, **overrides})
        workdir_text = reader.string("workdir")
        workdir = Path(workdir_text).expanduser() if workdir_text else Path(office_name)
        workdir = (workdir if workdir.is_absolute() else file.parent / workdir).resolve()
        timezone = reader.string("practice_timezone", default=default_timezone)
        organization = reader.string("ascend_organization_id")
        if kind == "ascend" and (not timezone or not organization):
            missing = "practice_timezone" if not timezone else "ascend_organization_id"
            raise reader.fail(missing, "an Ascend source needs practice_timezone and ascend_organization_id")
        for key, value in (("name", office_name), ("location_id", location_id), ("workdir", str(workdir))):
            other = seen[key].get(value)
            if other is not None:
                raise reader.fail(key, f"the same as office {other!r}'s; each office needs its own")
            seen[key][value] = office_name
        offices.append(
            OfficeSpec(
                name=office_name,
                index=index,
                source_kind=kind,
                source_location=location,
                location_id=location_id,
                token_env=token_env,
                agency=uses_agency,
                policies=policies,
                workdir=workdir,
                practice_timezone=timezone,
                ascend_organization_id=organization,
            )
        )
    del top
    return FleetManifest(
        path=file,
        base_url=base_url.rstrip("/"),
        migration_id=defaults.string("migration_id", default="dentrix-highlevel") or "dentrix-highlevel",
        rate_max=defaults.integer("rate_max", 100),
        rate_window_ms=defaults.integer("rate_window_ms", 10_000),
        daily_max=defaults.integer("daily_max", 200_000, minimum=10),
        concurrency=defaults.integer("concurrency", 8),
        agency=agency,
        ascend=ascend,
        offices=tuple(offices),
    )
