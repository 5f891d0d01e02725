"""Scorecard pages from materialised indicator results on a 300k-patient locality.

    .venv/bin/python benchmarks/bench_scorecard.py [--warehouse var/bench/synth-300000]
        [--db var/bench/scorecard-300k/app.sqlite3] [--reps 50]

1. ``wraparound indicators`` on the warehouse unless it already has a run (timed in its own
   process).
2. A fresh SQLite app database: migrate, organisations, the indicators run loaded by the
   same step ``wraparound app refresh`` runs (timed), and the demo users. Patients and the
   register are not needed by these pages, so they are not loaded.
3. Server-side time per page, in this process with Django's test ``Client`` (the whole
   middleware stack, session, queries, chart rendering and template; no network or WSGI
   server): each page requested 3 times to warm the connection and template caches, then
   ``--reps`` times. Median, p95 and queries per request. Target: under 200 ms median.

Writes benchmarks/results/scorecard.json and prints a summary.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _measure import run_measured, write_results

from wraparound.warehouse import paths

BIN = Path(sys.executable).parent / "wraparound"
INDICATORS = (
    "ae_attendances_rate",
    "gp_dna_rate",
    "hypertension_bp_controlled",
    "emergency_admissions_dsr",
)


def _setup(db: Path, warehouse: Path) -> dict:
    db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    os.environ.update(
        WRAPAROUND_DB=str(db),
        DJANGO_SETTINGS_MODULE="wraparound.web.settings",
        WRAPAROUND_WAREHOUSE=str(warehouse.resolve()),
    )
    import django

    django.setup()
    from wraparound.apps.cli import migrate
    from wraparound.apps.demo import create_demo_users
    from wraparound.apps.records.load import load_organisations
    from wraparound.apps.scorecard.load import load_latest_indicators
    from wraparound.warehouse.engine import connect
    from wraparound.warehouse.store import Warehouse

    migrate()
    with connect(Warehouse(warehouse)) as engine:
        load_organisations(engine)
        started = time.perf_counter()
        run_id = load_latest_indicators(warehouse, engine)
        load_s = time.perf_counter() - started
    create_demo_users()
    from wraparound.apps.scorecard import models as m

    rows = {
        model.__name__: model.objects.count()
        for model in (
            m.IndicatorValue,
            m.PublicValue,
            m.Outlier,
            m.QuintileValue,
            m.InequalityGap,
            m.Outcome,
        )
    }
    return {"run_id": run_id, "load_seconds": round(load_s, 1), "rows": rows}


def _pages() -> list[tuple[str, str | None, str]]:
    from wraparound.apps.records.models import Organisation, User

    ods = User.objects.get(username="gp").scope_org_id
    practices = list(
        Organisation.objects.filter(kind="practice")
        .order_by("org_id")
        .values_list("org_id", flat=True)
    )
    pages = [
        ("scorecard (GP, with clinicians)", "gp", f"/scorecard/practices/{ods}/"),
        ("scorecard (commissioner)", "commissioner", f"/scorecard/practices/{ods}/"),
        ("scorecard CSV", "gp", f"/scorecard/practices/{ods}/scorecard.csv"),
    ]
    pages += [
        (f"trend + funnel: {i}", "gp", f"/scorecard/practices/{ods}/{i}/") for i in INDICATORS
    ]
    pages += [
        ("outliers", "commissioner", "/scorecard/outliers/"),
        ("outliers CSV", "commissioner", "/scorecard/outliers.csv"),
        ("inequalities", "commissioner", "/scorecard/inequalities/"),
        ("outcomes", "commissioner", "/scorecard/outcomes/"),
    ]
    pages += [(f"public page {p}", None, f"/public/practices/{p}/") for p in practices[:5]]
    return pages, len(practices)


def _time(client, url: str, reps: int) -> dict:
    from django.db import connection

    for _ in range(3):
        assert client.get(url).status_code == 200, url
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = client.get(url)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return {
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(float(np.percentile(times, 95)), 1),
        "queries": len(queries),
        "bytes": len(response.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", type=Path, default=Path("var/bench/synth-300000"))
    parser.add_argument("--db", type=Path, default=Path("var/bench/scorecard-300k/app.sqlite3"))
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    indicators = None
    if not paths.results_latest(args.warehouse, paths.INDICATORS).exists():
        indicators = run_measured([str(BIN), "indicators", "--warehouse", str(args.warehouse)])
    loaded = _setup(args.db, args.warehouse)
    from django.conf import settings
    from django.test import Client

    from wraparound.apps.demo import DEMO_PASSWORD

    settings.ALLOWED_HOSTS = ["testserver"]
    clients = {None: Client()}
    for who in ("gp", "commissioner"):
        clients[who] = Client()
        assert clients[who].login(username=who, password=DEMO_PASSWORD)
    pages, practices = _pages()
    results = {}
    for name, who, url in pages:
        results[name] = {
            "url": url,
            "user": who or "anonymous",
            **_time(clients[who], url, args.reps),
        }
        r = results[name]
        print(
            f"{name:<45} median {r['median_ms']:>6} ms  p95 {r['p95_ms']:>6} ms  "
            f"{r['queries']} queries"
        )
    payload = {
        "warehouse": str(args.warehouse),
        "practices": practices,
        "reps": args.reps,
        "method": "in-process django.test.Client, whole middleware stack, 3 warm-up "
        "requests per page then reps timed with perf_counter; SQLite app DB",
        "indicators_run": indicators,
        "load": loaded,
        "pages": results,
        "worst_median_ms": max(r["median_ms"] for r in results.values()),
        "target_median_ms": 200,
    }
    print(f"wrote {write_results('scorecard', payload)}")


if __name__ == "__main__":
    main()
