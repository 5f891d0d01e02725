"""Patient portal benchmark (issue 15): "my record" and "my appointments" median server time
on a 300k-patient locality, and the sign-in round trip against the local OpenID Connect
provider.

The locality is bench_access.py's (its ``build``: neighbourhoods of about 40,000 with a hub
each and four weeks of slots), in a fresh SQLite file (or PostgreSQL with ``DATABASE_URL``)
under ``var/bench/portal/``; the measured patient gets a care team, a care plan, register
conditions and five hub appointments (booked through the portal's own booking path). Server
times are measured in-process with Django's test ``Client`` and a real portal session cookie
(middleware, session lookup, audit row, SQL, template; no network). "My record" reads the
record index only where a warehouse exists: this world has none, so it measures the
portal's own queries, not the DuckDB index read (that is care's, benchmarked in issue 10).

The sign-in round trip runs the whole flow against ``python -m wraparound.idp`` on
127.0.0.1: /portal/sign-in, the provider's authorization endpoint and sign-in form, the
code back, the token request with a private_key_jwt assertion, ID token verification and
userinfo; timed from the first request to the session cookie.

    .venv/bin/python benchmarks/bench_portal.py [--patients 300000] [--rounds 50]

writes benchmarks/results/portal.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "bench" / "portal"
RESULTS = ROOT / "benchmarks" / "results" / "portal.json"
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "app"))

import bench_access  # noqa: E402  (the locality builder)


def casework(world: dict) -> dict:
    import datetime as dt

    from django.utils import timezone

    from wraparound.apps.access.models import Slot
    from wraparound.apps.care.careplan import save_version
    from wraparound.apps.care.models import CareTeamMember, CaseRecord
    from wraparound.apps.records.models import Patient, User

    patient = Patient.objects.get(pseudonym="bench-7")
    patient.conditions = ["hypertension", "diabetes", "copd"]
    patient.save(update_fields=["conditions"])
    gp = User.objects.create(
        username="bench-gp",
        first_name="Asha",
        last_name="Rahman",
        role="gp",
        scope="practice",
        scope_org=patient.practice,
    )
    coord = User.objects.create(
        username="bench-coord",
        first_name="Jo",
        last_name="Okafor",
        role="coordinator",
        scope="neighbourhood",
        scope_org=patient.practice.parent,
    )
    CaseRecord.objects.create(patient=patient, named_gp=gp, coordinator=coord)
    for user, role in ((gp, "named_gp"), (coord, "coordinator")):
        CareTeamMember.objects.create(patient=patient, user=user, team_role=role)
    save_version(
        patient,
        {
            "what_matters": "Walking my dog",
            "goals": "Walk to the park\nFewer admissions",
            "actions": [
                {
                    "what": "Review inhalers",
                    "owner_id": coord.pk,
                    "owner": "Jo Okafor",
                    "due": "2027-01-10",
                }
            ],
            "escalation": "",
            "contingency": "",
            "out_of_hours": "NHS 111",
            "review_date": timezone.localdate() + dt.timedelta(days=180),
        },
        coord,
    )
    now = timezone.now()
    Slot.objects.update(released_to_patients_at=now - dt.timedelta(hours=1))
    return {"patient": patient}


def portal_client(patient, level="P9"):
    from django.test import Client
    from django.utils import timezone

    from wraparound.apps.portal.models import PortalSession
    from wraparound.apps.portal.session import COOKIE, digest

    client = Client()
    key = f"bench-{patient.pk}-{level}"
    PortalSession.objects.create(
        key_digest=digest(key),
        sub="bench",
        nhs_number=patient.nhs_number,
        level=level,
        patient=patient,
        acting_for=patient,
        last_seen_at=timezone.now(),
        name="Bench Patient",
    )
    client.cookies[COOKIE] = key
    return client


def timed(client, url: str, rounds: int) -> dict:
    for _ in range(3):
        assert client.get(url).status_code == 200, url
    ms = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        response = client.get(url)
        ms.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    return bench_access.summary(ms)


def book_some(client, patient, n=5) -> int:
    from wraparound.apps.access.models import Slot

    neighbourhood = patient.practice.parent_id
    free = Slot.objects.filter(
        hub__neighbourhood_id=neighbourhood, status="free", slot_type="long"
    ).order_by("start")[:n]
    made = 0
    for i, slot in enumerate(free):
        r = client.post("/portal/appointments/book", {"slot": slot.pk, "key": f"b{i}"})
        made += r.status_code == 302
    return made


def sign_in_rounds(patient, rounds: int) -> dict:
    import requests
    from django.test import Client
    from portal_world import provider_login

    from wraparound import config
    from wraparound.apps.portal import oidc

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    os.environ["WRAPAROUND_PORTAL_OIDC_ISSUER"] = f"http://127.0.0.1:{port}/o"
    config.reload()
    password = "bench-local-nhs-login"
    seed = {
        "clients": [
            {
                "client_id": config.current().portal_oidc_client_id,
                "redirect_uris": ["http://testserver/portal/callback"],
                "jwks": oidc.public_jwks(),
            }
        ],
        "accounts": [
            {
                "email": "bench@example.org",
                "password": password,
                "nhs_number": patient.nhs_number,
                "level": "P9",
                "given_name": "Bench",
                "family_name": "Patient",
            }
        ],
    }
    (WORK / "idp-seed.json").write_text(json.dumps(seed))
    env = {
        k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")
    }
    env["WRAPAROUND_IDP_DB"] = str(WORK / "idp.sqlite3")
    idp = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wraparound.idp",
            "--port",
            str(port),
            "--seed",
            str(WORK / "idp-seed.json"),
        ],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        ms = []
        # One client for every round, as one browser: a new test Client builds its own
        # middleware chain on its first request, and WhiteNoise's constructor walks and stats
        # every static file (tests/app/static_index.py), which a server does once at start-up
        # and the old per-round Client paid inside the timing. Clearing the cookies makes each
        # round a fresh sign-in (no portal session, no provider state carried over).
        client = Client()
        for i in range(rounds + 2):
            client.cookies.clear()
            t0 = time.perf_counter()
            start = client.get("/portal/sign-in")
            back = provider_login(start["Location"], "bench@example.org", password)
            done = client.get(back[len("http://testserver") :])
            elapsed = (time.perf_counter() - t0) * 1000
            assert done.status_code == 302 and "wraparound_portal" in done.cookies, done.content
            if i >= 2:  # the first rounds fetch discovery and keys once
                ms.append(elapsed)
        return bench_access.summary(ms)
    finally:
        idp.terminate()
        idp.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=300000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    if WORK.exists():
        shutil.rmtree(WORK)
    bench_access.WORK = WORK
    env = bench_access.setup_env()
    os.environ["WRAPAROUND_PORTAL_OIDC_KEY"] = str(WORK / "portal-key.pem")
    world = bench_access.build(args.patients)
    patient = casework(world)["patient"]
    client = portal_client(patient)
    booked = book_some(client, patient)
    server = {
        "my_record": timed(client, "/portal/record", args.rounds),
        "my_appointments": timed(client, "/portal/appointments", args.rounds),
        "my_care_plan": timed(client, "/portal/care-plan", args.rounds),
        "who_looked": timed(client, "/portal/who-looked", args.rounds),
    }
    print(json.dumps(server), flush=True)
    signin = sign_in_rounds(patient, min(args.rounds, 30))
    print(json.dumps({"sign_in_round_trip": signin}), flush=True)
    out = {
        "benchmark": "patient portal (issue 15)",
        "database": "postgresql" if env.get("DATABASE_URL") else "sqlite",
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
        "world": {k: v for k, v in world.items() if k not in ("tokens", "hub_user")},
        "appointments_booked_for_the_patient": booked,
        "server_side": server,
        "sign_in_round_trip": signin,
        "targets": {
            "my_record_median_ms": 100,
            "my_appointments_median_ms": 100,
            "sign_in_round_trip_median_ms": 300,
        },
        "note": "no warehouse: my record's record-index read (care, issue 10) not included",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
