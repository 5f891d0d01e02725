"""Every `wraparound` command fails cleanly: a missing or damaged warehouse, a bad path or a
bad option value is one clear sentence on stderr and a non-zero exit, never a traceback.

The matrix runs each command in-process (typer's CliRunner, which invokes the same command
group the console script does); a few cases run the installed ``wraparound`` binary too, so
what a user's terminal shows is checked as well.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wraparound.cli import app
from wraparound.sources.synthetic.writer import write_synthetic
from wraparound.warehouse import paths

BIN = str(Path(sys.executable).parent / "wraparound")

# Every command that reads a warehouse, as the user types it (after `wraparound`).
COMMANDS = {
    "summary": ["summary"],
    "stratify": ["stratify"],
    "indicators": ["indicators"],
    "ingest": ["ingest", "INPUT"],
    "app refresh": ["app", "refresh"],
    "app export-events": ["app", "export-events"],
    "app demo": ["app", "demo"],
    "app serve": ["app", "serve"],
}


def _missing(root: Path, good: Path) -> tuple[Path, str]:
    return root / "nowhere", "is not a warehouse (no such warehouse directory)"


def _a_file(root: Path, good: Path) -> tuple[Path, str]:
    path = root / "a-file"
    path.write_text("not a warehouse")
    return path, "is a file, not a warehouse directory"


def _not_a_warehouse(root: Path, good: Path) -> tuple[Path, str]:
    path = root / "empty"
    (path / "something").mkdir(parents=True)
    return path, "is not a warehouse (no manifest.json)"


def _garbage_manifest(root: Path, good: Path) -> tuple[Path, str]:
    path = root / "garbage"
    shutil.copytree(good, path)
    paths.manifest(path).write_text("{this is not json")
    return path, "manifest.json is not a readable manifest"


def _foreign_manifest(root: Path, good: Path) -> tuple[Path, str]:
    path = root / "foreign"
    shutil.copytree(good, path)
    paths.manifest(path).write_text('{"tables": ["a"]}')
    return path, "is not a Wraparound manifest"


def _missing_snapshot_file(root: Path, good: Path) -> tuple[Path, str]:
    path = root / "missing-file"
    shutil.copytree(good, path)
    paths.table_file(path, 1, "encounters").unlink()
    return path, "is damaged: snapshot 000001 named by manifest.json has no encounters.parquet"


def _truncated_parquet(root: Path, good: Path) -> tuple[Path, str]:
    path = root / "truncated"
    shutil.copytree(good, path)
    table = paths.table_file(path, 1, "patients")
    table.write_bytes(table.read_bytes()[:200])
    return path, "patients.parquet is not a readable Parquet file"


FAILURES = {
    "missing": _missing,
    "a file": _a_file,
    "not a warehouse": _not_a_warehouse,
    "garbage manifest": _garbage_manifest,
    "foreign manifest": _foreign_manifest,
    "missing snapshot file": _missing_snapshot_file,
    "truncated parquet": _truncated_parquet,
}


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-errors") / "good"
    write_synthetic(out, patients=60, seed=3, progress=False)
    return out


def invoke(args: list[str]):
    return CliRunner().invoke(app, args)


def assert_clean(result, message: str, code: int = 2) -> None:
    output = result.output
    assert "Traceback" not in output, output
    assert result.exit_code == code, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: "), output
    assert message in output, output


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_refuses_a_bad_warehouse_in_one_sentence(command, failure, good, tmp_path):
    if command == "ingest" and failure in ("missing", "not a warehouse"):
        pytest.skip("ingest creates a warehouse where there is none")
    warehouse, message = FAILURES[failure](tmp_path, good)
    before = sorted(p.name for p in warehouse.rglob("*")) if warehouse.is_dir() else None
    args = [str(tmp_path) if a == "INPUT" else a for a in COMMANDS[command]]
    assert_clean(invoke([*args, "--warehouse", str(warehouse)]), message)
    if before is not None:  # refused before it started: nothing written
        assert sorted(p.name for p in warehouse.rglob("*")) == before


BAD_OPTIONS = {
    "synth --patients 0": (["synth", "--patients", "0", "--out", "OUT"], "--patients"),
    "synth --format xml": (["synth", "--patients", "5", "--out", "OUT", "--format", "xml"], "xml"),
    "stratify --index-date": (
        ["stratify", "--warehouse", "GOOD", "--index-date", "2024-13-45"],
        "'2024-13-45' is not a date in the form YYYY-MM-DD",
    ),
    "stratify --rules": (["stratify", "--warehouse", "GOOD", "--rules", "OUT"], "--rules"),
    "indicators --baseline-year": (
        ["indicators", "--warehouse", "GOOD", "--baseline-year", "last"],
        "--baseline-year",
    ),
    "app serve --port": (["app", "serve", "--warehouse", "GOOD", "--port", "eighty"], "--port"),
    "summary without --warehouse": (["summary"], "--warehouse"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_a_bad_option_value_is_a_usage_error(case, good, tmp_path):
    args, message = BAD_OPTIONS[case]
    args = [{"GOOD": str(good), "OUT": str(tmp_path / "out")}.get(a, a) for a in args]
    result = invoke(args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.replace("│", " ").split())  # the usage box wraps lines
    assert "Invalid value" in text or "Missing option" in text
    assert message in text


def test_bad_output_paths_are_one_sentence(good, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert_clean(invoke(["synth", "--patients", "5", "--out", str(a_file)]), "Not a directory")
    assert_clean(
        invoke(["indicators", "--warehouse", str(good), "--out", str(a_file)]),
        "is a file, not a folder",
    )
    assert_clean(
        invoke(
            ["ingest", str(tmp_path), "--warehouse", str(tmp_path / "new"), "--report",
             str(tmp_path / "no" / "such" / "report.json")]
        ),
        "--report",
    )  # fmt: skip
    assert not (tmp_path / "new").exists()


def test_stratify_on_too_few_patients_says_so(good):
    assert_clean(
        invoke(["stratify", "--warehouse", str(good)]),
        "the risk model cannot be fitted on",
    )


def test_an_unexpected_failure_is_named_not_traced(monkeypatch, good):
    """A failure nobody foresaw still gives one line (and status 1), naming it."""
    import wraparound.analytics.summary as summary

    def broken(warehouse):
        raise KeyError("patients_per_practice")

    monkeypatch.setattr(summary, "summarise", broken)
    assert_clean(
        invoke(["summary", "--warehouse", str(good)]),
        "unexpected failure (KeyError: 'patients_per_practice')",
        code=1,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["stratify", "--warehouse", "DAMAGED"],
        ["app", "refresh", "--warehouse", "DAMAGED"],
        ["summary", "--warehouse", "MISSING"],
    ],
)
def test_the_installed_command_prints_no_traceback(args, good, tmp_path):
    damaged, _ = _truncated_parquet(tmp_path, good)
    args = [{"DAMAGED": str(damaged), "MISSING": str(tmp_path / "none")}.get(a, a) for a in args]
    done = subprocess.run([BIN, *args], capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
