"""The configuration object (wraparound.config): each variable read with its type and default,
bad values refused by name, the unsafe defaults refused in production, the settings kept
while the environment is unchanged, and docs/configuration.md generated from it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from wraparound import config
from wraparound.warehouse.pseudonym import Pseudonymiser, PseudonymKeyError

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_defaults_when_nothing_is_set():
    s = config.from_environ({})
    assert s.engine == "duckdb" and s.spark_master == "local[*]" and s.spark_partitions == "8"
    assert s.threads is None and s.duckdb_memory_limit is None and s.fault_seconds == 5.0
    assert s.allowed_hosts == ("127.0.0.1", "localhost")
    assert s.var == config.REPO_ROOT / "var"
    assert s.sqlite_path == config.REPO_ROOT / "var" / "app.sqlite3"
    assert s.warehouse_dir == str(config.REPO_ROOT / "var" / "demo" / "warehouse")
    assert not s.production and not s.django_debug and not s.debug_traceback
    assert s.django_secret_key() == config.DEV_SECRET_KEY
    assert s.pseudonym_key_bytes() == config.DEMO_PSEUDONYM_KEY.encode()


def test_values_are_read_with_their_types():
    s = config.from_environ(
        {
            "WRAPAROUND_THREADS": "3",
            "WRAPAROUND_FAULT_SECONDS": "0.5",
            "WRAPAROUND_ALLOWED_HOSTS": "a.example,b.example",
            "WRAPAROUND_VAR": "/srv/wrap",
            "WRAPAROUND_DEBUG": "1",
            "WRAPAROUND_ENGINE": "spark",
            "WRAPAROUND_DUCKDB_MEMORY_LIMIT": "",  # empty is unset
        }
    )
    assert s.threads == 3 and s.fault_seconds == 0.5 and s.engine == "spark"
    assert s.allowed_hosts == ("a.example", "b.example")
    assert s.sqlite_path == Path("/srv/wrap/app.sqlite3")
    assert s.warehouse_dir == "/srv/wrap/demo/warehouse"
    assert s.django_debug and s.debug_traceback and s.duckdb_memory_limit is None


def test_the_cli_reading_of_debug_is_any_value_and_djangos_is_only_one():
    s = config.from_environ({"WRAPAROUND_DEBUG": "yes"})
    assert s.debug_traceback and not s.django_debug


@pytest.mark.parametrize(
    ("name", "value", "what"),
    [
        ("WRAPAROUND_THREADS", "many", "a whole number"),
        ("WRAPAROUND_FAULT_SECONDS", "x", "a number"),
    ],
)
def test_a_bad_value_is_refused_by_name(name, value, what):
    with pytest.raises(config.InvalidSettingError) as error:
        config.from_environ({name: value})
    assert str(error.value) == f"{name} must be {what}, not {value!r}"
    assert isinstance(error.value, ValueError)  # the CLI answers it as bad input (status 2)


def test_production_refuses_the_built_in_keys_and_debug():
    s = config.from_environ({"WRAPAROUND_ENV": "production", "WRAPAROUND_DEBUG": "1"})
    assert s.production
    with pytest.raises(config.ConfigurationError, match="WRAPAROUND_DEBUG is refused"):
        s.django_debug  # noqa: B018 - reading it is the refusal
    assert not config.from_environ({"WRAPAROUND_ENV": "production"}).django_debug
    with pytest.raises(PseudonymKeyError, match="WRAPAROUND_PSEUDONYM_KEY must be set"):
        s.pseudonym_key_bytes()
    with pytest.raises(config.ConfigurationError, match="set DJANGO_SECRET_KEY"):
        s.django_secret_key()
    explicit = config.from_environ(
        {"WRAPAROUND_ENV": "production", "DJANGO_SECRET_KEY": config.DEV_SECRET_KEY}
    )
    with pytest.raises(config.ConfigurationError, match="set DJANGO_SECRET_KEY"):
        explicit.django_secret_key()
    real = config.from_environ(
        {"WRAPAROUND_ENV": "production", "WRAPAROUND_PSEUDONYM_KEY": "k", "DJANGO_SECRET_KEY": "s"}
    )
    assert real.pseudonym_key_bytes() == b"k" and real.django_secret_key() == "s"


def test_the_settings_are_kept_until_the_environment_changes(monkeypatch):
    monkeypatch.delenv("WRAPAROUND_PSEUDONYM_KEY", raising=False)
    first = config.current()
    assert config.current() is first  # read once
    demo = Pseudonymiser().nhs_number("9434765919")
    monkeypatch.setenv("WRAPAROUND_PSEUDONYM_KEY", "another-key")
    assert config.current() is not first and config.current().pseudonym_key == "another-key"
    assert Pseudonymiser().nhs_number("9434765919") != demo
    monkeypatch.undo()
    assert Pseudonymiser().nhs_number("9434765919") == demo
    assert config.reload() is not first


def test_the_cli_prints_a_bad_setting_as_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "WRAPAROUND_THREADS": "many"}
    result = subprocess.run(
        [sys.executable, "-m", "wraparound.cli", "summary", "--warehouse", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: WRAPAROUND_THREADS must be a whole number, not 'many'"
    ]


def test_every_variable_is_listed_once_and_documented():
    names = [s.env for s in config.SETTINGS]
    assert len(names) == len(set(names))
    assert all(s.meaning for s in config.SETTINGS)
    page = DOC.read_text()
    table = re.search(r"<!-- settings:start -->\n(.*)<!-- settings:end -->", page, re.S)
    assert table is not None and table.group(1) == config.reference()
    for name in names:
        assert f"`{name}`" in table.group(1)


def test_no_module_reads_the_environment_but_config():
    """Every WRAPAROUND_* variable is read in wraparound.config (writing one, as
    ``wraparound app`` does for Django's settings, is allowed)."""
    src = Path(config.__file__).parent
    readers = re.compile(r"os\.environ\.get|os\.getenv|os\.environ\[[^\]]+\](?!\s*=)")
    offenders = [
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if path.name != "config.py" and readers.search(path.read_text())
    ]
    assert offenders == []


def test_the_public_base_url_makes_absolute_links_and_refuses_what_patients_cannot_use():
    demo = config.from_environ({})
    assert demo.public_url("/feedback/abc") == "http://127.0.0.1:8000/feedback/abc"
    prefixed = config.from_environ({"WRAPAROUND_PUBLIC_BASE_URL": "https://nhs.example/wrap/"})
    assert prefixed.public_url("/feedback/abc") == "https://nhs.example/wrap/feedback/abc"
    for bad in (
        "nhs.example",
        "ftp://nhs.example",
        "https://",
        "https://a.b/?x=1",
        "https://u@a.b",
    ):
        s = config.from_environ({"WRAPAROUND_PUBLIC_BASE_URL": bad})
        with pytest.raises(config.ConfigurationError, match="must be an address like"):
            s.public_url("/")
    for base in (None, "http://wraparound.example.nhs.uk"):
        env = {"WRAPAROUND_ENV": "production"}
        if base:
            env["WRAPAROUND_PUBLIC_BASE_URL"] = base
        with pytest.raises(config.ConfigurationError, match="must be an https address"):
            config.from_environ(env).public_url("/feedback/abc")
    live = config.from_environ(
        {"WRAPAROUND_ENV": "production", "WRAPAROUND_PUBLIC_BASE_URL": "https://w.nhs.uk"}
    )
    assert live.public_url("/portal/") == "https://w.nhs.uk/portal/"
