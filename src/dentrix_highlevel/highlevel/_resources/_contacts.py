"""``client.contacts``: create, get, update, delete, upsert, duplicate lookup, search, tags."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import aclosing
from typing import Any

import phonenumbers

from dentrix_highlevel._errors import ConfigurationError, ResponseFormatError
from dentrix_highlevel.highlevel._convert import write
from dentrix_highlevel.highlevel._inputs import ContactInput
from dentrix_highlevel.highlevel._models import Appointment, Contact, UpsertResult
from dentrix_highlevel.highlevel._request_kind import RequestKind
from dentrix_highlevel.highlevel._resources._base import Resource, seg
from dentrix_highlevel.highlevel._resources._tags import Tags

__all__ = ["Contacts"]

# HighLevel's page-based search reaches at most 10,000 rows; past that only the searchAfter cursor works.
PAGE_WINDOW_ROWS = 10_000
MAX_PAGE_LIMIT = 500
# The deprecated GET /contacts/ caps `limit` at 100.
LEGACY_MAX_LIMIT = 100
_NOT_ON_UPDATE = ("companyName", "gender")
# A contact create HighLevel answers 400/422 may have created the contact anyway.
_CREATED_ANYWAY = frozenset({400, 422})


def e164(phone: str, *, region: str = "US") -> str:
    """HighLevel stores E.164; a bare national number silently fails to match, so normalise first."""
    try:
        parsed = phonenumbers.parse(phone, None if phone.strip().startswith("+") else region)
    except phonenumbers.NumberParseException:
        raise ConfigurationError("phone is not a parseable phone number") from None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


class Contacts(Resource):
    """Contacts of the client's location (Version 2021-07-28)."""

    async def create(self, contact: ContactInput) -> Contact:
        """``POST /contacts/``. A 400/422/5xx/timeout may still have created it: AmbiguousWriteError."""
        path = "/contacts/"
        return await self._create_located(
            path, Contact, key="contact", item=contact, resource="contact", ambiguous_statuses=_CREATED_ANYWAY
        )

    async def get(self, contact_id: str) -> Contact:
        path = f"/contacts/{seg(contact_id)}"
        return await self._get(path, Contact, key="contact")

    async def update(self, contact_id: str, contact: ContactInput) -> Contact:
        """``PUT /contacts/{id}``; tags and customFields given here replace/merge as HighLevel does."""
        payload = write(contact)
        bad = sorted(k for k in _NOT_ON_UPDATE if k in payload)
        if bad:
            raise ConfigurationError(f"HighLevel's contact update does not accept {', '.join(bad)}")
        path = f"/contacts/{seg(contact_id)}"
        return await self._put(path, Contact, key="contact", json=payload)

    async def delete(self, contact_id: str) -> None:
        await self._client.call("DELETE", f"/contacts/{seg(contact_id)}", kind=RequestKind.IDEMPOTENT)

    async def upsert(
        self, contact: ContactInput, *, create_new_if_duplicate_allowed: bool = False
    ) -> UpsertResult:
        """``POST /contacts/upsert``: matches by the location's dedupe order (e-mail, then phone)."""
        if not contact.email and not contact.phone:
            raise ConfigurationError("upsert needs an email or a phone to match on")
        payload: dict[str, Any] = {**write(contact), "locationId": self._client.location_id}
        if create_new_if_duplicate_allowed:
            payload["createNewIfDuplicateAllowed"] = True
        path = "/contacts/upsert"
        return await self._request(
            "POST", path, UpsertResult, key=None, kind=RequestKind.IDEMPOTENT, json=payload
        )

    async def find_duplicate(self, *, email: str | None = None, phone: str | None = None) -> Contact | None:
        """``GET /contacts/search/duplicate``: the contact HighLevel would treat as this one, or None."""
        if not email and not phone:
            raise ConfigurationError("find_duplicate needs an email or a phone")
        params: dict[str, str] = {"locationId": self._client.location_id}
        if email:
            params["email"] = email
        if phone:
            params["number"] = e164(phone)
        path = "/contacts/search/duplicate"
        body = await self._client.call("GET", path, kind=RequestKind.READ, params=params)
        if body.get("contact") is None:
            return None
        return self._read(body, Contact, key="contact", method="GET", path=path)

    async def search(
        self,
        *,
        filters: Sequence[Mapping[str, Any]] = (),
        sort: Sequence[Mapping[str, str]] = (),
        query: str | None = None,
        page_limit: int = 100,
        page_window_rows: int = PAGE_WINDOW_ROWS,
    ) -> AsyncIterator[Contact]:
        """Every contact matching, page by page; past ``page_window_rows`` it follows ``searchAfter``.

        ``filters`` are HighLevel's ``{field, operator, value}`` items (``customFields.<id>`` works).
        The search index lags writes by seconds: verify fresh writes with :meth:`get` instead.
        """
        if not 1 <= page_limit <= MAX_PAGE_LIMIT:
            raise ConfigurationError(f"page_limit must be in 1..{MAX_PAGE_LIMIT}")
        path = "/contacts/search"
        base: dict[str, Any] = {"locationId": self._client.location_id, "pageLimit": page_limit}
        if filters:
            base["filters"] = [dict(f) for f in filters]
        if sort:
            base["sort"] = [dict(s) for s in sort]
        if query:
            base["query"] = query
        page = 1
        cursor: list[Any] | None = None
        seen = 0
        guard = self._client.page_guard("POST", path)
        while True:
            guard.page()
            payload = dict(base)
            if cursor is None:
                payload["page"] = page
            else:
                payload["searchAfter"] = cursor  # HighLevel: never send page together with searchAfter
            body = await self._client.call("POST", path, kind=RequestKind.READ, json=payload)
            rows = self._read(body, tuple[Contact, ...], key="contacts", method="POST", path=path)
            for row in rows:
                yield row
            seen += len(rows)
            total = body.get("total")
            if len(rows) < page_limit or (isinstance(total, int) and seen >= total):
                return
            if cursor is not None or (page + 1) * page_limit > page_window_rows:
                last = rows[-1].search_after
                if not last:
                    raise ResponseFormatError(
                        "search row has no searchAfter cursor", method="POST", path=path
                    )
                cursor = list(last)
                guard.cursor(["searchAfter", cursor])
            else:
                page += 1

    async def list_legacy(
        self, *, query: str | None = None, limit: int = LEGACY_MAX_LIMIT
    ) -> AsyncIterator[Contact]:
        """Every contact through the deprecated ``GET /contacts/``, following its ``meta`` cursor.

        Prefer :meth:`search`; this exists for accounts where search is unavailable or lags too much, since
        the legacy list reads the primary store (HighLevel marks it deprecated, not removed).
        """
        if not 1 <= limit <= LEGACY_MAX_LIMIT:
            raise ConfigurationError(f"limit must be in 1..{LEGACY_MAX_LIMIT}")
        path = "/contacts/"
        params: dict[str, Any] = {"locationId": self._client.location_id, "limit": limit}
        if query:
            params["query"] = query
        pages = self._start_after_pages(
            path, tuple[Contact, ...], key="contacts", params=params, next_cursor=_legacy_cursor
        )
        async with aclosing(pages):
            async for row in pages:
                yield row

    async def appointments(self, contact_id: str) -> tuple[Appointment, ...]:
        """``GET /contacts/{id}/appointments``. Times come back naive, in the location's time zone."""
        path = f"/contacts/{seg(contact_id)}/appointments"
        return await self._get(path, tuple[Appointment, ...], key="events")

    async def add_tags(self, contact_id: str, tags: Iterable[str]) -> tuple[str, ...]:
        """``POST /contacts/{id}/tags``: adds (unlike ``tags`` on upsert/update, which replaces)."""
        return await Tags(self._client).add(contact_id, tags)

    async def remove_tags(self, contact_id: str, tags: Iterable[str]) -> tuple[str, ...]:
        return await Tags(self._client).remove(contact_id, tags)


def _legacy_cursor(
    body: Mapping[str, Any], rows: tuple[Contact, ...], params: Mapping[str, Any]
) -> tuple[Any, Any] | None:
    meta = body.get("meta")
    if not isinstance(meta, Mapping):
        return None  # the spec's shape has no meta: one page is all there is
    cursor = (meta.get("startAfter"), meta.get("startAfterId"))
    return None if not rows or cursor == (None, None) else cursor
