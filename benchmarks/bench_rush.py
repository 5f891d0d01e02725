"""The app under a practice's morning rush (issue 17): locust against gunicorn on 127.0.0.1.

    .venv/bin/python benchmarks/bench_rush.py --db /tmp/g/app300k.sqlite3 \\
        --warehouse /tmp/g/w300k [--label new-sqlite] [--src /work/baseline/src] \\
        [--database-url postgres://...] [--users 50] [--seconds 60] [--idle-requests 40]

The app database is one ``wraparound app demo`` and ``app refresh`` built (at 300k patients for
the issue's figures); nothing here builds it (docs/benchmarks.md says how). ``--src`` runs
another copy of the code (``/work/baseline/src``: the code before today) against the same
database, for an old-against-new ratio measured in the same session.

1. Sessions and URLs, in this process (Django on the same database): for each of the GP,
   practice staff and care co-ordinator, the register worklist (page 1, page 2, sorted by name,
   two filters), the patient page and the care plan page of register patients in their scope
   (a legitimate relationship, so every request is allowed and audited), and the scorecard
   of each practice in their scope. Each simulated user signs in through the real login form
   first (outside the measurement: a sign-in hashes a password with Argon2 on purpose).
2. gunicorn as ``wraparound app serve`` starts it (``web/serving.py``: sync workers, one per
   core and one more; ``--workers`` and ``--threads`` as the command takes them, threads
   above 1 giving gthread workers), its access log recording each request's own time in
   the worker (``%(D)s``, microseconds from the parsed request to the last byte written):
   the server-side timing, with no change to the app.
3. Idle: ``--idle-requests`` of each page, one after another from one client: the server
   time per page with nothing else running (median, p95).
4. The rush: ``locust --headless`` with ``--users`` users, all spawned at once, no think time,
   for ``--seconds``; each user cycles register, patient, care plan, scorecard. Client-side
   p50/p95/p99, errors (anything but 200, or a lost session) and requests per second from
   locust; server time per page under load from the access log.
5. The audit chain is verified afterwards (every page view wrote a row, and the chain holds).

Writes the run under its label into benchmarks/results/rush.json (or ``--out``; other labels
kept) and
prints a summary. The load generator shares the machine with the server; the load average
before and after is recorded, as is locust's own CPU time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from _app_load import Browser  # noqa: E402
from _measure import RESULTS, machine  # noqa: E402

USERS = ("gp", "practice", "coordinator")
PAGES = ("register", "patient", "care_plan", "scorecard")
REGISTER_URLS = [
    "/register/",
    "/register/?page=2",
    "/register/?sort=name",
    "/register/?no_plan=1",
    "/register/?recent=1&stream=high_needs",
]
PATIENTS_PER_USER = 40
KIND_OF_PATH = [
    ("register", re.compile(r"^/register/$")),
    ("patient", re.compile(r"^/patients/\d+/$")),
    ("care_plan", re.compile(r"^/patients/\d+/care-plan/$")),
    ("scorecard", re.compile(r"^/scorecard/practices/[^/]+/$")),
]
RESULTS_FILE = RESULTS / "rush.json"


def setup_django(db: str | None, database_url: str | None, warehouse: Path) -> None:
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ["WRAPAROUND_DB"] = db
    os.environ["WRAPAROUND_WAREHOUSE"] = str(warehouse)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wraparound.web.settings")
    import django

    django.setup()


def choose_urls(seed: int = 1) -> dict[str, dict[str, list[str]]]:
    """Each user's pages: patients on the current register inside their scope (the
    ``register``/``registered`` basis), care plans among them, their practices' scorecards."""
    from wraparound.apps.care.models import CarePlan
    from wraparound.apps.records.models import User
    from wraparound.apps.registers.models import RegisterEntry

    rng = random.Random(seed)
    plan = {}
    for username in USERS:
        user = User.objects.get(username=username)
        practices = list(user.practices().order_by("pk").values_list("pk", flat=True))
        ids = sorted(
            RegisterEntry.current()
            .filter(practice__in=practices)
            .values_list("patient_id", flat=True)
        )
        with_plan = sorted(
            CarePlan.objects.filter(patient_id__in=ids).values_list("patient_id", flat=True)
        )
        patients = rng.sample(ids, min(PATIENTS_PER_USER, len(ids)))
        plans = rng.sample(with_plan, min(PATIENTS_PER_USER, len(with_plan))) or patients
        plan[username] = {
            "register": REGISTER_URLS,
            "patient": [f"/patients/{pk}/" for pk in patients],
            "care_plan": [f"/patients/{pk}/care-plan/" for pk in plans],
            "scorecard": [f"/scorecard/practices/{ods}/" for ods in practices[:6]],
        }
    return plan


def audit_state() -> dict:
    from wraparound.apps.records.chain import verify
    from wraparound.apps.records.models import AuditEvent

    verdict = verify()
    return {"rows": AuditEvent.objects.count(), "chain_ok": verdict.ok}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(args) -> dict:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.pop("WRAPAROUND_DB", None)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    else:
        env["WRAPAROUND_DB"] = str(args.db)
    env["WRAPAROUND_WAREHOUSE"] = str(args.warehouse)
    env["DJANGO_SETTINGS_MODULE"] = "wraparound.web.settings"
    if args.src:
        env["PYTHONPATH"] = str(args.src)
    return env


def start_server(args, port: int, access_log: Path) -> subprocess.Popen:
    """gunicorn as ``wraparound app serve`` starts it (``web/serving.py``), plus an access
    log of each request's time."""
    from wraparound.web.serving import gunicorn_command  # this tree's, also for ``--src``

    command = gunicorn_command(
        f"127.0.0.1:{port}",
        workers=args.workers or None,
        threads=args.threads,
        access_log=str(access_log),
        access_format="%(m)s %(U)s %(s)s %(D)s",
    )
    server = subprocess.Popen(command, env=server_env(args), cwd=HERE.parent)
    deadline = time.monotonic() + 240  # a shared, busy machine imports slowly
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("gunicorn did not answer /healthz within 240 s")


def _server(args) -> str:
    from wraparound.web.serving import default_workers

    workers = args.workers or default_workers()
    if args.threads == 1:
        return f"gunicorn sync, {workers} workers"
    return f"gunicorn gthread, {workers} workers x {args.threads} threads"


def read_access_log(path: Path, skip: int = 0) -> tuple[list[tuple[str, int, float]], int]:
    """(kind, status, milliseconds) for each logged page request after the first ``skip``
    lines, and the number of lines read."""
    lines = path.read_text().splitlines()
    rows = []
    for line in lines[skip:]:
        parts = line.split()
        if len(parts) != 4:
            continue
        _, url, status, micros = parts
        kind = next((k for k, pattern in KIND_OF_PATH if pattern.match(url)), None)
        if kind is not None:
            rows.append((kind, int(status), int(micros) / 1000))
    return rows, len(lines)


def summarise(ms: list[float]) -> dict:
    if not ms:
        return {"n": 0}
    ms = sorted(ms)

    def pct(p: float) -> float:
        return round(ms[min(len(ms) - 1, round(p / 100 * (len(ms) - 1)))], 2)

    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
    }


def by_kind(rows) -> dict:
    return {kind: summarise([ms for k, _, ms in rows if k == kind]) for kind in PAGES}


def sign_in_all(port: int, plan: dict, users: int) -> list[dict]:
    from wraparound.apps.demo import DEMO_PASSWORD

    sessions = []
    for i in range(users):
        username = USERS[i % len(USERS)]
        browser = Browser("127.0.0.1", port)
        if not browser.sign_in(username, DEMO_PASSWORD):
            raise SystemExit(f"{username} could not sign in")
        browser.conn.close()
        sessions.append(
            {"username": username, "seed": i, "cookies": browser.cookies, "urls": plan[username]}
        )
    return sessions


def idle_times(port: int, sessions: list[dict], n: int) -> None:
    """Each page ``n`` times, one after another (the access log times them)."""
    rng = random.Random(7)
    for session in sessions[: len(USERS)]:
        browser = Browser("127.0.0.1", port)
        browser.cookies = dict(session["cookies"])
        for kind in PAGES:
            for _ in range(max(1, n // len(USERS))):
                status, _ = browser.request("GET", rng.choice(session["urls"][kind]))
                if status != 200:
                    raise SystemExit(f"idle {kind}: HTTP {status}")
        browser.conn.close()


def run_locust(port: int, plan_file: Path, users: int, seconds: int, out_dir: Path) -> dict:
    prefix = out_dir / "locust"
    env = dict(os.environ, RUSH_PLAN=str(plan_file))
    command = [
        str(Path(sys.executable).parent / "locust"),
        "-f",
        str(HERE / "_rush_locustfile.py"),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{seconds}s",
        "--stop-timeout",
        "10",
        "--host",
        f"http://127.0.0.1:{port}",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    proc = psutil.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    cpu = 0.0
    while proc.poll() is None:
        try:
            times = proc.cpu_times()
            cpu = times.user + times.system
        except psutil.Error:
            pass
        time.sleep(0.5)
    output = proc.stdout.read().decode(errors="replace")
    stats_file = Path(f"{prefix}_stats.csv")
    if not stats_file.exists():
        sys.stderr.write(output)
        raise SystemExit("locust wrote no statistics")
    rows = {r["Name"]: r for r in csv.DictReader(stats_file.open())}
    failures = []
    failures_file = Path(f"{prefix}_failures.csv")
    if failures_file.exists():
        failures = [
            f"{r['Name']}: {r['Error']} x{r['Occurrences']}"
            for r in csv.DictReader(failures_file.open())
        ]

    def figures(r: dict) -> dict:
        return {
            "requests": int(r["Request Count"]),
            "errors": int(r["Failure Count"]),
            "rps": round(float(r["Requests/s"]), 1),
            "p50_ms": float(r["50%"]),
            "p95_ms": float(r["95%"]),
            "p99_ms": float(r["99%"]),
            "mean_ms": round(float(r["Average Response Time"]), 1),
            "max_ms": round(float(r["Max Response Time"]), 1),
        }

    return {
        "all": figures(rows["Aggregated"]),
        **{kind: figures(rows[kind]) for kind in PAGES if kind in rows},
        "failure_examples": failures[:10],
        "locust_cpu_seconds": round(cpu, 1),
        "locust_exit": proc.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="the SQLite app database")
    parser.add_argument("--database-url", help="instead of --db: a PostgreSQL URL")
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--label", default="new-sqlite")
    parser.add_argument("--src", type=Path, help="run this code instead (e.g. the baseline)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--idle-requests", type=int, default=40)
    parser.add_argument("--workers", type=int, default=0, help="0: as app serve (cores + 1)")
    parser.add_argument("--threads", type=int, default=1, help="above 1: gthread workers")
    parser.add_argument("--out", type=Path, default=RESULTS_FILE, help="the JSON to add to")
    args = parser.parse_args()
    if not args.database_url and not (args.db and args.db.exists()):
        raise SystemExit("--db must name an existing app database (or give --database-url)")

    setup_django(str(args.db) if args.db else None, args.database_url, args.warehouse.resolve())
    plan = choose_urls()
    audit_before = audit_state()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="rush-"))
    port = free_port()
    access_log = work / "access.log"
    server = start_server(args, port, access_log)
    try:
        sessions = sign_in_all(port, plan, args.users)
        idle_times(port, sessions, 9)  # warm both workers' caches and connections
        _, skip = read_access_log(access_log)
        idle_times(port, sessions, args.idle_requests)
        idle_rows, skip = read_access_log(access_log, skip)
        plan_file = work / "plan.json"
        plan_file.write_text(json.dumps({"sessions": sessions}))
        began = time.perf_counter()
        rush = run_locust(port, plan_file, args.users, args.seconds, work)
        rush["seconds"] = round(time.perf_counter() - began, 1)
        time.sleep(1)
        load_rows, _ = read_access_log(access_log, skip)
    finally:
        server.terminate()
        server.wait(timeout=30)
    load_after = os.getloadavg()
    audit_after = audit_state()
    # Every register, patient and care plan request and every sign-in writes one audit row
    # (the scorecard shows no identifiable patient, so it writes none).
    all_rows, _ = read_access_log(access_log)
    logins = sum(
        1 for line in access_log.read_text().splitlines() if line.startswith("POST /login/")
    )
    audited = sum(1 for kind, _, _ in all_rows if kind != "scorecard") + logins
    result = {
        "label": args.label,
        "code": str(args.src) if args.src else "this checkout",
        "database": "postgresql" if args.database_url else f"sqlite ({args.db})",
        "server": _server(args),
        "users": args.users,
        "seconds": args.seconds,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "server_ms_idle": by_kind(idle_rows),
        "server_ms_under_load": by_kind(load_rows),
        "server_errors_under_load": sum(1 for _, status, _ in load_rows if status != 200),
        "locust": rush,
        "audit": {
            "rows_before": audit_before["rows"],
            "rows_after": audit_after["rows"],
            "audited_requests": audited,
            "rows_per_audited_request": round(
                (audit_after["rows"] - audit_before["rows"]) / max(1, audited), 4
            ),
            "chain_ok": audit_after["chain_ok"],
        },
    }
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    runs = previous.get("runs", {})
    runs[args.label] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine(), "runs": runs}, indent=2) + "\n")

    a = rush["all"]
    print(
        f"{args.label}: {result['server']}, {args.users} users, {args.seconds} s, "
        f"{result['database']}"
    )
    print(
        f"  locust: {a['requests']} requests, {a['rps']} req/s, p50 {a['p50_ms']} ms, "
        f"p95 {a['p95_ms']} ms, p99 {a['p99_ms']} ms, errors {a['errors']}"
    )
    for kind in PAGES:
        idle = result["server_ms_idle"][kind]
        busy = result["server_ms_under_load"][kind]
        client = rush.get(kind, {})
        print(
            f"  {kind:<10} server median idle {idle.get('median_ms')} ms, under load "
            f"{busy.get('median_ms')} ms; client p95 {client.get('p95_ms')} ms"
        )
    print(
        f"  audit rows per audited request {result['audit']['rows_per_audited_request']}, "
        f"chain ok {result['audit']['chain_ok']}; load average {load_before[0]:.2f} -> "
        f"{load_after[0]:.2f}; locust CPU {rush['locust_cpu_seconds']} s"
    )
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
