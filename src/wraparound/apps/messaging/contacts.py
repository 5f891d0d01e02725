"""Patients' contact details from the warehouse's direct-care identity table (phone, email,
postcode), read through ``warehouse/identity.py``.

Details recorded by staff or by the patient (``source`` other than ``identity``) are kept: the
feed never overwrites what the patient told us. Run by ``app refresh`` after the patient index
(``apps/refresh.py``); the demo and the triage matching use the postcode.
"""

from __future__ import annotations

import polars as pl
from django.utils import timezone

from wraparound.apps.messaging.models import ContactPreference
from wraparound.apps.records import bulk, lookup
from wraparound.warehouse.identity import read_identity

BATCH = 5000
# Every column a new row needs (the model's defaults written out, since the bulk insert
# bypasses the ORM); an existing row of the feed's has only the three details (and the time
# they changed) rewritten.
FIELDS = (
    "patient", "phone", "email", "postcode", "address", "preferred_channel", "no_sms",
    "no_email", "large_print", "easy_read", "interpreter_language", "source", "updated_at",
)  # fmt: skip
DETAILS = ("phone", "email", "postcode")


def _chunks(items: list) -> list[list]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def _clean(value) -> str:
    return "" if value is None else str(value).strip()


def sync_from_identity(warehouse, only: set[str] | None = None) -> dict[str, int]:
    """Create or update ``ContactPreference`` rows of ``source="identity"`` from the identity
    table (of the pseudonyms ``only``, on an incremental refresh); returns counts (created,
    updated, kept: recorded by staff or the patient). ``app refresh`` runs it after the
    patient index, so details that came in through ``wraparound ingest`` alone (FHIR
    Patient.telecom, the CSV patients file's phone and email) are what messages resolve.

    Rows are compared and written as tuples in one bulk upsert (``records/bulk.py``), not as
    model instances: at 3M the ORM's ``bulk_create`` made this step 320 s of a first load."""
    cols = ["patient_id", "phone", "email", "postcode"]
    frame = pl.from_arrow(read_identity(warehouse, columns=[*cols, "updated_at"]))
    if only is not None:
        frame = frame.filter(pl.col("patient_id").is_in(sorted(only)))
    if frame.height:
        frame = frame.sort("updated_at", descending=True, nulls_last=True).unique(
            "patient_id", keep="first"
        )
    rows = {
        pid: (_clean(phone), _clean(email), _clean(postcode).upper())
        for pid, phone, email, postcode in frame.select(cols).iter_rows()
    }
    ids = lookup.by_pseudonym(rows)
    existing: dict[int, tuple] = {}
    if only is None:
        found = ContactPreference.objects.values_list("patient_id", "source", *DETAILS)
        existing = {pk: rest for pk, *rest in found.iterator(chunk_size=BATCH)}
    else:
        for chunk in _chunks(list(ids.values())):
            found = ContactPreference.objects.filter(patient_id__in=chunk)
            existing.update(
                (pk, rest) for pk, *rest in found.values_list("patient_id", "source", *DETAILS)
            )
    now = timezone.now()
    write, created, updated, kept = [], 0, 0, 0
    for pseudonym, pk in ids.items():
        details = rows[pseudonym]
        held = existing.get(pk)
        if held is None:
            created += 1
        elif held[0] != "identity":
            kept += 1
            continue
        elif tuple(held[1:]) == details:
            continue
        else:
            updated += 1
        write.append((pk, *details, "", "", False, False, False, False, "", "identity", now))
    bulk.upsert(ContactPreference, FIELDS, write, key=["patient"], update=[*DETAILS, "updated_at"])
    return {"created": created, "updated": updated, "kept": kept}
