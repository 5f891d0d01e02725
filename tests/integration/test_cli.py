"""The `wraparound` command as a user runs it: synth, then summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BIN = str(Path(sys.executable).parent / "wraparound")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BIN, *args], capture_output=True, text=True)


def test_synth_then_summary_json(tmp_path):
    out = tmp_path / "wh"
    made = run("synth", "--patients", "800", "--seed", "4", "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["rows"]["patients"] == 800
    shown = run("summary", "--warehouse", str(out), "--json")
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["patients"] == 800 and summary["practices"] == 1
    assert set(summary["emergency_admissions_per_1000"]["by_age"]) == {
        "0-17",
        "18-64",
        "65-74",
        "75-84",
        "85+",
    }
    assert summary["ae_attendances_per_1000"] > 0
    assert {"hypertension", "diabetes", "obesity"} <= set(summary["registers"])
    text = run("summary", "--warehouse", str(out))
    assert "registered patients" in text.stdout and "Emergency admissions" in text.stdout


def test_synth_refuses_to_overwrite_and_summary_refuses_a_non_warehouse(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    refused = run("synth", "--patients", "10", "--out", str(tmp_path / "busy"))
    assert refused.returncode == 2 and refused.stderr.startswith("error:")
    assert "--overwrite" in refused.stderr
    missing = run("summary", "--warehouse", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "is not a warehouse" in missing.stderr
