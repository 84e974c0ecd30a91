"""Fixtures shared by the whole suite.

Async tests run on anyio's asyncio backend only: aiolimiter is asyncio-only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI draws the same examples on every run, so a red CI is the code's doing, not the draw's (and has no
# deadline: a busy 2-core runner is slow); locally hypothesis keeps exploring new examples.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parents[1]


# ---- the repository tree stays as it was --------------------------------------------------------------

#: What the tools themselves keep in the tree (caches, builds); everything else a test writes is a leak.
_TOOL_DIRS = frozenset(
    {
        ".git",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
        "site",
        "build",
        "dist",
    }
)


def _tree_files(root: Path) -> set[str]:
    found: set[str] = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [
            d
            for d in dirs
            if d not in _TOOL_DIRS and not d.endswith(".egg-info") and not d.startswith(".venv")
        ]
        found.update(os.path.relpath(os.path.join(folder, f), root) for f in files)
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_TREE_KEY] = _tree_files(REPO_ROOT)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The suite writes only to temporary directories: anything new in the repository tree fails the run
    (a committed ``ledger.sqlite3`` from a test is how this guard came about)."""
    before = session.config.stash.get(_TREE_KEY, None)
    if before is None:
        return
    leaked = sorted(_tree_files(REPO_ROOT) - before)
    if leaked:
        shown = ", ".join(leaked[:10]) + (f" and {len(leaked) - 10} more" if len(leaked) > 10 else "")
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"FAILED: the suite wrote into the repository tree: {shown}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_TREE_KEY = pytest.StashKey[set[str]]()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def shared_dir() -> Path:
    """Where ``../shared`` (HighLevel OpenAPI files, Dentrix notes) is expected: beside the checkout."""
    override = os.environ.get("DENTRIX_HIGHLEVEL_SHARED")
    return Path(override) if override else REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def openapi_dir() -> Path:
    """The official HighLevel OpenAPI files. Missing is a failure in CI and a skip elsewhere."""
    path = shared_dir() / "highlevel" / "openapi"
    if not (path / "apps" / "contacts.json").is_file():
        message = (
            f"HighLevel OpenAPI files not found: expected them at {path} "
            "(the shared/ folder beside the checkout, or set DENTRIX_HIGHLEVEL_SHARED)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


# ---- HighLevel sandbox fixtures (imported lazily: only sandbox users pay for starlette) ------------------


@pytest.fixture
def sandbox() -> Any:
    """A fresh in-memory HighLevel sandbox (documented limits, no faults, seed 0)."""
    from dentrix_highlevel.sandbox import Sandbox

    return Sandbox()


@pytest.fixture
def location(sandbox: Any) -> Any:
    """A location on ``sandbox`` whose duplicate-contact setting is off; ``.token`` is its PIT."""
    return sandbox.create_location(allow_duplicates=False)


@pytest.fixture
def sandbox_server() -> Iterator[Any]:
    """A real uvicorn server on 127.0.0.1 (free port) serving a fresh sandbox with one location.

    Attributes: ``.base_url``, ``.sandbox``, ``.location``.
    """
    from dentrix_highlevel.sandbox import SandboxServer

    with SandboxServer() as server:
        yield server


# ---- a real PostgreSQL server (the PostgreSQL ledger's tests) ------------------------------------------


def _postgres_bin_dirs() -> list[Path]:
    """Where the server binaries may be: PATH first, then Debian's versioned directories, newest first."""
    import glob
    import shutil

    found: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path is not None:
        found.append(Path(on_path).resolve().parent)
    found.extend(
        Path(d) for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True) if Path(d) not in found
    )
    return [d for d in found if all((d / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))]


class PostgresServer:
    """One throw-away PostgreSQL cluster: ``initdb`` into a temporary directory, trust authentication on
    a free loopback port (the socket in the same directory), stopped and deleted at the end."""

    def __init__(self, bin_dir: Path) -> None:
        import pwd
        import socket
        import subprocess
        import tempfile

        self._bin = bin_dir
        self._root = Path(tempfile.mkdtemp(prefix="dhl-pg-"))
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            # The server refuses to run as root: run it as the `postgres` user (or nobody) instead.
            for name in ("postgres", "nobody"):
                try:
                    entry = pwd.getpwnam(name)
                except KeyError:
                    continue
                os.chown(self._root, entry.pw_uid, entry.pw_gid)
                self._as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
                break
        self.user = "dhl_test"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._data = self._root / "data"
        self._run = subprocess.run
        self._pg(
            "initdb",
            "-D",
            str(self._data),
            "-U",
            self.user,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        # fsync off: a test server's durability is not under test (the ledger's SQL is), speed is welcome.
        options = (
            f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._pg(
            "pg_ctl",
            "-D",
            str(self._data),
            "-l",
            str(self._root / "server.log"),
            "-w",
            "-o",
            options,
            "start",
        )
        self._databases = 0

    def _pg(self, tool: str, *args: str) -> None:
        result = self._run(
            [str(self._bin / tool), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            cwd=self._root,  # the server's user may not be able to read the test's working directory
            **self._as,
        )
        if result.returncode != 0:
            log = self._root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr[-2000:]}\n{tail}")

    def url(self, database: str = "postgres", schema: str | None = None) -> str:
        base = f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"
        return base if schema is None else f"{base}?schema={schema}"

    def create_database(self) -> str:
        import psycopg

        self._databases += 1
        name = f"dhl_test_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name

    def stop(self) -> None:
        import shutil

        try:
            self._pg("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self._root, ignore_errors=True)


def _skip_or_fail(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session. Missing binaries or psycopg: a failure in CI (``.ci/run``
    installs the server), a skip elsewhere."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _skip_or_fail("psycopg is not installed (pip install -e '.[dev]')")
    dirs = _postgres_bin_dirs()
    if not dirs:
        _skip_or_fail(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
            "/usr/lib/postgresql/*/bin: install them (e.g. apt-get install postgresql)"
        )
    server = PostgresServer(dirs[0])
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def postgres_database(postgres_server: PostgresServer) -> str:
    """A fresh database per test module on the session's server; tests take a schema each in it."""
    return postgres_server.create_database()


_SCHEMAS = iter(range(1, 1_000_000))


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, postgres_database: str) -> str:
    """A ledger URL naming a schema no other test uses."""
    return postgres_server.url(postgres_database, f"t{next(_SCHEMAS)}")
