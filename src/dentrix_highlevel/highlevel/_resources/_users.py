"""``client.users``: the location's users (providers, staff) — ``companyId`` comes from the location."""

from __future__ import annotations

from typing import Any

from dentrix_highlevel._errors import ResponseFormatError
from dentrix_highlevel.highlevel._convert import write
from dentrix_highlevel.highlevel._inputs import UserInput
from dentrix_highlevel.highlevel._models import User
from dentrix_highlevel.highlevel._request_kind import RequestKind
from dentrix_highlevel.highlevel._resources._base import Resource, seg
from dentrix_highlevel.highlevel._resources._locations import Locations

__all__ = ["Users"]


class Users(Resource):
    _company_id: str | None = None

    async def company_id(self) -> str:
        """The location's ``companyId`` (HighLevel wants it even with a location token); cached."""
        if self._company_id is None:
            location = await Locations(self._client).get()
            if not location.company_id:
                raise ResponseFormatError("location has no companyId", method="GET", path="/locations/{id}")
            self._company_id = location.company_id
        return self._company_id

    async def _payload(self, user: UserInput) -> dict[str, Any]:
        payload = write(user)
        payload.setdefault("companyId", await self.company_id())
        payload.setdefault("locationIds", [self._location_id])
        return payload

    async def create(self, user: UserInput) -> User:
        path = "/users/"
        return await self._create(
            path,
            User,
            key=None,
            json=await self._payload(user),
            resource="user",
            lookup={"email": user.email},
        )

    async def get(self, user_id: str) -> User:
        path = f"/users/{seg(user_id)}"
        return await self._get(path, User, key=None)

    async def update(self, user_id: str, user: UserInput) -> User:
        path = f"/users/{seg(user_id)}"
        return await self._put(path, User, key=None, json=await self._payload(user))

    async def delete(self, user_id: str) -> None:
        """HighLevel queues the delete (it is asynchronous on their side)."""
        await self._client.call("DELETE", f"/users/{seg(user_id)}", kind=RequestKind.IDEMPOTENT)

    async def search(self, *, query: str | None = None, limit: int = 25, skip: int = 0) -> tuple[User, ...]:
        params: dict[str, Any] = {
            "companyId": await self.company_id(),
            "locationId": self._location_id,
            "limit": limit,
            "skip": skip,
        }
        if query:
            params["query"] = query
        path = "/users/search"
        return await self._get(path, tuple[User, ...], key="users", params=params)

    async def find(self, *, email: str) -> User | None:
        folded = email.casefold()
        for user in await self.search(query=email, limit=100):
            if (user.email or "").casefold() == folded:
                return user
        return None
