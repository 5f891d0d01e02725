"""Self-referral timing benchmark (issue 14): does the time of the public form's answer say
whether the details matched a registered patient? Server time of ``POST
/self-referral/physiotherapy/`` for four cases, interleaved: an NHS number and date of birth
that match one patient, name, birth date and postcode shared by two patients (ambiguous), a
valid NHS number of nobody, and a patient's NHS number with the wrong date of birth.

Builds its own world in a fresh SQLite file under ``var/bench/self_referral/``: one practice
of ``--patients`` patients with contact details (postcodes), built directly. Measured
in-process with Django's test ``Client`` (the whole middleware stack, matching, the saved
request, the template; no network). Rate limits are raised for the run.

    .venv/bin/python benchmarks/bench_self_referral.py [--patients 50000] [--rounds 200]

writes benchmarks/results/self_referral.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "bench" / "self_referral"
RESULTS = ROOT / "benchmarks" / "results" / "self_referral.json"
ANSWERS = {
    "q_problem_area": "Back",
    "q_how_long": "Less than 6 weeks",
    "q_description": "Lifting a box",
    "q_bladder_bowel": "no",
    "q_saddle_numbness": "no",
    "q_fever_unwell": "no",
}


def setup_env() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    db = WORK / "self_referral.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="wraparound.web.settings",
        WRAPAROUND_VAR=str(WORK),
        WRAPAROUND_DB=str(db),
        WRAPAROUND_ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        WRAPAROUND_SELF_REFERRAL_RATE_IP="1000000/h",
        WRAPAROUND_SELF_REFERRAL_RATE_IDENTITY="1000000/h",
    )


def numbers(count: int):
    from wraparound import nhs_number

    n = 900000000
    while count:
        check = nhs_number.check_digit(str(n))
        if check is not None:
            yield f"{n}{check}"
            count -= 1
        n += 1


def build(patients: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    from wraparound.apps.messaging.models import ContactPreference
    from wraparound.apps.records.models import Organisation, Patient

    call_command("migrate", interactive=False, verbosity=0)
    loc = Organisation.objects.create(org_id="LB", name="Bench locality", kind="locality")
    hood = Organisation.objects.create(
        org_id="NB", name="Bench hood", kind="neighbourhood", parent=loc
    )
    practice = Organisation.objects.create(
        org_id="PB", name="Bench Surgery", kind="practice", parent=hood
    )
    rows = [
        Patient(
            pseudonym=f"b{i}",
            nhs_number=n,
            given_name=f"Given{i % 500}",
            family_name=f"Family{i % 997}",
            birth_date=dt.date(1940, 1, 1) + dt.timedelta(days=i % 20000),
            practice=practice,
            neighbourhood=hood,
        )
        for i, n in enumerate(numbers(patients + 1))
    ]
    spare = rows.pop().nhs_number
    Patient.objects.bulk_create(rows, batch_size=5000)
    ids = list(Patient.objects.order_by("pk").values_list("pk", flat=True))
    ContactPreference.objects.bulk_create(
        [ContactPreference(patient_id=pk, postcode=f"M{pk % 90} {pk % 9}AA") for pk in ids],
        batch_size=5000,
    )
    one = Patient.objects.get(pk=ids[0])
    twin_a, twin_b = Patient.objects.filter(pk__in=ids[1:3])
    twin_b.given_name, twin_b.family_name, twin_b.birth_date = (
        twin_a.given_name,
        twin_a.family_name,
        twin_a.birth_date,
    )
    twin_b.save()
    ContactPreference.objects.filter(patient=twin_b).update(postcode=twin_a.contact.postcode)
    return {"one": one, "twin": twin_a, "twin_postcode": twin_a.contact.postcode, "spare": spare}


def form(patient=None, **extra) -> dict:
    birth = patient.birth_date if patient else dt.date(1971, 2, 3)
    data = {
        "given_name": patient.given_name if patient else "Nobody",
        "family_name": patient.family_name if patient else "Known",
        "dob_day": str(birth.day),
        "dob_month": str(birth.month),
        "dob_year": str(birth.year),
        "postcode": "ZZ9 9ZZ",
        "phone": "07700900555",
        **ANSWERS,
    }
    return {**data, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    setup_env()
    t0 = time.perf_counter()
    world = build(args.patients)
    built = time.perf_counter() - t0
    from django.db.models import Count
    from django.test import Client

    from wraparound.apps.triage.models import TriageRequest

    cases = {
        "matched": form(world["one"], nhs_number=world["one"].nhs_number),
        "ambiguous": form(world["twin"], postcode=world["twin_postcode"]),
        "unmatched": form(nhs_number=world["spare"]),
        "number_wrong_birth_date": form(nhs_number=world["one"].nhs_number, dob_year="1999"),
    }
    client = Client()
    times: dict[str, list[float]] = {k: [] for k in cases}
    bodies: dict[str, set[str]] = {k: set() for k in cases}
    for data in cases.values():  # warm up
        client.post("/self-referral/physiotherapy/", data)
    for _ in range(args.rounds):
        for name, data in cases.items():
            start = time.perf_counter()
            response = client.post("/self-referral/physiotherapy/", data)
            times[name].append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (name, response.status_code)
            bodies[name].add(re.sub(r"WR-[A-Z0-9]{8}", "WR-X", response.content.decode()))
    outcomes = dict(
        TriageRequest.objects.values_list("match").annotate(n=Count("id")).order_by("match")
    )
    summary = {
        name: {
            "median_ms": round(statistics.median(v), 2),
            "p95_ms": round(sorted(v)[int(len(v) * 0.95) - 1], 2),
            "mean_ms": round(statistics.fmean(v), 2),
        }
        for name, v in times.items()
    }
    medians = [s["median_ms"] for s in summary.values()]
    result = {
        "benchmark": "self_referral",
        "patients": args.patients,
        "rounds": args.rounds,
        "build_seconds": round(built, 1),
        "cases": summary,
        "median_spread_ms": round(max(medians) - min(medians), 2),
        "identical_bodies": len(set().union(*bodies.values())) == 1,
        "requests_by_match": outcomes,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for name, s in summary.items():
        print(f"{name:26} median {s['median_ms']:7.2f} ms  p95 {s['p95_ms']:7.2f} ms")
    print(
        f"median spread {result['median_spread_ms']} ms;",
        f"identical bodies: {result['identical_bodies']}",
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
