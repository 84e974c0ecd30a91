"""``client.media``: ``POST /medias/upload-file`` (a file up to 25 MB, or a hosted URL)."""

from __future__ import annotations

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.highlevel._client import RequestKind
from dentrix_highlevel.highlevel._models import UploadedFile
from dentrix_highlevel.highlevel._resources._base import Resource

__all__ = ["MAX_UPLOAD_BYTES", "Media"]

MAX_UPLOAD_BYTES = 25 * 1024 * 1024


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
        body = await self._client.call(
            "POST",
            path,
            kind=RequestKind.CREATE,
            data=data,
            files=files,
            resource="media",
            lookup={"name": name},
        )
        return self._read(body, UploadedFile, key=None, method="POST", path=path)
