"""Only ``dentrix_highlevel.sandbox`` may import the server stack (starlette, uvicorn)."""

from __future__ import annotations

import subprocess
import sys


def test_core_and_cli_do_not_import_the_server_stack() -> None:
    code = (
        "import sys, dentrix_highlevel, dentrix_highlevel.cli; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'multipart')); "
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
    sandbox = subprocess.run(
        [sys.executable, "-c", "import sys, dentrix_highlevel.sandbox; print('starlette' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert sandbox.stdout.strip() == "True"
