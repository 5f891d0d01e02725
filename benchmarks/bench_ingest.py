"""Benchmark: FHIR NDJSON ingest against orjson's parse of the same files, and peak memory.

    .venv/bin/python benchmarks/bench_ingest.py [--resources 1000000] [--source DIR]
        [--results FILE] [--reload] [--baseline /work/baseline/src]

Without ``--source`` it writes a bulk-export folder itself: a locality shaped like the
synthetic one (organisations, practitioners, patients with NHS numbers, registrations, and
per patient conditions, observations, medications, procedures, appointments and hospital
encounters, with ``meta`` on every resource). With ``--source`` it times the ingest of an
existing folder instead, e.g. the output of ``wraparound synth --format fhir``.

Three measurements, each in a fresh process, one after the other on the same files:

1. orjson: every line of every NDJSON file parsed with ``orjson.loads`` in one process
   (one core): the speed at which the bytes can be parsed at all;
2. ingest: ``run_ingest`` into a new warehouse (a worker process per core reading, DuckDB
   resolving and merging), with the resident memory of the whole process tree (workers
   included) sampled every 0.2 s. Workers are forked, so pages they share with the parent
   are counted twice: the peak is an upper bound;
3. orjson again. A parse of files that are not in the page cache reads them from disk
   (at 300k, 29.5 s just after other large files were read, against 19.7 s minutes later),
   so one parse can flatter the ratio by half.

The figure of merit is ``ratio_to_orjson``: ingest resources/s over the faster of the two
orjson parses (the target is at least 0.30 on 2 cores); ``ratio_to_each_orjson`` gives it
against each. ``--reload`` then loads the same files again into the
full warehouse (every row unchanged). ``--baseline SRC`` then loads the same files with the
code at ``PYTHONPATH=SRC`` (the tree before a change), for old-against-new ratios from one run.
Each step's CPU seconds (its whole process tree) are recorded too: ``cpu_ratio_to_orjson``
(orjson's CPU per resource over ingest's) moves much less with a shared machine's load than
the wall ratio does. Results go to ``benchmarks/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).parent))

from _measure import run_sampled

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


def orjson_parse(source: Path) -> dict:
    """Parse every NDJSON line under ``source`` with orjson, in this process; a gzipped file
    (``.ndjson.gz``) is decompressed as it is read, as the ingest does."""
    started = time.perf_counter()
    n = 0
    loads = orjson.loads
    paths = [*source.rglob("*.ndjson"), *source.rglob("*.ndjson.gz")]
    for path in sorted(paths):
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    loads(line)
                    n += 1
    seconds = time.perf_counter() - started
    return {
        "resources": n,
        "seconds": round(seconds, 2),
        "resources_per_second": round(n / seconds),
    }


def ingest_once(source: Path, warehouse: Path, reload: bool) -> dict:
    from wraparound.sources.ingest import run_ingest

    result = run_ingest([source], warehouse, progress=False)
    out = {
        "ok": result.ok,
        "seconds": result.report["seconds"],
        "phase_seconds": result.report.get("phase_seconds"),
        "resources_read": result.report["resources_read"],
        "rows": result.report["rows"],
        "errors": result.report["errors"][:5],
    }
    if reload:
        again = run_ingest([source], warehouse, progress=False)
        out["reload_seconds"] = again.report["seconds"]
        out["reload_unchanged_rows"] = sum(t["unchanged"] for t in again.report["tables"].values())
    return out


def _child(args: list[str], env: dict | None = None, disk: Path | None = None) -> dict:
    """Run this script's ``--child`` mode in a fresh process, sampling its tree's memory, and
    the CPU seconds of its whole tree (its workers are waited for, so they are counted).
    ``disk``: a folder whose largest size is recorded too (the warehouse with its staging and
    DuckDB's spill), the disk a load needs beyond its input."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    run = run_sampled([sys.executable, __file__, "--child", *args], env=env, spill_dir=disk)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not run["ok"]:
        raise SystemExit(f"benchmark step failed:\n{run['stderr_tail']}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**json.loads(run["stdout"].strip().splitlines()[-1]), "wall_seconds": run["seconds"],
            "peak_rss_mib": run["peak_rss_mib"], "peak_disk_mib": run["spill_peak_mib"],
            "cpu_seconds": round(cpu, 2),
            "load_average_1m": [round(load, 2), round(os.getloadavg()[0], 2)]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resources", type=int, default=1_000_000)
    parser.add_argument("--source", type=Path, help="time this folder instead of generating")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--reload", action="store_true", help="load the same files again")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to write")
    parser.add_argument("--work", type=Path, help="folder for the warehouse (default: /tmp)")
    parser.add_argument(
        "--baseline",
        help="also load the files with the code at this PYTHONPATH (e.g. /work/baseline/src), "
        "in the same run, for an old-against-new ratio",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *rest = args.child
        if mode == "orjson":
            print(json.dumps(orjson_parse(Path(rest[0]))))
        else:
            print(json.dumps(ingest_once(Path(rest[0]), Path(rest[1]), rest[2] == "1")))
        return
    work = Path(tempfile.mkdtemp(prefix="wraparound-bench-", dir=args.work))
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
        parse = _child(["orjson", str(source)])
        run = _child(
            ["ingest", str(source), str(work / "wh"), "1" if args.reload else "0"], disk=work / "wh"
        )
        if not run["ok"]:
            raise SystemExit(f"ingest rejected the benchmark input: {run['errors']}")
        shutil.rmtree(work / "wh", ignore_errors=True)
        parses = [parse, _child(["orjson", str(source)])]
        parse = max(parses, key=lambda p: p["resources_per_second"])
        old = None
        if args.baseline:
            old = _child(["ingest", str(source), str(work / "wh-baseline"), "0"],
                         env={"PYTHONPATH": args.baseline})  # fmt: skip
            shutil.rmtree(work / "wh-baseline", ignore_errors=True)
        rate = run["resources_read"] / run["seconds"]
        result = {
            "benchmark": "fhir_ndjson_ingest",
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": mp.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            },
            "command": " ".join(["benchmarks/bench_ingest.py", *sys.argv[1:]]),
            "source": str(args.source) if args.source else "generated",
            "input_mb": round(size / 2**20, 1),
            "generated": generated,
            "resources": run["resources_read"],
            "rows": run["rows"],
            "seconds": round(run["seconds"], 2),
            "phase_seconds": run["phase_seconds"],
            "resources_per_second": round(rate),
            "orjson_parse": {k: parse[k] for k in ("resources", "seconds", "resources_per_second")},
            "orjson_parses": [
                {k: p[k] for k in ("seconds", "resources_per_second", "load_average_1m")}
                for p in parses
            ],
            "ratio_to_orjson": round(rate / parse["resources_per_second"], 3),
            "ratio_to_each_orjson": [round(rate / p["resources_per_second"], 3) for p in parses],
            "target_ratio": 0.30,
            "peak_rss_mib_process_tree": run["peak_rss_mib"],
            "target_peak_mib": 2048,
            # The largest the warehouse folder grew during the load, sampled each second:
            # the staged batch, DuckDB's check database and spill, and the tables written.
            "peak_disk_mib_warehouse_folder": run["peak_disk_mib"],
            # CPU seconds of each step's whole process tree, and the load average when it
            # started and ended: on a shared machine the wall ratio moves with the others'
            # load; the CPU ratio (orjson's CPU over ingest's, per resource) much less, and
            # twice it is what two otherwise idle cores would give if both were kept busy.
            "wall_seconds_with_start": run["wall_seconds"],
            "cpu_seconds": run["cpu_seconds"],
            "orjson_cpu_seconds": parse["cpu_seconds"],
            "cpu_ratio_to_orjson": round(
                (parse["cpu_seconds"] / parse["resources"])
                / (run["cpu_seconds"] / run["resources_read"]),
                3,
            ),
            "load_average_1m": {
                "orjson": parse["load_average_1m"],
                "ingest": run["load_average_1m"],
            },
        }
        if old is not None:
            result["baseline"] = {
                "pythonpath": args.baseline,
                "ok": old["ok"],
                "seconds": round(old["seconds"], 2),
                "phase_seconds": old["phase_seconds"],
                "resources_per_second": round(old["resources_read"] / old["seconds"]),
                "ratio_to_orjson": round(
                    old["resources_read"] / old["seconds"] / parse["resources_per_second"], 3
                ),
                "peak_rss_mib_process_tree": old["peak_rss_mib"],
                "cpu_seconds": old["cpu_seconds"],
                "load_average_1m": old["load_average_1m"],
            }
            result["ratio_new_to_baseline_seconds"] = round(run["seconds"] / old["seconds"], 3)
            result["ratio_new_to_baseline_cpu"] = round(run["cpu_seconds"] / old["cpu_seconds"], 3)
        if args.reload:
            result["reload_seconds"] = run["reload_seconds"]
            result["reload_unchanged_rows"] = run["reload_unchanged_rows"]
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(result, indent=2) + "\n")
        print(
            f"ingested {result['resources']:,} resources ({result['input_mb']} MB of files) in "
            f"{result['seconds']} s = {result['resources_per_second']:,}/s; orjson parses "
            f"{parse['resources_per_second']:,}/s at best: ratio {result['ratio_to_orjson']} "
            f"({' and '.join(map(str, result['ratio_to_each_orjson']))} against each parse) "
            f"(target 0.30); peak RSS of the process tree "
            f"{result['peak_rss_mib_process_tree']} MiB (target < 2048); warehouse folder at "
            f"most {result['peak_disk_mib_warehouse_folder']:,} MiB on disk; CPU per resource "
            f"{result['cpu_ratio_to_orjson']} of orjson's"
            + (
                f"; baseline {result['baseline']['seconds']} s (ratio "
                f"{result['baseline']['ratio_to_orjson']}, peak "
                f"{result['baseline']['peak_rss_mib_process_tree']} MiB): new/baseline "
                f"{result['ratio_new_to_baseline_seconds']} of the time, "
                f"{result['ratio_new_to_baseline_cpu']} of the CPU"
                if old is not None
                else ""
            )
            + f" -> {args.results}"
        )
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
