"""Copy encounters into the app for the patients whose timelines people open most: those on
the current register or someone's caseload. Everyone else's timeline is read per request
from the warehouse with a filtered query (``timeline.py``)."""

from __future__ import annotations

import pyarrow as pa
from django.db import transaction

from wraparound import clinical
from wraparound.apps.care.models import CareTeamMember, Contact
from wraparound.apps.records import bulk
from wraparound.apps.records.models import Organisation, Patient
from wraparound.apps.registers.models import RegisterEntry

CONTACT_COLUMNS = (
    "id",
    "patient_id",
    "kind",
    "start",
    "end",
    "status",
    "org_id",
    "specialty",
    "mode",
    "batch",
)


def followed_patients() -> dict[str, int]:
    """Pseudonym → pk of patients on the current register or an active caseload."""
    ids = set(RegisterEntry.current().values_list("patient_id", flat=True))
    ids |= set(CareTeamMember.objects.filter(active=True).values_list("patient_id", flat=True))
    return dict(Patient.objects.filter(pk__in=ids).values_list("pseudonym", "pk"))


def contact_rows(engine, pseudonyms) -> list[dict]:
    enc = engine.table("encounters")
    wanted = engine.memtable(pa.table({"pid": pa.array(sorted(pseudonyms), pa.string())}))
    expr = enc.join(wanted, enc.patient_id == wanted.pid).select(*CONTACT_COLUMNS)
    return engine.to_arrow(expr).to_pylist()


def _detail(row: dict) -> str:
    specialty = row["specialty"]
    if specialty:
        return clinical.treatment_functions().get(specialty, specialty)
    return (row["mode"] or "").replace("_", " ")


def to_contact(row: dict, pk: int, names: dict[str, str]) -> Contact:
    """A timeline row: an outpatient specialty by its name (``data/treatment_functions.csv``;
    a code the file lacks is shown as it is), otherwise the mode of the contact."""
    detail = _detail(row)
    return Contact(
        patient_id=pk,
        encounter_id=row["id"],
        kind=row["kind"],
        start=row["start"],
        end=row["end"],
        status=row["status"],
        org_name=names.get(row["org_id"], row["org_id"] or ""),
        detail=detail,
    )


CONTACT_FIELDS = ("patient", "encounter_id", "kind", "start", "end", "status", "org_name", "detail")


def contact_values(row: dict, pk: int, names: dict[str, str]) -> tuple:
    """``to_contact``'s row as a tuple in ``CONTACT_FIELDS`` order, for ``bulk.upsert``."""
    org = names.get(row["org_id"], row["org_id"] or "")
    return (pk, row["id"], row["kind"], row["start"], row["end"], row["status"], org, _detail(row))


def load_contacts(engine, only: frozenset[str] | None = None) -> int:
    """Upsert the encounters of every followed patient; with ``only`` (the patients a batch
    touched), of those followed patients, and of followed patients with no contacts yet
    (newly on the register or a caseload since the last refresh). One bulk write
    (``bulk.upsert``): a contact whose row is unchanged is not written."""
    followed = followed_patients()
    if only is not None and followed:
        loaded = set(Contact.objects.values_list("patient_id", flat=True).distinct())
        followed = {p: pk for p, pk in followed.items() if p in only or pk not in loaded}
    if not followed:
        return 0
    names = dict(Organisation.objects.values_list("org_id", "name"))
    rows = contact_rows(engine, followed)
    with transaction.atomic():
        bulk.upsert(
            Contact,
            CONTACT_FIELDS,
            (contact_values(r, followed[r["patient_id"]], names) for r in rows),
            key=["encounter_id"],
            update=["kind", "start", "end", "status", "org_name", "detail"],
        )
    return len(rows)
