"""``POST /medias/upload-file`` (API-NOTES §7): a multipart ``file`` up to 25 MB, or ``hosted`` + ``fileUrl``.

The sandbox keeps each file's name, size, type and SHA-256, never its bytes (uploads may be clinical
documents, and the state dump must stay small).
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.datastructures import UploadFile

from dentrix_highlevel.sandbox._http import ApiError, ApiRoute, Ctx, Reply, drop_none

__all__ = ["ROUTES"]

Json = dict[str, Any]

_ALLOWED = {"file", "hosted", "fileUrl", "name", "parentId"}
_CHUNK = 1024 * 1024


def upload_file(ctx: Ctx) -> Reply:
    loc = ctx.location()
    form = ctx.form
    if form is None:
        raise ApiError.bad_request("Content-Type must be multipart/form-data")
    unknown = sorted(k for k in form if k not in _ALLOWED)
    if unknown:
        raise ApiError.unprocessable([f"property {k} should not exist" for k in unknown])
    upload = form.get("file")
    hosted = str(form.get("hosted", "")).lower() == "true"
    file_url = form.get("fileUrl")
    media_id = ctx.new_id()
    record: Json
    if isinstance(upload, UploadFile):
        if upload.size is not None and upload.size > ctx.media_max_bytes:
            raise ApiError(
                413, {"statusCode": 413, "message": "File too large", "error": "Payload Too Large"}
            )
        digest = hashlib.sha256()
        size = 0
        upload.file.seek(0)
        while chunk := upload.file.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
        if size > ctx.media_max_bytes:
            raise ApiError(
                413, {"statusCode": 413, "message": "File too large", "error": "Payload Too Large"}
            )
        filename = upload.filename or "file"
        name = str(form.get("name") or filename)
        extension = filename.rsplit(".", 1)[-1] if "." in filename else "bin"
        record = {
            "id": media_id,
            "name": name,
            "size": size,
            "contentType": upload.content_type,
            "sha256": digest.hexdigest(),
            "url": f"https://storage.googleapis.com/msgsndr/{loc.location_id}/media/{media_id}.{extension}",
        }
    elif hosted and isinstance(file_url, str) and file_url:
        record = {
            "id": media_id,
            "name": str(form.get("name") or file_url.rsplit("/", 1)[-1]),
            "url": file_url,
        }
    elif upload is not None:
        raise ApiError.bad_request("file must be a file upload")
    else:
        raise ApiError.bad_request("Either file or hosted with fileUrl is required")
    parent = form.get("parentId")
    record["parentId"] = parent if isinstance(parent, str) and parent else None
    loc.media[media_id] = drop_none(record)
    return Reply(200, {"fileId": media_id, "url": record["url"]})


ROUTES = [
    ApiRoute(method="POST", path="/medias/upload-file", handler=upload_file, scope="medias.write", form=True)
]
