"""Every property the sandbox accepts that the official spec does not declare, with where it is known from.

HighLevel's validation refuses undeclared body properties (422 ``property X should not exist``), so the
sandbox refuses them too, except these: properties reported to work although the spec leaves them out.
The route tables declare them with their types; ``tests/contract`` proves that each route's body fields
and query parameters are exactly the spec's plus the ones listed here, and that none of these has since
become documented. ``customFields[].x`` names a key of the custom field value items.
"""

from __future__ import annotations

import attrs

__all__ = ["UNDOCUMENTED", "Undocumented", "undocumented"]


@attrs.frozen(kw_only=True)
class Undocumented:
    method: str
    path: str
    where: str  # "body" | "query"
    name: str
    source: str


_CF = "/locations/{locationId}/customFields"
_ISSUE_300 = "issue highlevel-api-docs#300 (API-NOTES §3.1: HighLevel staff: the docs are incomplete)"
_OPTIONS = "API-NOTES §3.1 [observed]: picklist options as clients send them, read back as picklistOptions"
_OPP_CONTACT = (
    "API-NOTES §6: in the 2025-08 UpsertOpportunityDto (history/opportunities@030b7de), dropped at HEAD; "
    "an opportunity without it is a 422"
)
_SEARCH_PROSE = (
    "API-NOTES §2.5: the spec's SearchBodyV2DTO is empty; the search doc (help.hoopai.com mirror of "
    "HighLevel's) documents the body"
)
_VALUE_KEYS = (
    "API-NOTES §2.2/§13: raw PUTs with customFields [{id, fieldValue}] worked (issue n8n-io/n8n#35392, "
    "#20474); `value` is the read-side key"
)


def _body(method: str, path: str, name: str, source: str) -> Undocumented:
    return Undocumented(method=method, path=path, where="body", name=name, source=source)


#: The whole list; docs/sandbox.md shows it.
UNDOCUMENTED: tuple[Undocumented, ...] = (
    _body("POST", _CF, "parentId", _ISSUE_300),
    _body("POST", _CF, "fieldKey", _ISSUE_300),
    _body("POST", _CF, "description", _ISSUE_300),
    _body("POST", _CF, "options", _OPTIONS),
    _body("PUT", f"{_CF}/{{id}}", "options", _OPTIONS),
    _body("POST", "/opportunities/upsert", "contactId", _OPP_CONTACT),
    *(
        _body("POST", "/contacts/search", name, _SEARCH_PROSE)
        for name in ("locationId", "pageLimit", "page", "searchAfter", "filters", "sort", "query")
    ),
    *(
        _body(method, path, name, _VALUE_KEYS)
        for method, path in (
            ("POST", "/contacts/"),
            ("POST", "/contacts/upsert"),
            ("PUT", "/contacts/{contactId}"),
        )
        for name in ("customFields[].value", "customFields[].fieldValue")
    ),
)


def undocumented(method: str, path: str, where: str = "body", *, within: str = "") -> frozenset[str]:
    """The undocumented names accepted on one operation: top-level ones, or those ``within`` a list
    property (``within="customFields"``: the keys of its items)."""
    prefix = f"{within}[]." if within else ""
    return frozenset(
        u.name.removeprefix(prefix)
        for u in UNDOCUMENTED
        if (u.method, u.path, u.where) == (method, path, where)
        and u.name.startswith(prefix)
        and (bool(within) or "[]" not in u.name)
    )
