"""Provider users: each provider a HighLevel user (a user with the provider's e-mail is the practice's, reused
and never deleted), per the ``provider_users`` policy.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from dentrix_highlevel.highlevel import UserInput
from dentrix_highlevel.migration._engine.context import RunContext, content_hash
from dentrix_highlevel.migration._engine.writers.base import CountScope, Writer, feature
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome
from dentrix_highlevel.records import Provider

__all__ = ["KIND", "WRITER", "ensure_provider_users"]


async def ensure_provider_users(ctx: RunContext, providers: Sequence[Provider]) -> dict[str, str]:
    """provider id -> HighLevel user id, per the ``provider_users`` policy."""
    user_map = ctx.maps.get("provider_user")
    if not ctx.policies.provider_users or user_map is None:
        return {}
    out: dict[str, str] = {}
    for provider in providers:
        key = f"provider:{provider.provider_id}"
        payload = user_map.apply(provider, practice=ctx.practice).payload
        first, last, email = payload.get("firstName"), payload.get("lastName"), payload.get("email")
        if not (isinstance(first, str) and isinstance(last, str) and isinstance(email, str)):
            await ctx.record(
                "user",
                key,
                RecordAction.SKIPPED,
                RecordOutcome.NOT_APPLIED,
                reason="provider has no name or e-mail: no user",
            )
            continue
        digest = content_hash(payload)
        ours = await ctx.db(ctx.ledger.destination_of, "user", key)
        if ours is None:
            existing = await ctx.hl.users.find(email=email)
            if existing is not None and not ctx.made_in_setup("user", key):
                # The practice already has this person as a user: use it, never delete it.
                await ctx.record(
                    "user",
                    key,
                    RecordAction.UNCHANGED,
                    RecordOutcome.APPLIED,
                    destination_id=existing.id,
                    digest=digest,
                    reason="existing user reused",
                )
                out[provider.provider_id] = existing.id
                continue
            await ctx.note_setup_created([("user", key)])
        phone = payload.get("phone")

        async def create(
            first: str = first, last: str = last, email: str = email, phone: object = phone
        ) -> str:
            # HighLevel requires a password on create: a random one, never stored or logged; the provider
            # sets their own through HighLevel's "forgot password" flow.
            password = secrets.token_urlsafe(24) + "aA1!"
            user = await ctx.hl.users.create(
                UserInput(
                    password=password,
                    first_name=first,
                    last_name=last,
                    email=email,
                    phone=phone if isinstance(phone, str) else None,
                )
            )
            return user.id

        user_id = await ctx.ensure_object(
            kind="user", key=key, digest=digest, lookup={"email": email}, create=create, update=None
        )
        if user_id is not None:
            out[provider.provider_id] = user_id
    return out


KIND = "user"


def _keys(scope: CountScope) -> frozenset[str]:
    """A user per provider, per the ``provider_users`` policy."""
    if not scope.policies.provider_users or "provider_user" not in scope.maps:
        return frozenset()
    return frozenset(f"provider:{p.provider_id}" for p in scope.providers)


WRITER = Writer(
    kind=KIND,
    feature=feature(
        "provider users",
        "providers become users (an existing user with the provider's e-mail is reused)",
        "GET /users/search",
        "POST /users/",
        "DELETE /users/{userId}",
    ),
    setup_keys=_keys,
    setup=True,
    in_plan=lambda policies, mapped: policies.provider_users and mapped("provider_user"),
)
