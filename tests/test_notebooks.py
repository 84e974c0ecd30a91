"""Every shipped notebook runs in a real Jupyter kernel (nbclient + ipykernel), the way a user runs it.

A kernel already runs an event loop, so ``anyio.run(...)`` in a cell fails there while a plain ``exec()``
of the cells passes: only a real kernel tells the two apart. The kernel starts in an empty temporary
folder with ``TMPDIR`` pointing at another one, so the test sees everything the notebook writes (and
that the last cell removes it); the session hook in ``conftest.py`` checks the repository tree as well.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from test_examples import SANDBOX_TOKEN, leaked, patient_values

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (REPO / "examples").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
CELL_TIMEOUT_S = 240
_ENV_DROPPED = ("HIGHLEVEL_", "ASCEND_", "JPY_", "PYDEVD")

# What each notebook must print (identifiers and counts only), by file name.
EXPECTED: dict[str, tuple[str, ...]] = {
    "sandbox_walkthrough.ipynb": (
        r"export: 12 patients",
        r"read it: workdir/plan\.md exists: True",
        r"approved [0-9a-f]{12}",
        r"sample sample-\S+ completed \| field verdicts: \{'match': \d+",
        r"reconciled: True \| contacts re-read: \d+ \| mismatches: 0",
        r"rollback rollback-\S+ completed \| contacts left: 0",
        r"sandbox stopped, work folder removed",
    ),
}


def test_every_notebook_has_expectations() -> None:
    assert NOTEBOOKS, "no notebook found under examples/"
    assert sorted(p.name for p in NOTEBOOKS) == sorted(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert len(cells) >= 8
    for cell in cells:
        assert cell.outputs == []
        assert cell.execution_count is None
        # A kernel runs a loop already: anyio.run() in a cell is the bug this file exists for.
        assert "anyio.run(" not in cell.source


def _text(outputs: list[Any]) -> str:
    parts = []
    for output in outputs:
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
        elif output.get("output_type") == "error":
            parts.append("\n".join(output.get("traceback", [])))
    return "".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_a_real_kernel(path: Path, tmp_path: Path) -> None:
    cwd, scratch = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ENV_DROPPED)}
    env.update(TMPDIR=str(scratch), IPYTHONDIR=str(tmp_path / "ipython"))
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    try:
        client.execute(env=env)
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name}: a cell failed in the kernel:\n{exc}")
    out = "".join(_text(c.get("outputs", [])) for c in notebook.cells if c.cell_type == "code")
    for line in EXPECTED[path.name]:
        assert re.search(line, out, re.M), f"no line matching {line!r} in:\n{out}"
    assert leaked(out, patient_values(12, 7)) == []
    assert not SANDBOX_TOKEN.search(out)
    # Everything it wrote went into the temporary folder, and the last cell removed it.
    assert list(cwd.iterdir()) == []
    assert list(scratch.iterdir()) == []
