"""A patient's contacts across providers, newest first.

Patients on the register or a caseload have their encounters copied into the app on every
refresh (``contacts.py``), so their timeline is one indexed query. Anyone else's timeline
(a GP opening a patient who is on no register) is read from the warehouse through the engine
interface with a filter on the patient's pseudonym; ``benchmarks/bench_app.py`` measures
both paths.
"""

from __future__ import annotations

from django.conf import settings

from wraparound.apps.care.contacts import contact_rows, to_contact
from wraparound.apps.care.models import Contact
from wraparound.apps.records.models import Organisation
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse


def timeline(patient) -> list[Contact]:
    stored = list(Contact.objects.filter(patient=patient).order_by("-start"))
    if stored:
        return stored
    warehouse = Warehouse(settings.WAREHOUSE_DIR)
    if not warehouse.exists():
        return []
    names = dict(Organisation.objects.values_list("org_id", "name"))
    with connect(warehouse) as engine:
        rows = contact_rows(engine, [patient.pseudonym])
    return sorted(
        (to_contact(r, patient.pk, names) for r in rows), key=lambda c: c.start, reverse=True
    )
