"""A throwaway PostgreSQL server on 127.0.0.1 for the test session (and the benchmarks).

Started once per process (whichever fixture asks first), with a temporary data directory,
and stopped at exit. initdb refuses to run as root, so as root the server runs as the
`postgres` user that Debian's package creates. Each test gets its own fresh database.
"""
from __future__ import annotations

import atexit
import functools
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "evolve"
_counter = itertools.count()


class NoPostgres(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@functools.cache
def server_url() -> str:
    """postgresql+psycopg://evolve@127.0.0.1:PORT/postgres of a server this process started."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise NoPostgres("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise NoPostgres("psycopg is not installed: pip install -e '.[postgres]'") from None
    root = Path(tempfile.mkdtemp(prefix="evolve-pg-"))
    data, port = root / "data", _free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        shutil.chown(root, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=120)
    done = run([*prefix, initdb, "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync"])
    if done.returncode != 0:
        raise NoPostgres(f"initdb failed: {done.stderr.strip()[-500:]}")
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    done = run([*prefix, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start"])
    if done.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        raise NoPostgres(f"postgres did not start: {done.stderr.strip()[-300:]} {log[-500:]}")

    def stop() -> None:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
                       timeout=60)
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    return f"postgresql+psycopg://{USER}@127.0.0.1:{port}/postgres"


def fresh_database(prefix: str = "t") -> str:
    """The URL of a new, empty database on the session's server."""
    import psycopg
    base = server_url()
    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name


def require() -> str:
    """server_url(), or skip the test with the reason (fail instead under CI, which installs PostgreSQL)."""
    import pytest
    try:
        return server_url()
    except NoPostgres as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        pytest.skip(str(exc))
