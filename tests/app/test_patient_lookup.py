"""``records.lookup.by_pseudonym``: the one way refresh steps find the app's patients by
pseudonym. Both of its paths (IN lists in chunks, and one pass over the whole index) give the
same answer, and neither puts more variables in a statement than the database allows: the
limit is lowered here on the test's SQLite connection below the locality's patients, as a
region's first load is above SQLite's own limit."""

from __future__ import annotations

import pytest

from wraparound.apps.records import lookup
from wraparound.apps.records.models import Patient

pytestmark = pytest.mark.django_db


def _expected(pseudonyms, *fields):
    out = {}
    for row in Patient.objects.values_list("pseudonym", *fields).iterator():
        if row[0] in pseudonyms:
            out[row[0]] = row[1] if len(fields) == 1 else row[1:]
    return out


def test_both_paths_find_the_same_patients_under_a_low_variable_limit(
    app_warehouse, monkeypatch, sqlite_variable_limit
):
    everyone = list(Patient.objects.values_list("pseudonym", flat=True))
    limit = 999
    assert len(everyone) > limit, "the locality needs more patients than the lowered limit"
    asked = [*everyone[::2], "not-a-patient", everyone[0]]  # a stranger, and a repeat
    want_pk = _expected(set(asked), "pk")
    want_two = _expected(set(asked), "pk", "practice_id")
    monkeypatch.setattr(lookup, "CHUNK", 500)
    with sqlite_variable_limit(limit):
        with pytest.raises(Exception, match="too many SQL variables"):
            list(Patient.objects.filter(pseudonym__in=asked).values_list("pk"))
        chunked = lookup.by_pseudonym(asked)
        chunked_two = lookup.by_pseudonym(iter(asked), "pk", "practice_id")
        monkeypatch.setattr(lookup, "FULL_SCAN", 10)
        scanned = lookup.by_pseudonym(asked)
        scanned_two = lookup.by_pseudonym(asked, "pk", "practice_id")
    assert len(want_pk) == len(set(asked)) - 1  # everyone asked but the stranger
    assert chunked == scanned == want_pk
    assert chunked_two == scanned_two == want_two
    assert "not-a-patient" not in chunked
    assert lookup.by_pseudonym([]) == {}
