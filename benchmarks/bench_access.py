"""Access hubs benchmark (issue 13): "find a slot" and the FHIR Slot search median server
time, booking median, and 50 concurrent bookers for 60 s against gunicorn.

Builds its own world in a fresh SQLite file (or a fresh PostgreSQL database with
``DATABASE_URL``) under ``var/bench/access/``: a locality of ``--patients`` patients in
neighbourhoods of about 40,000 (one hub each, two sites), and four weeks of slots for every
hub from a rota of GP, nurse, pharmacist, physiotherapist and HCA sessions across the
opening hours (weekdays 08:00-20:00, weekends 09:00-18:00). Server times are measured
in-process with Django's test ``Client`` (the whole middleware stack, session, audit row,
SQL and template; no network). The load test runs gunicorn (2 workers x 4 threads, gthread)
on 127.0.0.1 and 50 client threads, each searching a day's free slots over FHIR and booking
one, back to back; 201 (booked) and 409 (taken, someone else was first) are answers, anything
else or no answer is an error. Afterwards no slot may hold two active bookings.

    .venv/bin/python benchmarks/bench_access.py [--patients 300000] [--seconds 60]

writes benchmarks/results/access.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "bench" / "access"
RESULTS = ROOT / "benchmarks" / "results" / "access.json"
ROTA = [  # role, mode, slot type, minutes, start, end
    ("gp", "face_to_face", "routine", 15, "08:00", "12:00"),
    ("gp", "telephone", "same_day", 10, "12:00", "14:00"),
    ("gp", "face_to_face", "long", 30, "14:00", "17:00"),
    ("nurse", "face_to_face", "routine", 20, "09:00", "13:00"),
    ("pharmacist", "telephone", "routine", 15, "13:00", "17:00"),
    ("physiotherapist", "face_to_face", "routine", 30, "09:00", "12:00"),
    ("hca", "face_to_face", "routine", 10, "13:00", "16:00"),
    ("gp", "video", "urgent", 15, "17:00", "20:00"),
    ("nurse", "face_to_face", "under_5s", 15, "17:00", "20:00"),
]


def pct(values, p):
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p / 100))], 2)


def summary(ms):
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": pct(ms, 95),
        "p99_ms": pct(ms, 99),
    }


def setup_env() -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="wraparound.web.settings",
        WRAPAROUND_VAR=str(WORK),
        WRAPAROUND_ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
    )
    if not env.get("DATABASE_URL"):
        db = WORK / "access.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        env["WRAPAROUND_DB"] = str(db)
    os.environ.update(env)
    return env


def build(patients: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from wraparound.apps.access import tokens
    from wraparound.apps.access.generate import generate_slots
    from wraparound.apps.access.hubs import create_hub
    from wraparound.apps.access.models import SessionTemplate, Site, Slot
    from wraparound.apps.records.models import Organisation, Patient, User

    call_command("migrate", interactive=False, verbosity=0)
    t0 = time.perf_counter()
    loc = Organisation.objects.create(org_id="LB", name="Bench locality", kind="locality")
    n_hoods = max(1, round(patients / 40000))
    practices, hubs = [], []
    for n in range(n_hoods):
        hood = Organisation.objects.create(
            org_id=f"NB{n:02d}", name=f"Neighbourhood {n}", kind="neighbourhood", parent=loc
        )
        for p in range(6):
            practices.append(
                Organisation.objects.create(
                    org_id=f"PB{n:02d}{p}", name=f"Practice {n}-{p}", kind="practice", parent=hood
                )
            )
        hub = create_hub(
            Organisation.objects.create(
                org_id=f"HB{n:02d}", name=f"Hub {n}", kind="hub", parent=hood
            )
        )
        Site.objects.create(hub=hub, name=f"Hub {n} second site")
        hubs.append(hub)
    Patient.objects.bulk_create(
        [
            Patient(
                pseudonym=f"bench-{i}",
                nhs_number=f"96{i:08d}",
                given_name="Bench",
                family_name=f"Patient{i}",
                practice=practices[i % len(practices)],
                neighbourhood_id=practices[i % len(practices)].parent_id,
            )
            for i in range(patients)
        ],
        batch_size=5000,
    )
    today = timezone.localdate()
    for hub in hubs:
        sites = list(hub.sites.all())
        clinician = User.objects.create(
            username=f"clin-{hub.pk}",
            role="hub_clinician",
            scope="neighbourhood",
            scope_org=hub.neighbourhood,
            service=hub.organisation,
        )
        for weekday in range(7):
            for i, (role, mode, kind, minutes, start, end) in enumerate(ROTA):
                SessionTemplate.objects.create(
                    hub=hub,
                    site=sites[i % 2],
                    clinician=clinician if i == 0 else None,
                    clinician_name=f"{role} {i}",
                    role=role,
                    mode=mode,
                    slot_type=kind,
                    slot_minutes=minutes,
                    weekday=weekday,
                    start=dt.time.fromisoformat(start),
                    end=dt.time.fromisoformat(end),
                    valid_from=today,
                    release_to_practices_hours=24 * 30,
                )
        generate_slots(hub, today, weeks=4)
    built = time.perf_counter() - t0
    token_text = {}
    for practice in practices:
        token_text[practice.pk] = tokens.issue(practice, f"bench {practice.pk}")[1]
    return {
        "patients": patients,
        "neighbourhoods": n_hoods,
        "practices": len(practices),
        "hubs": len(hubs),
        "slots": Slot.objects.count(),
        "build_s": round(built, 1),
        "tokens": token_text,
        "hub_user": f"clin-{hubs[0].pk}",
    }


def appointment_body(nhs: str, org: str, slot: int) -> str:
    return json.dumps(
        {
            "resourceType": "Appointment",
            "status": "booked",
            "extension": [
                {
                    "url": "https://fhir.hl7.org.uk/StructureDefinition/"
                    "Extension-UKCore-BookingOrganization",
                    "valueReference": {
                        "identifier": {
                            "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                            "value": org,
                        }
                    },
                }
            ],
            "slot": [{"reference": f"Slot/{slot}"}],
            "participant": [
                {
                    "actor": {
                        "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}
                    },
                    "status": "accepted",
                }
            ],
        }
    )


def in_process(world: dict) -> dict:
    from django.test import Client
    from django.utils import timezone

    from wraparound.apps.access.models import Slot
    from wraparound.apps.records.models import Organisation, Patient, User

    client = Client()
    client.force_login(User.objects.get(username=world["hub_user"]))
    today = timezone.localdate()
    patient = Patient.objects.filter(practice__parent_id="NB00").first()
    finds, fhir, books = [], [], []
    modes = ["", "video", "telephone", "face_to_face"]
    for i in range(60):
        params = {
            "patient": patient.pk,
            "date": (today + dt.timedelta(days=1 + i % 20)).isoformat(),
        }
        if i % 2:
            params["mode"] = modes[i % 4]
        if i % 3 == 0:
            params["neighbourhood"] = "NB00"
        t = time.perf_counter()
        r = client.get("/access/find", params)
        finds.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.status_code
    org, token = next(iter(world["tokens"].items()))
    auth = {"Authorization": f"Bearer {token}"}
    for i in range(60):
        day = today + dt.timedelta(days=1 + i % 20)
        url = (
            f"/fhir/Slot?start=ge{day.isoformat()}&end=le{day.isoformat()}T23:59:59"
            "&status=free&_include=Slot:schedule"
        )
        t = time.perf_counter()
        r = client.get(url, headers=auth)
        fhir.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.status_code
    hood = Organisation.objects.get(pk=org).parent_id
    slots = list(Slot.objects.filter(hub__neighbourhood_id=hood, status="free").order_by("?")[:100])
    people = list(Patient.objects.filter(practice__parent_id=hood)[:100])
    for slot, person in zip(slots, people, strict=False):
        t = time.perf_counter()
        r = client.post(
            "/fhir/Appointment",
            appointment_body(person.nhs_number, org, slot.pk),
            content_type="application/fhir+json",
            headers=auth,
        )
        books.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 201, r.content[:200]
    return {
        "find_a_slot": summary(finds),
        "fhir_slot_search": summary(fhir),
        "booking": summary(books),
    }


def load(world: dict, env: dict, seconds: int, users: int) -> dict:
    from wraparound.apps.records.models import Organisation, Patient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (WORK / "gunicorn.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "wraparound.web.wsgi:application", "--workers", "2",
         "--threads", "4", "--worker-class", "gthread", "--bind", f"127.0.0.1:{port}"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
            break
        except OSError:
            time.sleep(0.3)
    tokens = list(world["tokens"].items())
    people = {
        org: list(Patient.objects.filter(practice_id=org).values_list("nhs_number", flat=True))
        for org, _ in tokens
    }
    parents = dict(Organisation.objects.filter(kind="practice").values_list("pk", "parent_id"))
    lock = threading.Lock()
    latencies, searches, codes, errors = [], [], {}, []
    stop = time.monotonic() + seconds
    today = dt.date.today()

    def user(n: int):
        rng = random.Random(n)
        org, token = tokens[n % len(tokens)]
        auth = {"Authorization": f"Bearer {token}"}
        while time.monotonic() < stop:
            day = today + dt.timedelta(days=rng.randint(1, 3))
            try:
                t = time.perf_counter()
                req = urllib.request.Request(
                    f"{url}/fhir/Slot?start=ge{day}&end=le{day}T23:59:59&status=free",
                    headers=auth,
                )
                with urllib.request.urlopen(req, timeout=60) as r:
                    found = json.loads(r.read())
                with lock:
                    searches.append((time.perf_counter() - t) * 1000)
                entries = [e["resource"]["id"] for e in found.get("entry", [])]
                if not entries:
                    continue
                slot = int(rng.choice(entries[:20]))  # the popular early slots: contention
                body = appointment_body(rng.choice(people[org]), org, slot).encode()
                req = urllib.request.Request(
                    f"{url}/fhir/Appointment", data=body, method="POST",
                    headers={**auth, "Content-Type": "application/fhir+json"},
                )  # fmt: skip
                t = time.perf_counter()
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        code = r.status
                except urllib.error.HTTPError as e:
                    code = e.code
                ms = (time.perf_counter() - t) * 1000
                with lock:
                    latencies.append(ms)
                    codes[code] = codes.get(code, 0) + 1
                    if code not in (201, 409):
                        errors.append(code)
            except Exception as e:
                with lock:
                    errors.append(repr(e)[:100])

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    proc.terminate()
    proc.wait(timeout=30)
    log.close()
    del parents
    from django.db import connection
    from django.db.models import Count

    from wraparound.apps.access.models import AppointmentSlot

    connection.close()
    doubled = (
        AppointmentSlot.objects.filter(active=True, overbook=False)
        .values("slot")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    return {
        "users": users,
        "seconds": round(elapsed, 1),
        "bookings_attempted": len(latencies),
        "booked_201": codes.get(201, 0),
        "taken_409": codes.get(409, 0),
        "errors": len(errors),
        "error_samples": errors[:5],
        "slots_booked_twice": doubled,
        "booking_requests_per_s": round(len(latencies) / elapsed, 1),
        "booking_latency": summary(latencies) if latencies else {},
        "slot_search_latency": summary(searches) if searches else {},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=300000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    if WORK.exists():
        shutil.rmtree(WORK)
    env = setup_env()
    sys.path.insert(0, str(ROOT / "src"))
    world = build(args.patients)
    print(json.dumps({k: v for k, v in world.items() if k != "tokens"}), flush=True)
    server = in_process(world)
    print(json.dumps(server), flush=True)
    under_load = load(world, env, args.seconds, args.users)
    print(json.dumps(under_load), flush=True)
    out = {
        "benchmark": "access hubs (issue 13)",
        "database": "postgresql" if env.get("DATABASE_URL") else "sqlite",
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
        "world": {k: v for k, v in world.items() if k not in ("tokens", "hub_user")},
        "server_side": server,
        "targets": {
            "find_a_slot_median_ms": 50,
            "fhir_slot_search_median_ms": 50,
            "booking_median_ms": 100,
        },
        "load": under_load,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
