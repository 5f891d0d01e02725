"""Referrals benchmark (issue 14): directory search median over 2,000 services, and the
service's triage queue, the referrer's worklist and the co-ordination centre's worklist
median with 50,000 open referrals.

Builds its own world in a fresh SQLite file (or a fresh PostgreSQL database with
``DATABASE_URL``) under ``var/bench/referrals/``: one locality, 6 practices, ``--patients``
patients, ``--services`` directory services (the demo file's 45 and copies of them with
other names and terms) and ``--open`` open referrals spread over 10 services, in every
open state, a third of them overdue. Page times are measured in-process with Django's test
``Client`` (middleware, session, audit row, SQL and template; no network); the directory
search is also timed as the function, with a patient's eligibility.

    .venv/bin/python benchmarks/bench_referrals.py [--patients 50000] [--open 50000]

writes benchmarks/results/referrals.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "bench" / "referrals"
RESULTS = ROOT / "benchmarks" / "results" / "referrals.json"
PASSWORD = "bench-referrals-2026"


def setup_env() -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="wraparound.web.settings",
        WRAPAROUND_VAR=str(WORK),
        WRAPAROUND_ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
    )
    if not env.get("DATABASE_URL"):
        env["WRAPAROUND_DB"] = str(WORK / "referrals.sqlite3")
    os.environ.update(env)
    return env


def build(patients: int, services: int, open_referrals: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from wraparound.apps.records.models import Organisation, Patient, User
    from wraparound.apps.referrals import directory, rules
    from wraparound.apps.referrals.models import Referral, Service

    call_command("migrate", interactive=False, verbosity=0)
    t0 = time.perf_counter()
    loc = Organisation.objects.create(org_id="LR", name="Bench locality", kind="locality")
    hood = Organisation.objects.create(org_id="NR0", name="Hood", kind="neighbourhood", parent=loc)
    practices = [
        Organisation.objects.create(
            org_id=f"PR{p}", name=f"Practice {p}", kind="practice", parent=hood
        )
        for p in range(6)
    ]
    Patient.objects.bulk_create(
        [
            Patient(
                pseudonym=f"rb-{i}",
                nhs_number=f"95{i:08d}",
                given_name="Bench",
                family_name=f"Patient{i}",
                birth_date=dt.date(1940 + i % 60, 1 + i % 12, 1),
                sex=("female", "male")[i % 2],
                practice=practices[i % 6],
                neighbourhood=hood,
            )
            for i in range(patients)
        ],
        batch_size=5000,
    )
    demo = json.loads((directory.package_data_dir() / directory.DEMO_FILE).read_text())["services"]
    raws = []
    for i in range(services):
        s = json.loads(json.dumps(demo[i % len(demo)]))
        if i >= len(demo):
            s["id"] = f"{s['id']}-{i}"
            s["name"] = f"{s['name']} {i}"
        raws.append(s)
    directory.import_services(raws, "bench")
    chosen = list(
        Service.objects.filter(routes__icontains="advice_and_guidance").order_by("pk")[:10]
    )
    gp = User.objects.create_user(
        "gp",
        password=PASSWORD,
        role="gp",
        scope="practice",
        scope_org=practices[0],
        first_name="Bench",
        last_name="GP",
    )
    coordinator = User.objects.create_user(
        "coordinator",
        password=PASSWORD,
        role="coordinator",
        scope="neighbourhood",
        scope_org=hood,
        first_name="Bench",
        last_name="Coordinator",
    )
    provider = User.objects.create_user(
        "provider",
        password=PASSWORD,
        role="hub_clinician",
        scope="locality",
        scope_org=loc,
        service=chosen[0].org,
        first_name="Bench",
        last_name="Provider",
    )
    m = rules.machine("referral")
    states = list(m.open_states())
    ids = list(Patient.objects.values_list("pk", "practice_id"))
    rng = random.Random(14)
    now = timezone.now()
    today = timezone.localdate()
    rows = []
    for i in range(open_referrals):
        pk, practice = ids[rng.randrange(len(ids))]
        state = states[i % len(states)]
        timed = bool(m.state(state).timer)
        rows.append(
            Referral(
                patient_id=pk,
                service=chosen[i % len(chosen)],
                state=state,
                open=True,
                referrer=gp,
                referrer_org_id=practice,
                specialty="dermatology",
                reason="bench",
                created_at=now,
                state_since=now,
                due=(today + dt.timedelta(days=rng.randint(-10, 20))) if timed else None,
                identifier=f"bench-{i}",
            )
        )
    Referral.objects.bulk_create(rows, batch_size=5000)
    return {
        "patients": patients,
        "services": Service.objects.count(),
        "open_referrals": Referral.objects.filter(open=True).count(),
        "at_the_queue_service": Referral.objects.filter(service=chosen[0], open=True).count(),
        "from_the_gp_practice": Referral.objects.filter(
            referrer_org=practices[0], open=True
        ).count(),
        "build_s": round(time.perf_counter() - t0, 1),
        "users": {"gp": gp.pk, "coordinator": coordinator.pk, "provider": provider.pk},
    }


def timed(fn, n: int) -> dict:
    fn()  # warm
    ms = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    return {
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 2),
        "n": n,
    }


def measure(world: dict, n: int) -> dict:
    from django.test import Client

    from wraparound.apps.records.models import Patient, User
    from wraparound.apps.referrals import directory

    patient = Patient.objects.order_by("pk").first()
    out = {
        "directory_search_function_eligibility": timed(
            lambda: directory.search("clinic", patient=patient), n
        ),
        "directory_search_function_taxonomy": timed(
            lambda: directory.search(term="health/specialist", locality="Dudley"), n
        ),
    }
    pages = {
        "directory_search_page": ("gp", "/directory/?q=skin"),
        "triage_queue_page": ("provider", "/referrals/queue"),
        "triage_queue_overdue_page": ("provider", "/referrals/queue?overdue=yes"),
        "referrer_worklist_page": ("gp", "/referrals/"),
        "centre_worklist_page": ("coordinator", "/referrals/centre"),
        # For scale on a loaded machine: an existing audited list page of the care app.
        "baseline_caseload_page": ("coordinator", "/caseload/"),
    }
    for name, (who, url) in pages.items():
        client = Client()
        client.force_login(User.objects.get(pk=world["users"][who]))

        def get(client=client, url=url):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        out[name] = timed(get, n)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50000)
    parser.add_argument("--services", type=int, default=2000)
    parser.add_argument("--open", type=int, default=50000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    if WORK.exists():
        shutil.rmtree(WORK)
    env = setup_env()
    sys.path.insert(0, str(ROOT / "src"))
    world = build(args.patients, args.services, args.open)
    print(json.dumps(world), flush=True)
    times = measure(world, args.repeats)
    out = {
        "benchmark": "referrals (issue 14)",
        "database": "postgresql" if env.get("DATABASE_URL") else "sqlite",
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
        "world": world,
        "times": times,
        "targets": {"directory_search_median_ms": 100, "worklists_median_ms": 150},
    }
    for name, t in times.items():
        print(f"{name:<42} median {t['median_ms']:>8} ms  p95 {t['p95_ms']:>8} ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
