"""Build a test fixture's files once per test run and give each process its own copy.

Importable by bare name (``from built_once import built_once``) from any test directory, as
``builders`` is: ``tests/conftest.py`` uses it for the session's localities, and the live-server
tests, the browser site and the portal's OpenID provider for their migrated SQLite databases
(``tests/app`` has a conftest of its own, so theirs cannot import ``tests/conftest.py``)."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
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


def migrated_sqlite(
    tmp_path_factory, name: str, migrate: list[str], db_setting: str, dest: Path, env: dict
) -> None:
    """A SQLite database with every migration applied, at ``dest``: the command ``migrate``
    runs once per test run with ``db_setting`` (the variable naming its file) pointing into
    the shared build, then each asker gets a copy. Migrations give the same empty schema
    every time, so a server or command given the copy finds nothing to migrate. ``env`` is
    the asker's environment for the command."""

    def build(out: Path) -> None:
        out.mkdir()
        built_env = {**env, db_setting: str(out / "db.sqlite3"), "WRAPAROUND_VAR": str(out)}
        subprocess.run(migrate, env=built_env, check=True, timeout=300)

    migrated = built_once(tmp_path_factory, name, build, leaf="db")
    shutil.copyfile(migrated / "db.sqlite3", dest)


def migrated_app_db(tmp_path_factory, dest: Path, env: dict[str, str]) -> None:
    """The app's migrated, empty database (``wraparound app migrate``; its 53 migrations take
    about 10 s a run). ``env``: the app's settings module, without ``DATABASE_URL``."""
    migrate = [WRAPAROUND, "app", "migrate"]
    migrated_sqlite(tmp_path_factory, "migrated-app-db", migrate, "WRAPAROUND_DB", dest, env)
