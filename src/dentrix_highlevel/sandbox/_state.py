"""Everything the sandbox remembers: locations and their objects, tokens, OAuth apps, the request log.

Objects are stored as JSON-able dicts in (roughly) HighLevel's read shape, so a state dump is just a copy.
These containers are mutable on purpose: they are the emulated database. Handlers run without awaiting
between a check and a write, so each request is atomic on the event loop (as HighLevel's slot check is).
"""

from __future__ import annotations

import copy
import random
import string
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs

from dentrix_highlevel.sandbox._search_index import LaggedIndex

__all__ = ["IdFactory", "LocationInfo", "LocationState", "RequestRecord", "SandboxState", "TokenInfo"]

Json = dict[str, Any]

_ID_ALPHABET = string.ascii_letters + string.digits

#: Every scope the routes check; a PIT created by the sandbox gets all of them unless told otherwise.
ALL_SCOPES: tuple[str, ...] = (
    "associations.readonly",
    "associations.write",
    "associations/relation.readonly",
    "associations/relation.write",
    "calendars.readonly",
    "calendars.write",
    "calendars/events.readonly",
    "calendars/events.write",
    "contacts.readonly",
    "contacts.write",
    "locations.readonly",
    "locations/customFields.readonly",
    "locations/customFields.write",
    "locations/customValues.readonly",
    "locations/customValues.write",
    "locations/tags.readonly",
    "locations/tags.write",
    "medias.readonly",
    "medias.write",
    "oauth.write",
    "opportunities.readonly",
    "opportunities.write",
    "users.readonly",
    "users.write",
    "workflows.readonly",
)


@attrs.frozen(kw_only=True)
class LocationInfo:
    """What a caller needs to talk to one sandbox location. ``repr`` hides the token."""

    location_id: str
    token: str = attrs.field(repr=False)
    company_id: str


@attrs.frozen(kw_only=True)
class RequestRecord:
    """One API request as the sandbox saw it (ids only: the path never carries a query string).

    ``admitted`` is True when the request was counted against a (token, location) rate budget; it is
    False when the limiter (or a 429 storm) refused it, and for requests without a valid token.
    """

    time_s: float
    method: str
    path: str
    status: int
    location_id: str | None
    admitted: bool = True
    trace_id: str = ""


class IdFactory:
    """Seeded ids in HighLevel's shapes: 20-char alphanumerics, UUID stage ids, ``pit-<uuid>`` tokens."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def object_id(self) -> str:
        return "".join(self.rng.choices(_ID_ALPHABET, k=20))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def token(self, prefix: str) -> str:
        return prefix + self.uuid()


@attrs.frozen(kw_only=True)
class TokenInfo:
    """A bearer token the sandbox accepts. ``location_id`` is None for an agency (Company) token."""

    kind: str  # "pit" | "oauth" | "location"
    location_id: str | None
    company_id: str
    scopes: frozenset[str]
    expires_at_s: float | None = None
    client_id: str | None = None
    user_id: str = ""


@attrs.define(kw_only=True)
class OAuthApp:
    client_id: str
    client_secret: str = attrs.field(repr=False)
    scopes: frozenset[str]


@attrs.define(kw_only=True)
class OAuthGrant:
    """What an authorization code or a refresh token stands for."""

    client_id: str
    location_id: str | None
    company_id: str
    user_type: str  # "Location" | "Company"


@attrs.define(kw_only=True)
class LocationState:
    """One sub-account and every object in it."""

    location_id: str
    company_id: str
    name: str
    timezone: str
    allow_duplicates: bool
    dedupe_order: tuple[str, ...]
    allow_duplicate_opportunity: bool = False
    contacts: dict[str, Json] = attrs.field(factory=dict)
    #: What the search reads see of contacts and opportunities: writes show after the index lag.
    contact_search: LaggedIndex = attrs.field(factory=LaggedIndex)
    opportunity_search: LaggedIndex = attrs.field(factory=LaggedIndex)
    notes: dict[str, Json] = attrs.field(factory=dict)
    tasks: dict[str, Json] = attrs.field(factory=dict)
    tags: dict[str, Json] = attrs.field(factory=dict)
    custom_fields: dict[str, Json] = attrs.field(factory=dict)
    custom_values: dict[str, Json] = attrs.field(factory=dict)
    users: dict[str, Json] = attrs.field(factory=dict)
    calendars: dict[str, Json] = attrs.field(factory=dict)
    events: dict[str, Json] = attrs.field(factory=dict)
    pipelines: dict[str, Json] = attrs.field(factory=dict)
    opportunities: dict[str, Json] = attrs.field(factory=dict)
    media: dict[str, Json] = attrs.field(factory=dict)
    associations: dict[str, Json] = attrs.field(factory=dict)
    relations: dict[str, Json] = attrs.field(factory=dict)
    #: Seeded through ``Sandbox.add_workflow`` (the public API only lists workflows).
    workflows: dict[str, Json] = attrs.field(factory=dict)
    #: Duplicate-matching indexes: stored emailLowerCase / E.164 phone -> contact ids. They keep upsert
    #: O(1) for large practices; first-created wins, as a scan in creation order would.
    by_email: dict[str, set[str]] = attrs.field(factory=dict)
    by_phone: dict[str, set[str]] = attrs.field(factory=dict)
    created_seq: dict[str, int] = attrs.field(factory=dict)

    #: The stores a dump lists, in a stable order.
    STORES = (
        "contacts",
        "notes",
        "tasks",
        "tags",
        "custom_fields",
        "custom_values",
        "users",
        "calendars",
        "events",
        "pipelines",
        "opportunities",
        "media",
        "associations",
        "relations",
        "workflows",
    )

    def settings(self) -> Json:
        return {
            "allowDuplicateContact": self.allow_duplicates,
            "allowDuplicateOpportunity": self.allow_duplicate_opportunity,
            "allowFacebookNameMerge": False,
            "disableContactTimezone": False,
        }

    def dump(self) -> Json:
        out: Json = {
            "id": self.location_id,
            "companyId": self.company_id,
            "name": self.name,
            "timezone": self.timezone,
            "settings": self.settings(),
            "dedupeOrder": list(self.dedupe_order),
        }
        for store in self.STORES:
            out[store] = copy.deepcopy(list(getattr(self, store).values()))
        return out

    def index_add(self, contact: Json) -> None:
        self.created_seq.setdefault(contact["id"], len(self.created_seq))
        for index, key in ((self.by_email, "emailLowerCase"), (self.by_phone, "phone")):
            value = contact.get(key)
            if value:
                index.setdefault(value, set()).add(contact["id"])

    def index_remove(self, contact: Json) -> None:
        for index, key in ((self.by_email, "emailLowerCase"), (self.by_phone, "phone")):
            value = contact.get(key)
            if value and value in index:
                index[value].discard(contact["id"])
                if not index[value]:
                    del index[value]

    def first_match(self, field: str, value: str, exclude_id: str | None) -> Json | None:
        """The earliest-created contact whose stored ``field`` (email|phone) equals ``value``."""
        index = self.by_email if field == "email" else self.by_phone
        ids = [i for i in index.get(value, ()) if i != exclude_id and i in self.contacts]
        if not ids:
            return None
        return self.contacts[min(ids, key=lambda i: self.created_seq.get(i, 0))]

    def ensure_tags(self, names: list[str], make_id: Callable[[], str]) -> None:
        """Tags written to contacts join the location's tag catalogue, as in HighLevel."""
        known = {t["name"] for t in self.tags.values()}
        for name in names:
            if name not in known:
                tag_id = make_id()
                self.tags[tag_id] = {"id": tag_id, "name": name, "locationId": self.location_id}
                known.add(name)


@attrs.define(kw_only=True)
class SandboxState:
    """All locations, tokens and OAuth material of one sandbox, plus its request log."""

    ids: IdFactory
    locations: dict[str, LocationState] = attrs.field(factory=dict)
    tokens: dict[str, TokenInfo] = attrs.field(factory=dict, repr=False)
    oauth_apps: dict[str, OAuthApp] = attrs.field(factory=dict, repr=False)
    auth_codes: dict[str, OAuthGrant] = attrs.field(factory=dict, repr=False)
    refresh_tokens: dict[str, OAuthGrant] = attrs.field(factory=dict, repr=False)
    request_log: list[RequestRecord] = attrs.field(factory=list)

    def find_owner(self, store: str, object_id: str) -> LocationState | None:
        """Which location holds ``object_id`` in ``store`` (ids are unique across the sandbox)."""
        for loc in self.locations.values():
            if object_id in getattr(loc, store):
                return loc
        return None


def iso_ms(epoch_s: float) -> str:
    """HighLevel's timestamp format: ISO-8601 UTC with milliseconds and ``Z``."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
