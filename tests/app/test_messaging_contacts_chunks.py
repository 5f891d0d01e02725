"""Contact details sync in chunks under the database's limit on a statement's variables.

A first ``app refresh`` of 300,000 patients failed with SQLite's "too many SQL variables":
``sync_from_identity`` read every patient with one IN list (SQLite allows 32,766 variables
a statement). Here the limit is lowered on the test's SQLite connection to 999 (what
Django assumes for SQLite, so its own bulk writes keep under it), below the test locality's
3,000 patients, with the chunk size under it: one IN list of everyone fails, chunks pass.
The patients are found through ``records.lookup`` (IN lists in chunks, or one pass over the
whole index for many); an incremental sync of patients named by the batch looks up their
stored details in chunks too, and both kinds of sync are run here.
"""

from __future__ import annotations

import pytest

from wraparound.apps.messaging import contacts
from wraparound.apps.messaging.models import ContactPreference
from wraparound.apps.records import lookup
from wraparound.apps.records.models import Patient

pytestmark = pytest.mark.django_db


def test_sync_reads_patients_in_chunks_under_the_variable_limit(
    app_warehouse, monkeypatch, sqlite_variable_limit
):
    patients = Patient.objects.count()
    limit = 999
    assert patients > limit, "the locality needs more patients than the lowered limit"
    ContactPreference.objects.filter(source="identity").delete()
    monkeypatch.setattr(contacts, "BATCH", 500)
    monkeypatch.setattr(lookup, "CHUNK", 500)
    with sqlite_variable_limit(limit):
        with pytest.raises(Exception, match="too many SQL variables"):
            list(Patient.objects.filter(pk__in=range(1, patients + 1)).values_list("pk"))
        result = contacts.sync_from_identity(app_warehouse)
        # An incremental refresh names the patients it touched: their stored details are read
        # in IN lists, chunked under the limit (a first load, above, reads them all at once).
        ContactPreference.objects.filter(source="identity").delete()
        everyone = set(Patient.objects.values_list("pseudonym", flat=True))
        touched = contacts.sync_from_identity(app_warehouse, only=everyone)
    assert result["created"] > limit
    assert touched["created"] == result["created"]
    assert ContactPreference.objects.filter(source="identity").count() == result["created"]
