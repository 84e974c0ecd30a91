"""``POST /medias/upload-file`` (API-NOTES §7): a multipart ``file`` up to 25 MB, or ``hosted`` + ``fileUrl``;
``GET /medias/files`` (the location's files, paged, ``query`` on the name) and ``DELETE /medias/{id}``.

The sandbox keeps each file's name, size, type and SHA-256, never its bytes (uploads may be clinical
documents, and the state dump must stay small).
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.datastructures import UploadFile

from dentrix_highlevel.sandbox._http import ApiError, ApiRoute, Ctx, Field, Reply, drop_none

__all__ = ["ROUTES"]

Json = dict[str, Any]

#: UploadFileDto's form fields (spec medias); the pipeline refuses others.
_UPLOAD_FORM = dict.fromkeys(("file", "hosted", "fileUrl", "name", "parentId"), Field(kind="any"))
_CHUNK = 1024 * 1024


def upload_file(ctx: Ctx) -> Reply:
    loc = ctx.location()
    form = ctx.form
    if form is None:
        raise ApiError.bad_request("Content-Type must be multipart/form-data")
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


def _alt(ctx: Ctx) -> None:
    """``altType=location`` and ``altId`` (the caller's location) are required on the list and the delete."""
    alt_type = ctx.require_query("altType")
    if alt_type != "location":
        raise ApiError.unprocessable(["altType must be one of the following values: location"])
    ctx.location(ctx.require_query("altId"))


def list_files(ctx: Ctx) -> Reply:
    _alt(ctx)
    for name in ("sortBy", "sortOrder", "type"):
        ctx.require_query(name)
    loc = ctx.location()
    try:
        offset = int(ctx.query.get("offset") or 0)
        limit = int(ctx.query.get("limit") or 100)
    except ValueError:
        raise ApiError.unprocessable(["offset and limit must be numbers"]) from None
    wanted = ctx.query.get("type")
    query = (ctx.query.get("query") or "").casefold()
    files = [
        m
        for m in loc.media.values()
        if wanted == "file" and (not query or query in str(m.get("name", "")).casefold())
    ]
    if ctx.query.get("sortOrder") == "desc":
        files.reverse()  # the store keeps upload order
    page = files[max(offset, 0) : max(offset, 0) + max(limit, 0)]
    out = [
        drop_none(
            {
                "_id": m["id"],
                "altId": loc.location_id,
                "altType": "location",
                "name": m.get("name"),
                "parentId": m.get("parentId"),
                "url": m.get("url"),
                "type": "file",
                "contentType": m.get("contentType"),
                "size": m.get("size"),
            }
        )
        for m in page
    ]
    return Reply(200, {"files": out})


def delete_file(ctx: Ctx) -> Reply:
    _alt(ctx)
    media_id = ctx.path_params["id"]
    loc, _ = ctx.owned("media", media_id, "File")
    del loc.media[media_id]
    return Reply(200, {"success": True})


_FILES_QUERY = frozenset(
    {"offset", "limit", "sortBy", "sortOrder", "type", "query", "altType", "altId", "parentId", "fetchAll"}
)
ROUTES = [
    ApiRoute(
        method="POST",
        path="/medias/upload-file",
        handler=upload_file,
        scope="medias.write",
        body=_UPLOAD_FORM,
        form=True,
    ),
    ApiRoute(
        method="GET", path="/medias/files", handler=list_files, scope="medias.readonly", query=_FILES_QUERY
    ),
    ApiRoute(
        method="DELETE",
        path="/medias/{id}",
        handler=delete_file,
        scope="medias.write",
        query=frozenset({"altType", "altId"}),
    ),
]
