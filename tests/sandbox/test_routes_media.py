"""POST /medias/upload-file: multipart file (size limit -> 413) or hosted fileUrl."""

from __future__ import annotations

import pytest

from dentrix_highlevel.sandbox import Sandbox, SandboxConfig

from ._helpers import make_client

pytestmark = pytest.mark.anyio


async def test_upload_file_and_limit() -> None:
    sandbox = Sandbox(SandboxConfig(media_max_bytes=1024))
    loc = sandbox.create_location()
    async with make_client(sandbox, loc.token) as client:
        ok = await client.post(
            "/medias/upload-file", files={"file": ("xray.png", b"\x89PNG" + b"0" * 1000, "image/png")}
        )
        assert ok.status_code == 200
        body = ok.json()
        assert body["url"].endswith(f"/{body['fileId']}.png")
        stored = sandbox.location(loc.location_id).media[body["fileId"]]
        assert stored["size"] == 1004
        assert "content" not in stored
        big = await client.post(
            "/medias/upload-file", files={"file": ("big.pdf", b"0" * 1025, "application/pdf")}
        )
        assert big.status_code == 413
        hosted = await client.post(
            "/medias/upload-file",
            data={"hosted": "true", "fileUrl": "https://files.example/a.pdf", "name": "a.pdf"},
        )
        assert hosted.status_code == 200
        assert hosted.json()["url"] == "https://files.example/a.pdf"
        neither = await client.post("/medias/upload-file", files={"name": (None, b"x")})
        assert neither.status_code == 400


async def test_default_limit_is_25_mb(sandbox: Sandbox) -> None:
    loc = sandbox.create_location()
    limit = 25 * 1024 * 1024
    async with make_client(sandbox, loc.token) as client:
        over = await client.post(
            "/medias/upload-file", files={"file": ("scan.pdf", b"0" * (limit + 1), "application/pdf")}
        )
        assert over.status_code == 413
        exact = await client.post(
            "/medias/upload-file", files={"file": ("scan.pdf", b"0" * limit, "application/pdf")}
        )
        assert exact.status_code == 200


def test_limit_constant_is_documented_value() -> None:
    assert SandboxConfig().media_max_bytes == 25 * 1024 * 1024


async def test_list_query_paging_and_delete(sandbox: Sandbox) -> None:
    loc = sandbox.create_location()
    other = sandbox.create_location()
    alt = {"altType": "location", "altId": loc.location_id}
    listing = {**alt, "sortBy": "createdAt", "sortOrder": "asc", "type": "file"}
    async with make_client(sandbox, loc.token) as client:
        ids = []
        for n in range(3):
            up = await client.post(
                "/medias/upload-file",
                files={"file": (f"dentrix-document-{n}.pdf", b"%PDF", "application/pdf")},
            )
            ids.append(up.json()["fileId"])
        page = (await client.get("/medias/files", params={**listing, "limit": 2})).json()["files"]
        assert [f["_id"] for f in page] == ids[:2]
        rest = (await client.get("/medias/files", params={**listing, "limit": 2, "offset": 2})).json()[
            "files"
        ]
        assert [f["_id"] for f in rest] == ids[2:]
        found = (await client.get("/medias/files", params={**listing, "query": "document-1"})).json()["files"]
        assert [(f["_id"], f["name"]) for f in found] == [(ids[1], "dentrix-document-1.pdf")]
        assert (await client.get("/medias/files", params=alt)).status_code == 422  # sortBy etc. required
        foreign = {"altType": "location", "altId": other.location_id}
        assert (await client.delete(f"/medias/{ids[0]}", params=foreign)).status_code == 403
        assert (await client.delete(f"/medias/{ids[0]}", params=alt)).status_code == 200
        assert ids[0] not in sandbox.location(loc.location_id).media
        assert (await client.delete(f"/medias/{ids[0]}", params=alt)).status_code == 404
