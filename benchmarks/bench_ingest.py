"""Benchmark: FHIR NDJSON ingest of about a million resources (target: under 60 s).

    .venv/bin/python benchmarks/bench_ingest.py [--resources 1000000] [--source DIR]

Without ``--source`` it writes a bulk-export folder itself: a locality shaped like the
synthetic one (organisations, practitioners, patients with NHS numbers, registrations, and
per patient conditions, observations, medications, procedures, appointments and hospital
encounters, with ``meta`` on every resource). With ``--source`` it times the ingest of an
existing folder instead, e.g. the output of ``wraparound synth --format fhir``.

The ingest runs in a fresh child process, so the peak RSS reported (``ru_maxrss``) is the
ingest's alone, not the generator's. The child then loads the same files a second time into
the now full warehouse (``reload_seconds``), the cost of a repeated delivery. Results go to
``benchmarks/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import random
import resource
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson

from wraparound.nhs_number import synthetic_numbers
from wraparound.sources.fhir import mapping as m
from wraparound.warehouse.schema import CODE_SYSTEMS

RESULTS = Path(__file__).parent / "results" / "ingest.json"
# Resources per patient of each type, roughly the synthetic locality's mix.
PER_PATIENT = {
    "EpisodeOfCare": 1,
    "Condition": 4,
    "Observation": 22,
    "MedicationRequest": 8,
    "MedicationStatement": 1,
    "Procedure": 2,
    "Appointment": 8,
    "Encounter": 3,
}
SNOMED, LOINC, DMD = CODE_SYSTEMS["snomed"], CODE_SYSTEMS["loinc"], CODE_SYSTEMS["dmd"]
CONDITIONS = ["38341003", "44054006", "195967001", "13645005", "49436004", "84114007"]
OBSERVATIONS = [("271649006", "mm[Hg]"), ("60621009", "kg/m2"), ("1107481000000106", "mmol/mol")]
MEDICINES = ["318420003", "322236009", "39113611000001102", "317972000"]


def generate(out: Path, resources: int, seed: int = 7) -> dict[str, int]:
    """Write ``<Type>.ndjson`` files with about ``resources`` resources; returns counts."""
    rng = random.Random(seed)
    patients = max(1, resources // (1 + sum(PER_PATIENT.values())))
    nhs = synthetic_numbers(patients, np.random.default_rng(seed))
    out.mkdir(parents=True, exist_ok=True)
    files = {
        t: open(out / f"{t}.ndjson", "wb")  # noqa: SIM115 - closed together below
        for t in [
            "Organization",
            "Practitioner",
            "PractitionerRole",
            "Patient",
            *PER_PATIENT,
        ]
    }
    counts = dict.fromkeys(files, 0)
    updated = {"lastUpdated": "2025-06-30T23:00:00Z", "versionId": "1"}

    def put(r: dict) -> None:
        files[r["resourceType"]].write(orjson.dumps(r) + b"\n")
        counts[r["resourceType"]] += 1

    def ref(kind: str, rid: str) -> dict:
        return {"reference": f"{kind}/{rid}"}

    practices = [f"P{81000 + i}" for i in range(max(2, patients // 8000))]
    put(
        {
            "resourceType": "Organization",
            "id": "org-RX1",
            "meta": updated,
            "identifier": [{"system": m.ODS_CODE, "value": "RX1"}],
            "name": "Hospital Trust",
            "type": [{"coding": [{"system": m.ORG_KIND_SYSTEM, "code": "trust"}]}],
        }
    )
    for p in practices:
        put(
            {
                "resourceType": "Organization",
                "id": f"org-{p}",
                "meta": updated,
                "identifier": [{"system": m.ODS_CODE, "value": p}],
                "name": f"Surgery {p}",
                "type": [{"coding": [{"system": m.ORG_KIND_SYSTEM, "code": "practice"}]}],
            }
        )
        for j in range(6):
            put(
                {
                    "resourceType": "Practitioner",
                    "id": f"pr-{p}-{j}",
                    "meta": updated,
                    "name": [{"text": f"Dr {p} {j}"}],
                }
            )
            put(
                {
                    "resourceType": "PractitionerRole",
                    "id": f"role-{p}-{j}",
                    "meta": updated,
                    "practitioner": ref("Practitioner", f"pr-{p}-{j}"),
                    "organization": ref("Organization", f"org-{p}"),
                    "code": [{"coding": [{"system": m.STAFF_ROLE_SYSTEM, "code": "gp"}]}],
                }
            )
    start = datetime(2022, 1, 1, tzinfo=UTC)
    for i in range(patients):
        pid = f"pat-{i}"
        practice = practices[i % len(practices)]
        birth = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 90 * 365))
        subject = ref("Patient", pid)
        put(
            {
                "resourceType": "Patient",
                "id": pid,
                "meta": updated,
                "identifier": [{"system": m.NHS_NUMBER, "value": str(nhs[i])}],
                "extension": [
                    {
                        "url": m.ETHNIC_CATEGORY_EXT,
                        "valueCodeableConcept": {
                            "coding": [
                                {"system": m.ETHNIC_CATEGORY_SYSTEM, "code": rng.choice("ABCDHJMR")}
                            ]
                        },
                    },
                    {"url": m.OPT_OUT_EXT, "valueBoolean": rng.random() < 0.05},
                ],
                "gender": rng.choice(("male", "female")),
                "birthDate": birth.isoformat(),
                "address": [
                    {
                        "extension": [
                            {"url": m.LSOA_EXT, "valueString": f"E0100{rng.randrange(1000):04d}"}
                        ]
                    }
                ],
            }
        )
        put(
            {
                "resourceType": "EpisodeOfCare",
                "id": f"reg-{i}",
                "meta": updated,
                "status": "active",
                "type": [
                    {"coding": [{"system": m.EPISODE_TYPE_SYSTEM, "code": m.GP_REGISTRATION}]}
                ],
                "patient": subject,
                "managingOrganization": ref("Organization", f"org-{practice}"),
                "period": {"start": max(birth, date(2000, 1, 1)).isoformat()},
            }
        )

        def when() -> datetime:
            return start + timedelta(minutes=rng.randrange(0, 3 * 365 * 24 * 60))

        for k in range(PER_PATIENT["Condition"]):
            put(
                {
                    "resourceType": "Condition",
                    "id": f"c-{i}-{k}",
                    "meta": updated,
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                "code": "active",
                            }
                        ]
                    },
                    "code": {"coding": [{"system": SNOMED, "code": rng.choice(CONDITIONS)}]},
                    "subject": subject,
                    "onsetDateTime": when().date().isoformat(),
                }
            )
        for k in range(PER_PATIENT["Observation"]):
            code, unit = rng.choice(OBSERVATIONS)
            put(
                {
                    "resourceType": "Observation",
                    "id": f"o-{i}-{k}",
                    "meta": updated,
                    "status": "final",
                    "code": {"coding": [{"system": SNOMED, "code": code}]},
                    "subject": subject,
                    "effectiveDateTime": when().date().isoformat(),
                    "valueQuantity": {"value": round(rng.uniform(20, 180), 1), "unit": unit},
                }
            )
        for k in range(PER_PATIENT["MedicationRequest"]):
            t = when().date()
            put(
                {
                    "resourceType": "MedicationRequest",
                    "id": f"m-{i}-{k}",
                    "meta": updated,
                    "status": "completed",
                    "intent": "order",
                    "medicationCodeableConcept": {
                        "coding": [{"system": DMD, "code": rng.choice(MEDICINES)}]
                    },
                    "subject": subject,
                    "authoredOn": t.isoformat(),
                    "dispenseRequest": {
                        "validityPeriod": {"end": (t + timedelta(days=28)).isoformat()}
                    },
                }
            )
        for k in range(PER_PATIENT["MedicationStatement"]):
            put(
                {
                    "resourceType": "MedicationStatement",
                    "id": f"ms-{i}-{k}",
                    "meta": updated,
                    "status": "active",
                    "medicationCodeableConcept": {
                        "coding": [{"system": DMD, "code": MEDICINES[0]}]
                    },
                    "subject": subject,
                    "effectivePeriod": {"start": when().date().isoformat()},
                }
            )
        for k in range(PER_PATIENT["Procedure"]):
            put(
                {
                    "resourceType": "Procedure",
                    "id": f"p-{i}-{k}",
                    "meta": updated,
                    "status": "completed",
                    "code": {"coding": [{"system": SNOMED, "code": "73761001"}]},
                    "subject": subject,
                    "performedDateTime": when().date().isoformat(),
                }
            )
        for k in range(PER_PATIENT["Appointment"]):
            t = when()
            put(
                {
                    "resourceType": "Appointment",
                    "id": f"a-{i}-{k}",
                    "meta": updated,
                    "extension": [
                        {
                            "url": m.APPOINTMENT_ORG_EXT,
                            "valueReference": ref("Organization", f"org-{practice}"),
                        }
                    ],
                    "status": "fulfilled",
                    "appointmentType": {
                        "coding": [{"system": m.APPOINTMENT_MODE_SYSTEM, "code": "face_to_face"}]
                    },
                    "start": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "end": (t + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "created": (t - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "participant": [
                        {"actor": subject, "status": "accepted"},
                        {
                            "actor": ref("PractitionerRole", f"role-{practice}-{k % 6}"),
                            "status": "accepted",
                        },
                    ],
                }
            )
        for k in range(PER_PATIENT["Encounter"]):
            t = when()
            put(
                {
                    "resourceType": "Encounter",
                    "id": f"e-{i}-{k}",
                    "meta": updated,
                    "status": "finished",
                    "class": {"system": m.ACT_CODE, "code": "EMER"},
                    "subject": subject,
                    "period": {
                        "start": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "end": (t + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                    "serviceProvider": ref("Organization", "org-RX1"),
                }
            )
    for fh in files.values():
        fh.close()
    return counts


def _ingest(source: str, warehouse: str, queue) -> None:
    from wraparound.sources.ingest import run_ingest

    started = time.perf_counter()
    result = run_ingest([source], warehouse, progress=False)
    seconds = time.perf_counter() - started
    # The same files again: every row already there, so the merge finds nothing new.
    started = time.perf_counter()
    again = run_ingest([source], warehouse, progress=False)
    reload_seconds = time.perf_counter() - started
    unchanged = sum(t["unchanged"] for t in again.report["tables"].values())
    queue.put(
        {
            "ok": result.ok and again.ok,
            "seconds": seconds,
            "reload_seconds": reload_seconds,
            "reload_unchanged_rows": unchanged,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "resources_read": result.report["resources_read"],
            "rows": result.report["rows"],
            "errors": result.report["errors"][:5],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resources", type=int, default=1_000_000)
    parser.add_argument("--source", type=Path, help="time this folder instead of generating")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to write")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wraparound-bench-"))
    try:
        source = args.source
        generated = None
        if source is None:
            source = work / "fhir"
            t0 = time.perf_counter()
            counts = generate(source, args.resources)
            generated = {
                "resources": sum(counts.values()),
                "by_type": counts,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
        queue = mp.get_context("spawn").Queue()
        child = mp.get_context("spawn").Process(
            target=_ingest, args=(str(source), str(work / "wh"), queue)
        )
        child.start()
        run = queue.get()
        child.join()
        if not run["ok"]:
            raise SystemExit(f"ingest rejected the benchmark input: {run['errors']}")
        result = {
            "benchmark": "fhir_ndjson_ingest",
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": mp.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "source": str(args.source) if args.source else "generated",
            "input_mb": round(size / 2**20, 1),
            "generated": generated,
            "resources": run["resources_read"],
            "rows": run["rows"],
            "seconds": round(run["seconds"], 2),
            "resources_per_second": round(run["resources_read"] / run["seconds"]),
            "reload_seconds": round(run["reload_seconds"], 2),
            "reload_unchanged_rows": run["reload_unchanged_rows"],
            "peak_rss_mb": round(run["peak_rss_mb"]),
            "target_seconds": 60,
            "meets_target": run["resources_read"] >= 1_000_000 and run["seconds"] < 60,
        }
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(result, indent=2) + "\n")
        print(
            f"ingested {result['resources']:,} resources ({result['input_mb']} MB NDJSON) in "
            f"{result['seconds']} s = {result['resources_per_second']:,}/s "
            f"(reload of the same files {result['reload_seconds']} s); "
            f"peak RSS {result['peak_rss_mb']} MB; target <60 s for 1M: "
            f"{'met' if result['meets_target'] else 'NOT met'} -> {args.results}"
        )
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
