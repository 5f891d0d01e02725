"""Small practice-by-month panels with a known effect, for the evaluation's statistics
(tests/unit/test_evaluation_calibration.py, tests/app/test_evaluation_pages.py)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

MONTHS = 24


def simulate_panel(
    seed: int, effect: float, practices: int = 14, treated: int = 6, group: int = 300
) -> pl.DataFrame:
    """A practice-by-month panel: ``treated`` practices start in month 12 or 15 (a staggered
    rollout), the rest never; the treated practices' event rate is multiplied by
    ``1 + effect`` from their start."""
    rng = np.random.default_rng([16, seed])
    rows = []
    month0 = dt.date(2023, 4, 1)
    for p in range(practices):
        size = int(rng.integers(group // 2, group * 2))
        base = 90 * rng.gamma(20, 1 / 20)  # per 1,000 person-months
        start = (12 if p % 2 == 0 else 15) if p < treated else None
        for t in range(MONTHS):
            season = 1 + 0.12 * np.cos(2 * np.pi * (t - 9) / 12)
            trend = 1 - 0.003 * t
            lam = size * base / 1000 * season * trend
            if start is not None and t >= start:
                lam *= 1 + effect
            lam *= rng.gamma(25, 1 / 25)  # extra-Poisson variation
            y, m = divmod(month0.month - 1 + t, 12)
            rows.append(
                {
                    "practice_id": f"P{p:05d}",
                    "period": t,
                    "month": dt.date(month0.year + y, m + 1, 1),
                    "first_treated": start,
                    "exposure": float(size),
                    "emergency_admissions": int(rng.poisson(lam)),
                }
            )
    return pl.DataFrame(rows, schema_overrides={"first_treated": pl.Int64})


def publish(root, intervention_id: str = "high_needs_wraparound") -> dict:
    """Publish an evaluation report of a packaged intervention into ``root`` from a generated
    panel (seed 3, a true -15%), and a demand projection from small hand-made counts, through
    the code ``wraparound evaluate`` and ``wraparound demand`` publish with. Returns the
    emergency-admissions result."""
    import json
    from pathlib import Path

    from wraparound import interventions
    from wraparound.analytics import demand, evaluation
    from wraparound.analytics.evaluation_run import _clean, _publish, intervention_summary, series

    root = Path(root)
    iv = interventions.load(intervention_id)
    panel = simulate_panel(3, -0.15, practices=8, treated=4)
    practices = (
        panel.group_by("practice_id")
        .agg(pl.col("first_treated").first(), pl.col("exposure").first().alias("group_size"))
        .with_columns(treated=pl.col("first_treated").is_not_null(), list_size=pl.lit(9000))
        .sort("practice_id")
    )
    result = evaluation.analyse(panel, "emergency_admissions") | {
        "name": "Emergency admissions",
        "series": series(panel, "emergency_admissions"),
    }
    report = {
        "intervention": intervention_summary(iv),
        "window": {"first_month": "2023-04-01", "last_month": "2025-03-01"},
        "computed_at": "2026-04-01T00:00:00+00:00",
        "outcomes": {"emergency_admissions": result},
        "not_evaluated": [],
        "balance": evaluation.balance(practices, ["list_size", "group_size"]),
        "practices": [],
    }
    _publish(root, iv.id, _clean(report), panel, practices)
    growth = demand.load_growth("east_leicestershire")
    table = {
        b.name: {
            "population": 1000 * (i + 1),
            "person_years": 1000.0 * (i + 1),
            "events": {m: 100.0 * (i + 1) for m in demand.MEASURES},
        }
        for i, b in enumerate(growth.bands)
    }
    out = demand.projection(dt.date(2026, 3, 31), table, growth, 5)
    folder = root / "evaluation" / "demand"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "projection.json").write_text(json.dumps(out))
    return json.loads(json.dumps(_clean(result)))
