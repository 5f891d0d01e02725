"""The layers of the code hold (issue 12): no module imports one above it.

The contracts are in ``.importlinter`` at the repository root and are checked by
import-linter's ``lint-imports``, which reads every import of every module (those inside
functions too) without running the code. The layers themselves are stated in words in
docs/architecture.md. The second half of this file shows the check has teeth: the apps
contract, applied to a small package laid out like ``wraparound.apps``, fails on the kind
of import this project once had (records importing care inside a view) and passes without
it.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / ".importlinter"
APPS_DIR = ROOT / "src" / "wraparound" / "apps"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint(config: Path, cwd: Path, pythonpath: Path | None = None):
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(config)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def contracts() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(CONTRACTS)
    return parser


def layers(section) -> list[list[str]]:
    """A contract's layers, top first, each split into its modules."""
    rows = [line.strip() for line in section["layers"].splitlines() if line.strip()]
    return [[m.strip(" ()") for m in row.replace(":", "|").split("|")] for row in rows]


def test_every_contract_is_kept():
    result = lint(CONTRACTS, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_the_contracts_state_the_layers_this_project_keeps():
    parser = contracts()
    apps = parser["importlinter:contract:apps"]
    assert apps["containers"].strip() == "wraparound.apps"
    assert apps.getboolean("exhaustive")  # a new app cannot go unplaced
    app_layers = layers(apps)
    assert app_layers[-1] == ["records"]  # records imports no other app
    assert app_layers[-2] == ["registers", "scorecard"]
    assert app_layers[-3] == ["care"]
    assert ["access"] in app_layers
    assert {"cli", "audit_cli"} == set(app_layers[0])
    placed = {m for row in app_layers for m in row}
    django_apps = {p.parent.name for p in APPS_DIR.glob("*/apps.py")}
    assert django_apps <= placed

    packages = layers(parser["importlinter:contract:packages"])
    order = {m: i for i, row in enumerate(packages) for m in row}
    assert order["wraparound.cli"] < order["wraparound.apps"]
    assert order["wraparound.web.urls"] < order["wraparound.apps"]
    for lower in ("wraparound.analytics", "wraparound.sources", "wraparound.warehouse"):
        assert order["wraparound.apps"] < order[lower]
    assert order["wraparound.analytics"] < order["wraparound.warehouse"]

    forbidden = parser["importlinter:contract:analytics"]
    assert "wraparound.analytics" in forbidden["source_modules"].split()
    assert {"wraparound.apps", "wraparound.web"} <= set(forbidden["forbidden_modules"].split())


def _fake_apps(tmp_path: Path, records_view: str) -> Path:
    """A package ``fakeapps`` with one module per layer of the real apps contract, each
    importing the layer below it, and a ``records.views`` with the given source. Returns a
    config file holding the real apps contract with its container renamed."""
    package = tmp_path / "fakeapps"
    package.mkdir()
    (package / "__init__.py").write_text("")
    app_layers = layers(contracts()["importlinter:contract:apps"])
    for upper, lower in zip(app_layers, [*app_layers[1:], []], strict=True):
        for name in upper:
            (package / name).mkdir()
            body = "".join(f"import fakeapps.{below}\n" for below in lower)
            (package / name / "__init__.py").write_text(body)
    (package / "records" / "views.py").write_text(records_view)
    real = contracts()["importlinter:contract:apps"]
    rows = "".join(f"\n    {row.strip()}" for row in real["layers"].splitlines() if row.strip())
    config = tmp_path / "contracts.ini"
    config.write_text(
        "[importlinter]\nroot_package = fakeapps\n\n[importlinter:contract:apps]\n"
        f"name = {real['name']}\ntype = layers\ncontainers = fakeapps\n"
        f"exhaustive = true\nlayers ={rows}\n"
    )
    return config


def test_the_apps_contract_fails_when_records_imports_care(tmp_path):
    view = "def home(request):\n    from fakeapps.care import models\n\n    return models\n"
    config = _fake_apps(tmp_path, view)
    result = lint(config, tmp_path, pythonpath=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 kept, 1 broken" in result.stdout
    assert "fakeapps.records is not allowed to import fakeapps.care" in result.stdout
    assert "fakeapps.records.views -> fakeapps.care" in result.stdout


def test_the_apps_contract_fails_on_an_unplaced_app(tmp_path):
    config = _fake_apps(tmp_path, "")
    (tmp_path / "fakeapps" / "newapp").mkdir()
    (tmp_path / "fakeapps" / "newapp" / "__init__.py").write_text("")
    result = lint(config, tmp_path, pythonpath=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "fakeapps.newapp" in result.stdout


@pytest.mark.parametrize("view", ["", "from fakeapps.records import __name__ as here\n"])
def test_the_apps_contract_passes_the_same_package_without_the_upward_import(tmp_path, view):
    result = lint(_fake_apps(tmp_path, view), tmp_path, pythonpath=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout
