"""Race-free under load, against a real server (issue 13): gunicorn (4 processes x 4 threads, more
concurrency than ``wraparound app serve``'s default) on its own database (a SQLite file, or a
fresh PostgreSQL database when ``DATABASE_URL`` names a server; ``scripts/with-postgres.sh``
runs it there), 100 bookers released together by a barrier, over the FHIR API:

- 100 attempts at one slot: exactly one 201, 99 409s with the next free slots, one active
  hold on the slot;
- 100 attempts at two adjacent slots for a long appointment: exactly one appointment holds
  both, nobody holds one of them;
- 50 attempts at a pair and 50 at the pair's second slot alone, together: exactly one winner,
  no slot held twice, and every appointment holds all the slots it asked for (no partial
  double-slot booking).

Each booker is a different patient with its own Idempotency-Key; the audit chain still
verifies afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import test_lockout_live as live

WRAPAROUND = str(Path(sys.executable).with_name("wraparound"))
BOOKERS = 100
SERVE = live.SERVE  # gunicorn, 4 processes x 4 threads (gthread): more than app serve's default

SETUP = """
import datetime as dt, json, sys
import django
django.setup()
from django.utils import timezone
from wraparound.apps.access import tokens
from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import Slot
from wraparound.apps.records.models import Organisation, Patient
loc = Organisation.objects.create(org_id="L1", name="Locality", kind="locality")
nb = Organisation.objects.create(org_id="N1", name="North", kind="neighbourhood", parent=loc)
practices = [
    Organisation.objects.create(org_id=f"P{i}", name=f"Practice {i}", kind="practice", parent=nb)
    for i in range(4)
]
hub = create_hub(Organisation.objects.create(org_id="H1", name="Hub", kind="hub", parent=nb))
now = timezone.now().replace(second=0, microsecond=0)
def slot(i):
    start = now + dt.timedelta(days=2, minutes=15 * i)
    return Slot.objects.create(
        hub=hub, site=hub.sites.first(), role="gp", mode="face_to_face", slot_type="routine",
        start=start, end=start + dt.timedelta(minutes=15),
        released_to_practices_at=now - dt.timedelta(hours=1),
    ).pk
slots = [slot(i) for i in range(8)]
for i in range(300):
    Patient.objects.create(
        pseudonym=f"race-{i}", nhs_number=f"97{i:08d}", given_name="Race", family_name=f"P{i}",
        practice=practices[i % 4], neighbourhood=nb,
    )
out = {"slots": slots, "tokens": [tokens.issue(p, f"system {p.pk}")[1] for p in practices]}
json.dump(out, open(sys.argv[1], "w"))
"""


@pytest.fixture
def server(tmp_path, tmp_path_factory):
    db = live.Database(tmp_path)
    db.migrate(tmp_path_factory)
    world = tmp_path / "world.json"
    subprocess.run([sys.executable, "-c", SETUP, str(world)], env=db.env, check=True, timeout=300)
    port = live._free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", live.WSGI, *SERVE, "--bind", f"127.0.0.1:{port}"],
        env=db.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while True:
        assert proc.poll() is None, (tmp_path / "server.log").read_text()
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                break
        except OSError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
    try:
        yield url, db, json.loads(world.read_text()), tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        db.drop()


def booking(i: int, token: str, org: str, slots: list[int]) -> tuple[bytes, dict]:
    body = {
        "resourceType": "Appointment",
        "status": "booked",
        "extension": [
            {
                "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-BookingOrganization",
                "valueReference": {
                    "identifier": {
                        "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                        "value": org,
                    }
                },
            }
        ],
        "slot": [{"reference": f"Slot/{s}"} for s in slots],
        "participant": [
            {
                "actor": {
                    "identifier": {
                        "system": "https://fhir.nhs.uk/Id/nhs-number",
                        "value": f"97{i:08d}",
                    }
                },
                "status": "accepted",
            }
        ],
    }
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/fhir+json",
        "Idempotency-Key": f"race-{i}",
    }
    return json.dumps(body).encode(), headers


def fire(url: str, world: dict, plans: list[list[int]], offset: int) -> list[int]:
    """Send one booking per plan at the same moment; return the status codes."""
    start = threading.Barrier(len(plans))
    codes: list[int] = [0] * len(plans)

    def one(n: int):
        i = offset + n
        org = i % 4
        data, headers = booking(i, world["tokens"][org], f"P{org}", plans[n])
        request = urllib.request.Request(
            f"{url}/fhir/Appointment", data=data, headers=headers, method="POST"
        )
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                codes[n] = response.status
        except urllib.error.HTTPError as error:
            codes[n] = error.code
            if error.code == 409:
                assert "next free" in json.loads(error.read())["issue"][0]["diagnostics"]

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(plans))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return codes


def holds(db, slot: int) -> int:
    return db.rows(
        "SELECT count(*) FROM access_appointmentslot WHERE slot_id = ? AND active = ?",
        (slot, True),
    )[0][0]


def test_100_bookers_one_slot_and_one_pair(server):
    url, db, world, _ = server
    s = world["slots"]

    codes = fire(url, world, [[s[0]]] * BOOKERS, offset=0)
    print(f"\none slot: {codes.count(201)} booked, {codes.count(409)} taken")
    assert codes.count(201) == 1 and codes.count(409) == BOOKERS - 1
    assert holds(db, s[0]) == 1

    codes = fire(url, world, [[s[2], s[3]]] * BOOKERS, offset=BOOKERS)
    print(f"two adjacent slots: {codes.count(201)} booked, {codes.count(409)} taken")
    assert codes.count(201) == 1 and codes.count(409) == BOOKERS - 1
    assert holds(db, s[2]) == 1 and holds(db, s[3]) == 1
    winners = db.rows(
        "SELECT appointment_id, count(*) FROM access_appointmentslot "
        "WHERE slot_id IN (?, ?) GROUP BY appointment_id",
        (s[2], s[3]),
    )
    assert len(winners) == 1 and winners[0][1] == 2  # one appointment holds both

    mixed = [[s[5], s[6]]] * (BOOKERS // 2) + [[s[6]]] * (BOOKERS // 2)
    codes = fire(url, world, mixed, offset=2 * BOOKERS)
    print(f"pair and its second slot together: {codes.count(201)} booked")
    assert codes.count(201) == 1 and set(codes) == {201, 409}
    assert holds(db, s[6]) == 1 and holds(db, s[5]) in (0, 1)
    # every appointment holds every slot it asked for: none half-booked
    per_appt = db.rows(
        "SELECT a.id, count(h.id), a.start, a.end FROM access_appointment a "
        "JOIN access_appointmentslot h ON h.appointment_id = a.id GROUP BY a.id, a.start, a.end"
    )
    assert len(per_appt) == 3
    total_holds = db.rows("SELECT count(*) FROM access_appointmentslot")[0][0]
    active = db.rows("SELECT count(*) FROM access_appointmentslot WHERE active = ?", (True,))[0][0]
    assert total_holds == active == 1 + 2 + (2 if holds(db, s[5]) else 1)
    busy = db.rows("SELECT id FROM access_slot WHERE status = ?", ("booked",))
    held = db.rows("SELECT DISTINCT slot_id FROM access_appointmentslot WHERE active = ?", (True,))
    assert sorted(busy) == sorted(held)  # the status mirrors the holds exactly

    verify = subprocess.run(
        [WRAPAROUND, "audit", "verify"], env=db.env, capture_output=True, text=True, timeout=120
    )
    assert verify.returncode == 0, verify.stderr
