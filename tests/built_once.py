"""Build a test fixture's files once per test run and give each process its own copy.

Importable by bare name (``from built_once import built_once``) from any test directory, as
``builders`` is: ``tests/conftest.py`` uses it for the session's localities and the live-server
tests for their migrated app database (``tests/app`` has a conftest of its own, so theirs
cannot import ``tests/conftest.py``)."""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

WRAPAROUND = str(Path(sys.executable).with_name("wraparound"))


def built_once(
    tmp_path_factory, name: str, build: Callable[[Path], None], leaf: str = "warehouse"
) -> Path:
    """The folder ``build`` writes (a warehouse, by default named so), built once per test run
    and copied into this process's own temporary directory: under pytest-xdist the first
    worker to ask builds it (the others wait on a lock) and every worker gets its own copy, so
    each may still write into it as if it had built it itself. The builds are deterministic
    (seeded localities, migrations), so a copy holds what a build of its own would."""
    own = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base temp is ``pytest-N/popen-gwK``; ``pytest-N`` is the run's.
    shared = own.parent if own.name.startswith("popen-gw") else own
    built = shared / "built-once" / name / leaf
    built.parent.mkdir(parents=True, exist_ok=True)
    with (built.parent / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (built.parent / "done").exists():
            shutil.rmtree(built, ignore_errors=True)
            build(built)
            (built.parent / "done").touch()
    out = tmp_path_factory.mktemp(name) / leaf
    shutil.copytree(built, out)
    return out


def migrated_app_db(tmp_path_factory, dest: Path, env: dict[str, str]) -> None:
    """An empty app database with every migration applied, as a SQLite file at ``dest``:
    ``wraparound app migrate`` in its own process once per test run, then a copy for each
    asker. The app's migrations take about 10 s a run and give the same empty schema every
    time; a server or command given the copy finds nothing to migrate. ``env`` is the
    asker's environment for the app (its settings module, without ``DATABASE_URL``)."""

    def build(out: Path) -> None:
        out.mkdir()
        built_env = {**env, "WRAPAROUND_DB": str(out / "app.sqlite3"), "WRAPAROUND_VAR": str(out)}
        subprocess.run([WRAPAROUND, "app", "migrate"], env=built_env, check=True, timeout=300)

    migrated = built_once(tmp_path_factory, "migrated-app-db", build, leaf="db")
    shutil.copyfile(migrated / "app.sqlite3", dest)


def migrated_pg_template(tmp_path_factory, url: str, env: dict[str, str]) -> str:
    """The name of a PostgreSQL database on ``url``'s server holding the app's migrated, empty
    schema, made once per test run (``wraparound app migrate``) for ``CREATE DATABASE ...
    TEMPLATE``: a fresh database for a live server is then a copy, not 53 migrations (about
    15 s on the suite's PostgreSQL). Templates an earlier run left on the same server are
    dropped as this one is made (one still being copied from is left alone)."""
    import psycopg

    def build(out: Path) -> None:
        out.mkdir()
        name = f"wrap_migrated_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as conn:
            left = conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'wrap\\_migrated\\_%'"
            ).fetchall()
            for (old,) in left:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(f"DROP DATABASE {old}")
            conn.execute(f"CREATE DATABASE {name}")
        built_env = {**env, "DATABASE_URL": f"{url.rsplit('/', 1)[0]}/{name}"}
        built_env["WRAPAROUND_VAR"] = str(out)
        subprocess.run([WRAPAROUND, "app", "migrate"], env=built_env, check=True, timeout=300)
        (out / "name").write_text(name)

    return (built_once(tmp_path_factory, "migrated-pg", build, leaf="db") / "name").read_text()
