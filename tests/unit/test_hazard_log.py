"""The hazard log (DCB0129): well formed, risks read from the matrix, every mitigation
evidenced by tests that exist, the required hazards covered, and the clinical safety case
report in docs/ exactly what the log generates (so it cannot go stale)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wraparound.safety import hazards, report

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "docs" / "clinical-safety-case.md"
MINIMAL = """
version = 1
system = "Test"
review_date = 2027-01-01
required = ["x"]
[[hazard]]
id = "H01"
title = "t"
covers = "x"
cause = "c"
effect = "e"
harm = "h"
severity = 3
likelihood = 4
residual_likelihood = 2
[[hazard.mitigation]]
control = "m"
tests = ["tests/unit/test_hazard_log.py::test_every_named_test_exists"]
"""


def test_every_named_test_exists():
    missing = hazards.missing_tests(hazards.load(), ROOT)
    assert not missing, f"the hazard log names tests that do not exist: {missing}"


def test_a_named_test_that_does_not_exist_is_caught(tmp_path):
    for node in (
        "tests/unit/test_hazard_log.py::test_no_such_test",
        "tests/unit/test_no_such_file.py::test_x",
        "tests/unit/test_hazard_log.py",
        "src/wraparound/safety/hazards.py::load",
    ):
        log = hazards.parse_log(
            MINIMAL.replace("tests/unit/test_hazard_log.py::test_every_named_test_exists", node)
        )
        assert hazards.missing_tests(log, ROOT) == [node]
    parametrised = hazards.parse_log(MINIMAL.replace("exists", "exists[duckdb]"))
    assert hazards.missing_tests(parametrised, ROOT) == []


def test_the_required_hazards_are_covered():
    log = hazards.load()
    assert set(log.required) >= {
        "wrong_patient_register",
        "missed_alert",
        "stale_risk_score",
        "care_plan_lost_or_misdirected",
        "suppressed_figure_disclosed",
        "break_glass_misuse",
    }
    assert set(log.required) <= {h.covers for h in log.hazards}
    assert all(h.mitigations and all(m.tests for m in h.mitigations) for h in log.hazards)


def test_risk_is_read_from_the_dcb0129_matrix():
    m = hazards.matrix()
    assert m.rate(1, 1) == 1 and m.rate(5, 5) == 5
    assert m.rate(3, 3) == 3 and m.rate(1, 5) == 3 and m.rate(5, 1) == 3
    for lk in range(1, 6):  # never less risky as severity or likelihood grows
        for s in range(1, 5):
            assert m.rate(lk, s) <= m.rate(lk, s + 1)
            if lk < 5:
                assert m.rate(lk, s) <= m.rate(lk + 1, s)
    text = report.render(hazards.load(), m)
    for h in hazards.load().hazards:
        assert f"| {h.id} {h.title} | {h.severity} | {m.rate(h.likelihood, h.severity)} |" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("severity = 3", "severity = 6"), "severity must be 1 to 5"),
        (("residual_likelihood = 2", "residual_likelihood = 5"), "more likely"),
        (('control = "m"\n', ""), "control and tests"),
        (('required = ["x"]', 'required = ["x", "y"]'), "no hazard covers: y"),
        (('cause = "c"', 'cause = ""'), "cause is required"),
    ],
)
def test_a_malformed_log_is_refused_with_the_reason(change, message):
    with pytest.raises(hazards.HazardLogError, match=message):
        hazards.parse_log(MINIMAL.replace(*change))


def test_a_malformed_matrix_is_refused():
    text = (ROOT / "src/wraparound/data/safety/risk_matrix.toml").read_text()
    with pytest.raises(hazards.HazardLogError, match="five risk levels"):
        hazards.parse_matrix(text.replace('"Low" = [1, 2, 2, 3, 4]', '"Low" = [1, 2, 2, 3]'))
    with pytest.raises(hazards.HazardLogError, match="one row per likelihood"):
        hazards.parse_matrix(text.replace('"Very low" = [1, 1, 2, 2, 3]\n', ""))


def test_the_safety_case_in_docs_is_generated_from_the_log(tmp_path):
    """Runs the generator as a user would; the committed report must be its output."""
    out = tmp_path / "case.md"
    done = subprocess.run(
        [sys.executable, "-m", "wraparound.safety", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert REPORT.read_text() == out.read_text(), (
        "docs/clinical-safety-case.md is stale: run `python -m wraparound.safety`"
    )
    text = out.read_text()
    for phrase in (
        "wrong patient on the register",
        "missed alert",
        "stale risk score",
        "care plan lost, or shown to the wrong person",
        "suppressed figure disclosed",
        "Break-glass misuse",
    ):
        assert phrase.lower() in text.lower(), phrase
