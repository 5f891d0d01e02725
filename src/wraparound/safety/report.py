"""The clinical safety case report (``docs/clinical-safety-case.md``), rendered from the
hazard log and the risk matrix only, so that it says exactly what the log says.
``tests/unit/test_hazard_log.py`` renders it and fails if the file in the repository differs
(regenerate with ``python -m wraparound.safety``)."""

from __future__ import annotations

from wraparound.safety.hazards import Hazard, Log, Matrix

ACCEPTABLE = 2
"""Residual risk at or below this is acceptable without further justification (matrix
levels 1 and 2)."""


def _risk(matrix: Matrix, likelihood: int, severity: int) -> str:
    level = matrix.rate(likelihood, severity)
    return f"{level} ({matrix.risk[level][0]})"


def _hazard(h: Hazard, matrix: Matrix) -> list[str]:
    lines = [
        f"### {h.id}: {h.title}",
        "",
        f"- **Cause:** {h.cause}",
        f"- **Effect:** {h.effect}",
        f"- **Possible harm:** {h.harm}",
        f"- **Severity:** {h.severity} ({matrix.severity[h.severity]})",
        f"- **Initial risk:** likelihood {h.likelihood} ({matrix.likelihood[h.likelihood]}), "
        f"risk {_risk(matrix, h.likelihood, h.severity)}",
        f"- **Residual risk:** likelihood {h.residual_likelihood} "
        f"({matrix.likelihood[h.residual_likelihood]}), "
        f"risk {_risk(matrix, h.residual_likelihood, h.severity)}",
        "",
        "Controls, each with the tests that show it works:",
        "",
    ]
    for i, m in enumerate(h.mitigations, start=1):
        lines.append(f"{i}. {m.control}")
        lines.extend(f"   - `{t}`" for t in m.tests)
    lines.append("")
    return lines


def render(log: Log, matrix: Matrix) -> str:
    residual = {h.id: matrix.rate(h.residual_likelihood, h.severity) for h in log.hazards}
    highest = max(residual.values())
    above = [h for h in log.hazards if residual[h.id] > ACCEPTABLE]
    tests = sorted({t for h in log.hazards for m in h.mitigations for t in m.tests})
    lines = [
        f"# {log.system}: clinical safety case report (DCB0129)",
        "",
        "<!-- Generated from src/wraparound/data/safety/hazard_log.toml and risk_matrix.toml "
        "by `python -m wraparound.safety`. Do not edit: tests/unit/test_hazard_log.py fails "
        "when this file differs from the log. -->",
        "",
        f"Hazard log version {log.version}, review by {log.review_date}.",
        "",
        "## Scope and method",
        "",
        f"{log.system} builds a warehouse from GP, hospital and community records, stratifies "
        "risk, keeps registers, care plans, alerts and MDTs for care co-ordination, and "
        "publishes practice indicators. This report summarises the hazard log: each hazard's "
        "cause, effect and harm, its severity and likelihood before and after the controls, "
        "and the risk read from the DCB0129 matrix below (the log never states a risk "
        "itself). Every control names the automated tests that show it works; a test fails "
        "when a named test does not exist, so the evidence cannot silently disappear.",
        "",
        "## Risk matrix",
        "",
        "| Likelihood \\ Severity | "
        + " | ".join(f"{s} {matrix.severity[s]}" for s in range(1, 6))
        + " |",
        "|---|" + "---|" * 5,
    ]
    for lk in range(5, 0, -1):
        row = " | ".join(str(matrix.rate(lk, s)) for s in range(1, 6))
        lines.append(f"| {lk} {matrix.likelihood[lk]} | {row} |")
    lines += ["", "Risk levels:", ""]
    lines += [f"- **{lvl} {name}:** {action}" for lvl, (name, action) in matrix.risk.items()]
    lines += [
        "",
        "## Summary",
        "",
        "| Hazard | Severity | Initial risk | Residual risk | Controls | Tests |",
        "|---|---|---|---|---|---|",
    ]
    for h in log.hazards:
        n_tests = len({t for m in h.mitigations for t in m.tests})
        lines.append(
            f"| {h.id} {h.title} | {h.severity} | {matrix.rate(h.likelihood, h.severity)} | "
            f"{residual[h.id]} | {len(h.mitigations)} | {n_tests} |"
        )
    lines += ["", "## Hazards", ""]
    for h in log.hazards:
        lines += _hazard(h, matrix)
    lines += ["## Conclusion", ""]
    if above:
        lines.append(
            f"{len(above)} hazard(s) have a residual risk above {ACCEPTABLE}: "
            + ", ".join(h.id for h in above)
            + ". They need further controls or the Clinical Safety Officer's justification "
            "before release."
        )
    else:
        lines.append(
            f"{len(log.hazards)} hazards are logged; with their controls the highest residual "
            f"risk is {highest} ({matrix.risk[highest][0]}), so every residual risk is "
            f"acceptable. The controls are evidenced by {len(tests)} automated tests. The "
            "Clinical Safety Officer reviews this report and the log at each release and by "
            f"{log.review_date}."
        )
    lines.append("")
    return "\n".join(lines)
