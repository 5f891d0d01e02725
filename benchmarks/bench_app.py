"""The care co-ordination app on a 300k-patient locality: server-side page times and 50
concurrent users against the production server.

    .venv/bin/python benchmarks/bench_app.py [--patients 300000] [--dir var/bench/app-300k]
        [--users 50] [--seconds 60] [--reps 10]

1. Build or reuse the locality in DIR: ``wraparound synth --seed 1``, ``wraparound
   stratify``, then ``wraparound app demo`` into DIR/app.sqlite3 (each step timed in its own
   process; skipped when its output is already there).
2. Server-side times, measured in this process with Django's test ``Client`` (the whole
   middleware stack, session save, audit row, queries and template; no network or WSGI
   server): the register worklist (page 1, page 2, sorted by name, two filters) and the
   patient page for 30 patients per user, for the GP, practice staff and care co-ordinator,
   plus the timeline fragment both ways (copied into the app for register patients; read
   from the warehouse for a GP's practice-list patient). Median, p95, queries per request.
   Target: register and patient page under 150 ms median.
3. Load: ``wraparound app serve`` (gunicorn gthread, 2 workers x 4 threads, as ``make demo``
   runs it) on a free port of 127.0.0.1; ``--users`` simulated users (GP, practice staff and
   co-ordinator in turn, each signed in through the login form) request register and patient
   pages of patients they have a relationship with, back to back, for ``--seconds`` or
   ``--max-requests`` each. Throughput, errors (anything but HTTP 200), p50/p95/p99 seen by
   the client. The client threads run on the same machine as the server.

Writes benchmarks/results/app.json and prints a summary.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _app_load import Plan, run_load
from _measure import run_measured, write_results

from wraparound.warehouse import paths

BIN = Path(sys.executable).parent / "wraparound"
USERS = ("gp", "practice", "coordinator")
REGISTER_URLS = [
    "/register/",
    "/register/?page=2",
    "/register/?sort=name",
    "/register/?no_plan=1",
    "/register/?recent=1&stream=high_needs",
]
PATIENTS_PER_USER = 30


def build(directory: Path, patients: int) -> dict:
    """Synthesise, stratify and load the app unless each step's output is already there."""
    warehouse = directory / "warehouse"
    steps = {}
    if not paths.manifest(warehouse).exists():
        steps["synth"] = run_measured(
            [
                str(BIN),
                "synth",
                "--patients",
                str(patients),
                "--seed",
                "1",
                "--out",
                str(warehouse),
                "--overwrite",
            ]
        )
    if not paths.results_latest(warehouse, paths.RISK).exists():
        steps["stratify"] = run_measured([str(BIN), "stratify", "--warehouse", str(warehouse)])
    if not (directory / "app.sqlite3").exists():
        steps["app_demo"] = run_measured([str(BIN), "app", "demo", "--warehouse", str(warehouse)])
    return {
        k: {"seconds": v["seconds"], "peak_rss_mib": v["peak_rss_mib"]} for k, v in steps.items()
    }


def summarise(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    if ms.size == 0:
        return {"n": 0}
    return {
        "n": int(ms.size),
        "median_ms": round(float(np.median(ms)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def choose_patients(seed: int = 1) -> dict[str, list[int]]:
    """For each user: register patients in their scope (a legitimate relationship: the
    ``register`` or ``registered`` basis), sampled reproducibly."""
    from wraparound.apps.records.models import User
    from wraparound.apps.registers.models import RegisterEntry

    rng = random.Random(seed)
    chosen = {}
    for username in USERS:
        user = User.objects.get(username=username)
        ids = sorted(
            RegisterEntry.current()
            .filter(practice__in=user.practices())
            .values_list("patient_id", flat=True)
        )
        chosen[username] = rng.sample(ids, min(PATIENTS_PER_USER, len(ids)))
    return chosen


def practice_only_patients(n: int = 10) -> list[int]:
    """The GP's practice-list patients on no register or caseload: their timeline is read
    from the warehouse per request."""
    from wraparound.apps.care.models import Contact
    from wraparound.apps.records.models import Patient, User

    gp = User.objects.get(username="gp")
    return list(
        Patient.objects.filter(practice=gp.scope_org)
        .exclude(pk__in=Contact.objects.values("patient_id"))
        .order_by("pk")
        .values_list("pk", flat=True)[:n]
    )


def server_side(patients: dict[str, list[int]], reps: int) -> dict:
    """Time pages in-process with the test Client; counts SQL queries per request too."""
    from django.db import connection
    from django.test import Client

    from wraparound.apps.demo import DEMO_PASSWORD

    times: dict[str, list[float]] = {
        "register": [],
        "patient": [],
        "timeline_stored": [],
        "timeline_warehouse": [],
    }
    queries: dict[str, list[int]] = {k: [] for k in times}
    count = [0]

    def counting(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    def timed(client, kind: str, url: str, record: bool = True) -> None:
        count[0] = 0
        began = time.perf_counter()
        with connection.execute_wrapper(counting):
            response = client.get(url)
        elapsed = time.perf_counter() - began
        assert response.status_code == 200, f"{url}: HTTP {response.status_code}"
        if record:
            times[kind].append(elapsed)
            queries[kind].append(count[0])

    for username in USERS:
        client = Client(HTTP_HOST="127.0.0.1")
        response = client.post("/login/", {"username": username, "password": DEMO_PASSWORD})
        assert response.status_code == 302, f"{username} could not sign in"
        for url in REGISTER_URLS:  # warm caches and connections before measuring
            timed(client, "register", url, record=False)
        for _ in range(reps):
            for url in REGISTER_URLS:
                timed(client, "register", url)
        for pk in patients[username]:
            timed(client, "patient", f"/patients/{pk}/", record=False)
            for _ in range(max(1, reps // 5)):
                timed(client, "patient", f"/patients/{pk}/")
            timed(client, "timeline_stored", f"/patients/{pk}/timeline")
        if username == "gp":
            for pk in practice_only_patients():
                timed(client, "timeline_warehouse", f"/patients/{pk}/timeline")
    return {
        kind: {
            **summarise(values),
            "queries_median": int(np.median(queries[kind])) if queries[kind] else None,
        }
        for kind, values in times.items()
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load(
    directory: Path, patients: dict[str, list[int]], users: int, seconds: float, max_requests: int
) -> dict:
    from wraparound.apps.demo import DEMO_PASSWORD

    port = free_port()
    log = directory / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                str(BIN),
                "app",
                "serve",
                "--warehouse",
                str(directory / "warehouse"),
                "--port",
                str(port),
            ],
            env=os.environ.copy(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"server exited:\n{log.read_text()}") from None
                time.sleep(0.2)
        plans = [
            Plan(
                USERS[i % len(USERS)], DEMO_PASSWORD, REGISTER_URLS, patients[USERS[i % len(USERS)]]
            )
            for i in range(users)
        ]
        outcome, wall = run_load("127.0.0.1", port, plans, seconds, max_requests)
    finally:
        server.terminate()
        server.wait(timeout=30)
    every = outcome.latencies["register"] + outcome.latencies["patient"]
    return {
        "server": "gunicorn gthread, 2 workers x 4 threads (wraparound app serve)",
        "users": users,
        "seconds": round(wall, 1),
        "max_requests_per_user": max_requests,
        "requests": len(every) + len(outcome.errors),
        "throughput_rps": round(len(every) / wall, 1),
        "errors": len(outcome.errors),
        "error_examples": outcome.errors[:5],
        "login_failures": outcome.login_failures,
        "all": summarise(every),
        "register": summarise(outcome.latencies["register"]),
        "patient": summarise(outcome.latencies["patient"]),
    }


def dataset() -> dict:
    from wraparound.apps.records.models import AuditEvent, Patient
    from wraparound.apps.registers.models import RegisterEntry

    return {
        "patients": Patient.objects.count(),
        "register_entries_current": RegisterEntry.current().count(),
        "audit_rows_before": AuditEvent.objects.count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=300_000)
    parser.add_argument("--dir", type=Path, default=Path("var/bench/app-300k"))
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--max-requests",
        type=int,
        default=10_000,
        help="per user, so the load is bounded in count as well as time",
    )
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args()
    directory = args.dir.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["WRAPAROUND_DB"] = str(directory / "app.sqlite3")
    os.environ["WRAPAROUND_WAREHOUSE"] = str(directory / "warehouse")
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "wraparound.web.settings"

    built = build(directory, args.patients)
    import django

    django.setup()
    from django.db import connection

    data = dataset()
    patients = choose_patients()
    timings = server_side(patients, args.reps)
    connection.close()  # leave the database to the server
    loaded = load(directory, patients, args.users, args.seconds, args.max_requests)
    path = write_results(
        "app",
        {
            "locality": {"patients_requested": args.patients, "dir": str(args.dir), **data},
            "build": built or "reused",
            "server_side": {
                "method": "in-process, django.test.Client, time.perf_counter "
                "around each GET (middleware, session, audit, SQL, "
                "template); SQLite",
                **timings,
            },
            "load": loaded,
        },
    )
    print(
        f"{data['patients']:,} patients, {data['register_entries_current']:,} on the "
        f"register; build: {built or 'reused'}"
    )
    for kind, t in timings.items():
        if t["n"]:
            print(
                f"server-side {kind:<19} median {t['median_ms']:>7} ms  p95 "
                f"{t['p95_ms']:>7} ms  ({t['n']} requests, {t['queries_median']} queries)"
            )
    a = loaded["all"]
    print(
        f"load: {args.users} users, {loaded['seconds']} s, {loaded['requests']} requests, "
        f"{loaded['throughput_rps']} req/s, {loaded['errors']} errors; p50 "
        f"{a.get('median_ms')} ms, p95 {a.get('p95_ms')} ms, p99 {a.get('p99_ms')} ms"
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
