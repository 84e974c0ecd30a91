"""``client.media``: ``POST /medias/upload-file`` (a file up to 25 MB, or a hosted URL), the location's
file list (``GET /medias/files``) and ``DELETE /medias/{id}`` (API-NOTES §7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.highlevel._models import UploadedFile
from dentrix_highlevel.highlevel._request_kind import RequestKind
from dentrix_highlevel.highlevel._resources._base import Resource, seg

__all__ = ["MAX_UPLOAD_BYTES", "Media", "MediaFile"]

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
_PAGE = 100


@attrs.frozen(kw_only=True)
class MediaFile:
    """One file of the location's media library (ids, name and URL only)."""

    id: str
    name: str | None = None
    url: str | None = None


class Media(Resource):
    async def upload(
        self,
        content: bytes,
        *,
        name: str,
        content_type: str = "application/octet-stream",
        parent_id: str | None = None,
    ) -> UploadedFile:
        """Upload bytes (checked against HighLevel's 25 MB limit before anything is sent)."""
        if len(content) > MAX_UPLOAD_BYTES:
            raise ConfigurationError(
                f"file is {len(content)} bytes; HighLevel accepts at most {MAX_UPLOAD_BYTES}"
            )
        data = {"name": name}
        if parent_id is not None:
            data["parentId"] = parent_id
        return await self._send(data=data, files={"file": (name, content, content_type)}, name=name)

    async def upload_url(self, file_url: str, *, name: str) -> UploadedFile:
        """Let HighLevel fetch a file from ``file_url`` (``hosted=true``)."""
        return await self._send(
            data={"hosted": "true", "fileUrl": file_url, "name": name}, files=None, name=name
        )

    async def _send(self, *, data: dict[str, str], files: object, name: str) -> UploadedFile:
        path = "/medias/upload-file"
        return await self._request(
            "POST",
            path,
            UploadedFile,
            kind=RequestKind.CREATE,
            key=None,
            data=data,
            files=files,
            resource="media",
            lookup={"name": name},
        )

    async def files(self, *, query: str | None = None, page_size: int = _PAGE) -> AsyncIterator[MediaFile]:
        """Every file of the location (``type=file``), oldest first, paged by ``offset``/``limit``;
        ``query`` narrows to names containing it."""
        offset = 0
        guard = self._client.page_guard("GET", "/medias/files")
        while True:
            guard.page()
            params: dict[str, Any] = {
                "altType": "location",
                "altId": self._location_id,
                "type": "file",
                "sortBy": "createdAt",
                "sortOrder": "asc",
                "offset": offset,
                "limit": page_size,
            }
            if query:
                params["query"] = query
            body = await self._client.call("GET", "/medias/files", kind=RequestKind.READ, params=params)
            page = body.get("files") or []
            for item in page:
                if _file_id(item):
                    yield MediaFile(
                        id=_file_id(item),
                        name=item.get("name") if isinstance(item.get("name"), str) else None,
                        url=item.get("url") if isinstance(item.get("url"), str) else None,
                    )
            if len(page) < page_size:
                return
            # Offsets always advance, so a cycle shows as the same files again (first and last ids).
            guard.cursor([_file_id(page[0]), _file_id(page[-1])])
            offset += len(page)

    async def find(self, *, name: str) -> MediaFile | None:
        """The oldest file with exactly this name (how an interrupted upload is found again), or None."""
        async for item in self.files(query=name):
            if item.name == name:
                return item
        return None

    async def delete(self, file_id: str) -> None:
        """``DELETE /medias/{id}?altType=location&altId=<location>`` (a missing file answers 404)."""
        await self._client.call(
            "DELETE",
            f"/medias/{seg(file_id)}",
            kind=RequestKind.IDEMPOTENT,
            params={"altType": "location", "altId": self._location_id},
        )


def _file_id(item: Any) -> str:
    """A listed file's id, or "" when it has none."""
    if not isinstance(item, dict):
        return ""
    # The spec documents no id key for a listed file; HighLevel's media objects use ``_id``.
    ident = item.get("_id") or item.get("id")
    return str(ident) if ident else ""
