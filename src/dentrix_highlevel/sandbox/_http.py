"""Request/response plumbing shared by the route modules: HighLevel's error shapes, strict body checks,
and the normalisations HighLevel applies on write (E.164 phones, lower-cased e-mails and tags)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from starlette.datastructures import FormData, QueryParams

from dentrix_highlevel.sandbox._config import Strictness
from dentrix_highlevel.sandbox._search_index import LaggedIndex
from dentrix_highlevel.sandbox._state import IdFactory, LocationState, SandboxState, TokenInfo

__all__ = [
    "ApiError",
    "ApiRoute",
    "Ctx",
    "Field",
    "Reply",
    "check_body",
    "fields",
    "normalize_email",
    "normalize_phone",
    "normalize_tags",
]

Json = dict[str, Any]

FORBIDDEN_LOCATION = "The token does not have access to this location"


@attrs.frozen
class Reply:
    status: int
    body: Any


class ApiError(Exception):
    """Raised by a handler to answer with HighLevel's error shape."""

    def __init__(self, status: int, body: Json) -> None:
        self.status = status
        self.body = body
        super().__init__(f"HTTP {status}")

    @classmethod
    def bad_request(cls, message: str, **extra: Any) -> ApiError:
        return cls(400, {"statusCode": 400, "message": message, **extra})

    @classmethod
    def unprocessable(cls, messages: list[str]) -> ApiError:
        return cls(422, {"statusCode": 422, "message": messages, "error": "Unprocessable Entity"})

    @classmethod
    def not_found(cls, message: str) -> ApiError:
        return cls(404, {"statusCode": 404, "message": message, "error": "Not Found"})

    @classmethod
    def forbidden(cls) -> ApiError:
        return cls(403, {"statusCode": 403, "message": FORBIDDEN_LOCATION})

    @classmethod
    def unauthorized(cls, message: str) -> ApiError:
        return cls(401, {"statusCode": 401, "message": message, "error": "Unauthorized"})


@attrs.frozen(kw_only=True)
class Ctx:
    """What a handler gets: the state, the caller's location, path params, query and parsed body.

    ``body`` has already passed the route's field table (``ApiRoute.body``): unknown keys, types and
    required keys are checked before the handler runs, as HighLevel's validation pipe does.
    """

    state: SandboxState
    strict: Strictness
    token: TokenInfo | None
    path_params: Mapping[str, str]
    query: QueryParams
    body: Any
    form: FormData | None
    now_s: float
    wall_s: float
    index_lag_s: float
    media_max_bytes: int
    access_token_ttl_s: float

    @property
    def ids(self) -> IdFactory:
        return self.state.ids

    @property
    def new_id(self) -> Callable[[], str]:
        return self.state.ids.object_id

    def location(self, location_id: str | None = None) -> LocationState:
        """The caller's location; 403 if ``location_id`` names another one, 422/400 if it is required."""
        own = self.token.location_id if self.token is not None else None
        if own is None:
            # An agency token: HighLevel wants a location token for location resources.
            raise ApiError.unauthorized("This route is not yet supported by the IAM Service.")
        if location_id is not None and location_id != own:
            raise ApiError.forbidden()
        return self.state.locations[own]

    def owned(self, store: str, object_id: str, what: str) -> tuple[LocationState, Json]:
        """An object by id in the caller's location; 403 if it lives in another location, else 404."""
        loc = self.location()
        obj = getattr(loc, store).get(object_id)
        if obj is not None:
            return loc, obj
        if self.state.find_owner(store, object_id) is not None:
            raise ApiError.forbidden()
        raise ApiError.not_found(f"{what} not found")

    @contextmanager
    def reindex(self, index: LaggedIndex, store: Mapping[str, Json], object_id: str) -> Iterator[None]:
        """Wrap a change of ``store[object_id]`` (create, update, delete): search sees it after the lag."""
        index.before_write(object_id, store.get(object_id), lag_s=self.index_lag_s)
        yield
        index.after_write(object_id, store.get(object_id), now_s=self.now_s, lag_s=self.index_lag_s)

    def check(self, body: Any, fields: Mapping[str, Field], *, prefix: str = "") -> Json:
        """A nested object checked like a body, under the sandbox's ``body_properties`` switch."""
        return check_body(body, fields, prefix=prefix, forbid_unknown=self.strict.body_properties)

    def require_query(self, name: str) -> str:
        value = self.query.get(name)
        if not value:
            raise ApiError.unprocessable([f"{name} should not be empty", f"{name} must be a string"])
        return value


@attrs.frozen(kw_only=True)
class Field:
    """One allowed body key. ``kind``: str, bool, num, int, strs (string[]), list, obj, any."""

    kind: str = "str"
    required: bool = False
    enum: tuple[str, ...] | None = None
    max_length: int | None = None


def fields(field: Field, *names: str) -> dict[str, Field]:
    """Several body keys checked alike, in this order (``check_body`` reports problems in table order)."""
    return dict.fromkeys(names, field)


def _type_message(name: str, field: Field) -> str | None:
    return {
        "str": f"{name} must be a string",
        "bool": f"{name} must be a boolean value",
        "num": f"{name} must be a number conforming to the specified constraints",
        "int": f"{name} must be an integer number",
        "strs": f"{name} must be an array",
        "list": f"{name} must be an array",
        "obj": f"{name} must be an object",
    }.get(field.kind)


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "num":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "strs":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "list":
        return isinstance(value, list)
    if kind == "obj":
        return isinstance(value, dict)
    return True


def check_body(
    body: Any, fields: Mapping[str, Field], *, prefix: str = "", forbid_unknown: bool = True
) -> Json:
    """HighLevel's strict validation (NestJS class-validator with ``forbidNonWhitelisted``).

    Unknown key -> ``property X should not exist``; missing required key -> ``X should not be empty``
    plus the type message; wrong type -> the type message. All problems are reported at once, as a 422
    whose ``message`` is an array. ``None`` is accepted for optional keys (most fields are nullable).
    With ``forbid_unknown`` off (a lenient sandbox) unknown keys are dropped instead of refused, so no
    handler ever stores them. Returns the body to use.
    """
    if not isinstance(body, dict):
        raise ApiError.unprocessable(["request body must be a JSON object"])
    problems: list[str] = []
    checked: Json = body if forbid_unknown else {k: v for k, v in body.items() if k in fields}
    body = checked
    for key in body:
        if key not in fields:
            problems.append(f"property {prefix}{key} should not exist")
    for key, field in fields.items():
        name = prefix + key
        value = body.get(key)
        if value is None:
            if field.required:
                problems.append(f"{name} should not be empty")
                message = _type_message(name, field)
                if message:
                    problems.append(message)
            continue
        if not _type_ok(value, field.kind):
            message = _type_message(name, field)
            if message:
                problems.append(message)
            continue
        if field.kind == "str" and field.required and value == "":
            problems.append(f"{name} should not be empty")
        if field.enum is not None and value not in field.enum:
            problems.append(f"{name} must be one of the following values: {', '.join(field.enum)}")
        if field.max_length is not None and isinstance(value, str) and len(value) > field.max_length:
            problems.append(f"{name} must be shorter than or equal to {field.max_length} characters")
    if problems:
        raise ApiError.unprocessable(problems)
    return checked


def normalize_email(value: str | None) -> str | None:
    """HighLevel stores e-mails lower-cased; a malformed one is a 422 (``email must be an email``)."""
    if value is None or value == "":
        return None
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise ApiError.unprocessable(["email must be an email"]) from None
    return value.strip().lower()


def normalize_phone(value: str | None, region: str = "US") -> str | None:
    """E.164, as HighLevel stores phones.

    HighLevel does not reject odd input: concatenated numbers became one garbage E.164 string (API-NOTES
    §13). So a parseable number is formatted even when invalid, and an unparseable one becomes ``+digits``.
    """
    if value is None or value.strip() == "":
        return None
    try:
        parsed = phonenumbers.parse(value, region)
        return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    except phonenumbers.NumberParseException:
        digits = "".join(ch for ch in value if ch.isdigit())
        if not digits:
            raise ApiError.unprocessable(["phone must be a valid phone number"]) from None
        return "+" + digits


def normalize_tags(tags: list[str]) -> list[str]:
    """Tags are trimmed and lower-cased (API-NOTES §13), duplicates dropped, order kept."""
    out: list[str] = []
    for tag in tags:
        clean = tag.strip().lower()
        if clean and clean not in out:
            out.append(clean)
    return out


def drop_none(obj: Json) -> Json:
    """HighLevel omits unset fields rather than sending nulls."""
    return {k: v for k, v in obj.items() if v is not None}


#: Version headers HighLevel accepts (API-NOTES §0): calendars use 2021-04-15, the rest 2021-07-28.
VERSION_CALENDARS = "2021-04-15"
VERSION_DEFAULT = "2021-07-28"
KNOWN_VERSIONS = frozenset({"v3", "2023-02-21", "2021-07-28", "2021-04-15", "legacy"})


@attrs.frozen(kw_only=True, eq=False)
class ApiRoute:
    """One HighLevel endpoint, with what its spec operation declares.

    ``scope`` is the OAuth scope the token needs (None: no bearer auth, e.g. ``POST /oauth/token``).
    ``version`` is the Version header value the operation declares (None: not required).
    ``body`` is the request body's field table (JSON keys, or form field names when ``form``); None when
    the operation takes no body (a body sent anyway is ignored). ``query`` names the query parameters the
    operation declares (path parameters and headers are not query parameters). Both include the
    undocumented properties known to work (``_undocumented``); the contract tests prove they equal the
    spec's plus those. ``contact_commit`` marks contact create/upsert, the calls where HighLevel may answer
    4xx after creating the contact. ``form`` asks for the body as form data (urlencoded or multipart).
    """

    method: str
    path: str
    handler: Callable[[Ctx], Reply]
    scope: str | None
    version: str | None = VERSION_DEFAULT
    body: Mapping[str, Field] | None = None
    query: frozenset[str] = frozenset()
    contact_commit: bool = False
    form: bool = False
