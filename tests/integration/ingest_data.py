"""Small FHIR and CSV inputs for the ingest tests, built from one description of a locality so
that the FHIR and CSV forms of the same data can be compared."""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import orjson

from wraparound.sources.fhir import mapping as m
from wraparound.warehouse.schema import CODE_SYSTEMS, TABLES
from wraparound.warehouse.store import Warehouse

# Every test loads "as of" this instant, so future-date rules do not depend on the clock.
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SNOMED = CODE_SYSTEMS["snomed"]
NHS = ["9434765919", "9434765870", "4010232137"]  # valid Modulus 11 numbers
BAD_NHS = "9434765918"  # check digit off by one


def meta(updated: str | None = None, version: int | None = None) -> dict:
    out = {}
    if updated:
        out["lastUpdated"] = updated
    if version is not None:
        out["versionId"] = str(version)
    return {"meta": out} if out else {}


def organisation(rid, ods, kind, name=None, parent=None, **kw):
    r = {
        "resourceType": "Organization",
        "id": rid,
        **meta(**kw),
        "identifier": [{"system": m.ODS_CODE, "value": ods}],
        "type": [{"coding": [{"system": m.ORG_KIND_SYSTEM, "code": kind}]}],
        "name": name or f"Org {ods}",
    }
    if parent:
        r["partOf"] = {"reference": f"Organization/{parent}"}
    return r


def patient(
    rid,
    nhs,
    birth,
    sex="female",
    death=None,
    opted_out=False,
    lsoa="E01000001",
    ethnicity="A",
    **kw,
):
    r = {
        "resourceType": "Patient",
        "id": rid,
        **meta(**kw),
        "extension": [
            {
                "url": m.ETHNIC_CATEGORY_EXT,
                "valueCodeableConcept": {
                    "coding": [{"system": m.ETHNIC_CATEGORY_SYSTEM, "code": ethnicity}]
                },
            },
            {"url": m.OPT_OUT_EXT, "valueBoolean": opted_out},
        ],
        "gender": sex,
        "birthDate": birth,
        "address": [{"extension": [{"url": m.LSOA_EXT, "valueString": lsoa}]}],
    }
    if nhs:
        r["identifier"] = [{"system": m.NHS_NUMBER, "value": nhs}]
    if death:
        r["deceasedDateTime"] = death
    return r


def practitioner(rid, name):
    return {"resourceType": "Practitioner", "id": rid, "name": [{"text": name}]}


def role(rid, who, org, code="gp"):
    return {
        "resourceType": "PractitionerRole",
        "id": rid,
        "practitioner": {"reference": f"Practitioner/{who}"},
        "organization": {"reference": f"Organization/{org}"},
        "code": [{"coding": [{"system": m.STAFF_ROLE_SYSTEM, "code": code}]}],
    }


def registration(rid, pat, org, start, end=None):
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "EpisodeOfCare",
        "id": rid,
        "status": "active" if end is None else "finished",
        "type": [{"coding": [{"system": m.EPISODE_TYPE_SYSTEM, "code": m.GP_REGISTRATION}]}],
        "patient": {"reference": f"Patient/{pat}"},
        "managingOrganization": {"reference": f"Organization/{org}"},
        "period": period,
    }


def condition(rid, pat, code, onset, abatement=None, system=SNOMED, **kw):
    r = {
        "resourceType": "Condition",
        "id": rid,
        **meta(**kw),
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": f"Patient/{pat}"},
        "onsetDateTime": onset,
    }
    if abatement:
        r["abatementDateTime"] = abatement
    return r


def observation(rid, pat, code, date, value, unit):
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "subject": {"reference": f"Patient/{pat}"},
        "effectiveDateTime": date,
        "valueQuantity": {"value": value, "unit": unit},
    }


def medication(rid, pat, code, start, end=None, kind="request"):
    concept = {"coding": [{"system": CODE_SYSTEMS["dmd"], "code": code}]}
    if kind == "request":
        r = {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": concept,
            "subject": {"reference": f"Patient/{pat}"},
            "authoredOn": start,
        }
        if end:
            r["dispenseRequest"] = {"validityPeriod": {"end": end}}
        return r
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": "active",
        "medicationCodeableConcept": concept,
        "subject": {"reference": f"Patient/{pat}"},
        "effectivePeriod": period,
    }


def procedure(rid, pat, code, date):
    return {
        "resourceType": "Procedure",
        "id": rid,
        "status": "completed",
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "subject": {"reference": f"Patient/{pat}"},
        "performedDateTime": date,
    }


def appointment(
    rid,
    pat,
    start,
    end,
    created,
    status="fulfilled",
    mode="face_to_face",
    org="org-p1",
    role_id="role-1",
    priority=None,
):
    r = {
        "resourceType": "Appointment",
        "id": rid,
        "extension": [
            {"url": m.APPOINTMENT_ORG_EXT, "valueReference": {"reference": f"Organization/{org}"}}
        ],
        "status": status,
        "appointmentType": {"coding": [{"system": m.APPOINTMENT_MODE_SYSTEM, "code": mode}]},
        "start": start,
        "end": end,
        "created": created,
        "participant": [
            {"actor": {"reference": f"Patient/{pat}"}, "status": "accepted"},
            {"actor": {"reference": f"PractitionerRole/{role_id}"}, "status": "accepted"},
        ],
    }
    if priority is not None:
        r["priority"] = priority
    return r


def encounter(
    rid, pat, cls, start, end=None, org="org-t1", priority=None, status="finished", specialty=None
):
    r = {
        "resourceType": "Encounter",
        "id": rid,
        "status": status,
        "class": {"system": m.ACT_CODE, "code": cls},
        "subject": {"reference": f"Patient/{pat}"},
        "period": {"start": start, **({"end": end} if end else {})},
        "serviceProvider": {"reference": f"Organization/{org}"},
    }
    if priority:
        r["priority"] = {"coding": [{"system": m.ACT_PRIORITY, "code": priority}]}
    if specialty:
        r["serviceType"] = {"coding": [{"system": m.SPECIALTY_SYSTEM, "code": specialty}]}
    return r


def locality() -> list[dict]:
    """A small, valid locality: three organisations, three patients, one of each event."""
    return [
        organisation("org-l", "QX1", "locality", name="Locality"),
        organisation("org-p1", "P81001", "practice", name="Riverside Surgery", parent="org-l"),
        organisation("org-t1", "RX101", "trust", name="General Hospital", parent="org-l"),
        practitioner("prac-1", "Dr Asha Patel"),
        role("role-1", "prac-1", "org-p1"),
        patient("pat-1", NHS[0], "1950-04-02", sex="female"),
        patient("pat-2", NHS[1], "1988-11-30", sex="male", opted_out=True, ethnicity="M"),
        patient("pat-3", NHS[2], "1931-06-15", death="2025-03-01", sex="male"),
        registration("reg-1", "pat-1", "org-p1", "2001-01-01"),
        registration("reg-2", "pat-2", "org-p1", "2010-05-05"),
        registration("reg-3", "pat-3", "org-p1", "1990-01-01", "2025-03-01"),
        condition("cond-1", "pat-1", "38341003", "2015-06-01"),
        condition("cond-2", "pat-3", "49436004", "2019-02-01", "2024-01-01"),
        observation("obs-1", "pat-1", "271649006", "2024-03-01", 142.0, "mm[Hg]"),
        medication("med-1", "pat-1", "318420003", "2024-03-01", "2024-09-01"),
        medication("med-2", "pat-2", "322236009", "2023-01-01", "2023-02-01", kind="statement"),
        procedure("proc-1", "pat-3", "73761001", "2022-05-05"),
        appointment(
            "appt-1",
            "pat-1",
            "2024-03-01T09:00:00Z",
            "2024-03-01T09:10:00Z",
            "2024-02-27T15:30:00Z",
            priority=1,  # asked to be seen urgently
        ),
        encounter("enc-1", "pat-3", "EMER", "2025-02-20T22:00:00Z", "2025-02-21T02:00:00Z"),
        encounter(
            "enc-2", "pat-3", "IMP", "2025-02-21T02:00:00Z", "2025-03-01T08:00:00Z", priority="EM"
        ),
        encounter(
            "enc-3",
            "pat-2",
            "AMB",
            "2024-07-01T10:00:00+01:00",
            "2024-07-01T10:30:00+01:00",
            specialty="110",
        ),
    ]


def write_ndjson(folder: Path, resources: list[dict]) -> Path:
    """Bulk-export layout: one ``<Type>.ndjson`` per resource type."""
    folder.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[dict]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    for rtype, items in by_type.items():
        (folder / f"{rtype}.ndjson").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in items))
    return folder


def write_lines(path: Path, lines: list[bytes | dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines)
    )
    return path


def write_bundle(path: Path, resources: list[dict], kind: str = "collection") -> Path:
    entries = []
    for r in resources:
        entry: dict = {
            "fullUrl": f"https://example.nhs.uk/fhir/{r['resourceType']}/{r['id']}",
            "resource": r,
        }
        if kind in ("transaction", "batch"):
            entry["request"] = {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
        if kind == "searchset":
            entry["search"] = {"mode": "match"}
        entries.append(entry)
    bundle = {"resourceType": "Bundle", "type": kind, "entry": entries}
    if kind == "searchset":
        bundle["total"] = len(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(bundle, option=orjson.OPT_INDENT_2))
    return path


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    return path


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a hash of its bytes: "nothing changed" means equal."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def contents(root: Path, drop: tuple[str, ...] = ()) -> dict[str, list[dict]]:
    """Every warehouse table as rows sorted by id (optionally without some columns)."""
    wh = Warehouse(root)
    out = {}
    for name in TABLES:
        table = wh.read(name)
        rows = table.drop([c for c in drop if c in table.column_names]).to_pylist()
        out[name] = sorted(rows, key=lambda r: r["id"])
    return out


class _OutOfMemoryWhen:
    """A DuckDB connection that raises DuckDB's Out of Memory Error on the statements
    ``fails(sql)`` picks, at most ``times`` times (None: always), and otherwise runs them."""

    def __init__(self, con, fails, times):
        self._con, self._fails, self._times = con, fails, times
        self.failed = 0

    def execute(self, sql, *args):
        import duckdb

        if self._fails(sql) and (self._times is None or self.failed < self._times):
            self.failed += 1
            raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")
        return self._con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def out_of_memory_when(monkeypatch, fails, times=None) -> list:
    """Make every load's DuckDB connection (``ingest.open_check``) run out of memory on the
    statements ``fails`` picks: what a whole-locality batch near DuckDB's limit does. Returns
    the connections opened, newest last, each counting its ``failed`` statements."""
    from wraparound.sources import ingest

    opened: list = []
    real_open = ingest.open_check

    def failing_open(stage, on_disk=True):
        opened.append(_OutOfMemoryWhen(real_open(stage, on_disk), fails, times))
        return opened[-1]

    monkeypatch.setattr(ingest, "open_check", failing_open)
    return opened
