"""Patients' contact details from the warehouse's direct-care identity table (phone, email,
postcode), read through ``warehouse/identity.py``.

Details recorded by staff or by the patient (``source`` other than ``identity``) are kept: the
feed never overwrites what the patient told us. Run by ``app refresh`` after the patient index
(``apps/refresh.py``); the demo and the triage matching use the postcode.
"""

from __future__ import annotations

import polars as pl

from wraparound.apps.messaging.models import ContactPreference
from wraparound.apps.records.models import Patient
from wraparound.warehouse.identity import read_identity

BATCH = 5000


def _chunks(items: list) -> list[list]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def _clean(value) -> str:
    return "" if value is None else str(value).strip()


def sync_from_identity(warehouse, only: set[str] | None = None) -> dict[str, int]:
    """Create or update ``ContactPreference`` rows of ``source="identity"`` from the identity
    table (of the pseudonyms ``only``, on an incremental refresh); returns counts (created,
    updated, kept: recorded by staff or the patient). ``app refresh`` runs it after the
    patient index, so details that came in through ``wraparound ingest`` alone (FHIR
    Patient.telecom, the CSV patients file's phone and email) are what messages resolve."""
    cols = ["patient_id", "phone", "email", "postcode"]
    frame = pl.from_arrow(read_identity(warehouse, columns=[*cols, "updated_at"]))
    if only is not None:
        frame = frame.filter(pl.col("patient_id").is_in(sorted(only)))
    if frame.height:
        frame = frame.sort("updated_at", descending=True, nulls_last=True).unique(
            "patient_id", keep="first"
        )
    rows = {r["patient_id"]: r for r in frame.select(cols).iter_rows(named=True)}
    # In chunks: a first load reads every patient, and one IN list of 300,000 is over
    # SQLite's limit on a statement's variables (32,766), which failed the overnight run.
    ids: dict[str, int] = {}
    for chunk in _chunks(list(rows)):
        ids.update(Patient.objects.filter(pseudonym__in=chunk).values_list("pseudonym", "pk"))
    existing = {
        p.patient_id: p
        for chunk in _chunks(list(ids.values()))
        for p in ContactPreference.objects.filter(patient_id__in=chunk)
    }
    create, update, kept = [], [], 0
    for pseudonym, pk in ids.items():
        r = rows[pseudonym]
        values = {
            "phone": _clean(r["phone"]),
            "email": _clean(r["email"]),
            "postcode": _clean(r["postcode"]).upper(),
        }
        pref = existing.get(pk)
        if pref is None:
            create.append(ContactPreference(patient_id=pk, **values))
        elif pref.source != "identity":
            kept += 1
        elif any(getattr(pref, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(pref, k, v)
            update.append(pref)
    ContactPreference.objects.bulk_create(create, batch_size=BATCH)
    ContactPreference.objects.bulk_update(update, ["phone", "email", "postcode"], batch_size=BATCH)
    return {"created": len(create), "updated": len(update), "kept": kept}
