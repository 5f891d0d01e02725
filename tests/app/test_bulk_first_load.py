"""A bulk load into an empty table builds its secondary indexes after the rows
(``records/bulk.py``, SQLite): the table must come out with exactly the indexes it had,
sound and used, and a load that fails half way must leave the table empty with every index
in place."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from wraparound.apps.messaging.contacts import FIELDS, sync_from_identity
from wraparound.apps.messaging.models import ContactPreference
from wraparound.apps.records import bulk
from wraparound.apps.records.models import Patient

pytestmark = pytest.mark.django_db

TABLE = ContactPreference._meta.db_table


def _indexes() -> set[tuple[str, str | None]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s",
            [TABLE],
        )
        return set(cursor.fetchall())


@pytest.fixture(autouse=True)
def _sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("the indexes are built after the rows on SQLite only")


def test_a_first_load_ends_with_the_same_sound_indexes(app_warehouse):
    before = _indexes()
    assert any(sql and "postcode" in sql for _, sql in before), "a secondary index to drop"
    ContactPreference.objects.all().delete()
    result = sync_from_identity(app_warehouse)
    assert result["created"] == ContactPreference.objects.count() > 1000
    assert _indexes() == before
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA integrity_check")
        assert cursor.fetchone()[0] == "ok"
        cursor.execute(f"EXPLAIN QUERY PLAN SELECT id FROM {TABLE} WHERE postcode = %s", ["X"])
        assert "INDEX" in " ".join(str(r) for r in cursor.fetchall()).upper()
    some = ContactPreference.objects.exclude(postcode="").first()
    if some is not None:
        assert ContactPreference.objects.filter(postcode=some.postcode).exists()


def test_a_first_load_that_fails_half_way_leaves_the_table_as_it_was(app_warehouse):
    before = _indexes()
    ContactPreference.objects.all().delete()
    patient_ids = list(Patient.objects.values_list("pk", flat=True)[:50])

    def rows():
        for i, pk in enumerate(patient_ids):
            if i == 30:
                raise RuntimeError("the feed broke")
            yield (pk, "", "", "AB1 2CD", "", "", False, False, False, False, "", "identity", None)

    with pytest.raises(RuntimeError), transaction.atomic():
        bulk.upsert(ContactPreference, FIELDS, rows(), key=["patient"])
    assert ContactPreference.objects.count() == 0
    assert _indexes() == before
