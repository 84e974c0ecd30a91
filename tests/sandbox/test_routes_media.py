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
