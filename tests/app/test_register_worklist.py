"""The register worklist's rows and filters, read back from the page and checked against the
database: the rows are built from the entries' values (not models) and counted on the entries
alone, and the "recent A&E or admission" filter compares times as stored, so each of those
must still say exactly what the records say.

The app world's register is real (a stratification run loaded by refresh); the tests change a
few of its patients inside their own transaction."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from wraparound.apps.care.models import CaseRecord
from wraparound.apps.records.models import Patient, User
from wraparound.apps.registers.models import RegisterEntry, RegisterRun
from wraparound.apps.registers.views import RECENT_DAYS

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

COUNT = re.compile(r"(\d+) patients?(?:, page \d+ of (\d+))?\.")
ROW = re.compile(r'<tr class="nhsuk-table__row">(.*?)</tr>', re.S)
CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)


def _gp_entries():
    run = RegisterRun.objects.get(current=True)
    practices = User.objects.get(username="gp").practices()
    return run, RegisterEntry.objects.filter(run=run, practice__in=practices)


def _rows(html: str) -> list[list[str]]:
    return [CELL.findall(row) for row in ROW.findall(html)]


def _count(html: str) -> int:
    return int(COUNT.search(html).group(1))


def test_rows_say_what_the_records_say(login):
    _, entries = _gp_entries()
    top = list(entries.order_by("-score", "id").select_related("patient", "practice")[:3])
    assert len(top) == 3, "the world's GP needs patients on the register"
    tricky, agreed, plain = (e.patient for e in top)
    Patient.objects.filter(pk=tricky.pk).update(given_name='<b>Al "x"</b>', family_name="O'Neil")
    CaseRecord.objects.update_or_create(patient=agreed, defaults={"status": "care_plan_agreed"})
    CaseRecord.objects.filter(patient=plain).delete()

    html = login("gp").get("/register/").content.decode()
    rows = _rows(html)
    assert _count(html) == entries.count()
    assert len(rows) == min(50, entries.count())

    first = rows[0]
    assert f'href="/patients/{tricky.pk}/"' in first[0]
    assert "&lt;b&gt;Al &quot;x&quot;&lt;/b&gt; O&#x27;NEIL" in first[0]
    assert "<b>Al" not in html
    n = top[0].patient.nhs_number
    assert first[1] == f"{n[:3]} {n[3:6]} {n[6:]}"
    assert first[2] == top[0].practice.name
    assert first[3] == f"{round(top[0].score * 100)}%"
    assert (first[4], first[5]) == (top[0].risk_band, top[0].stream)
    assert rows[1][-1] == "Care plan agreed"
    assert rows[2][-1] == "Identified"


def test_commissioner_rows_name_no_one(login):
    run, _ = _gp_entries()
    html = login("commissioner").get("/register/").content.decode()
    rows = _rows(html)
    assert rows, "the commissioner's register should list pseudonyms"
    entry = (
        RegisterEntry.objects.filter(run=run, patient__opted_out=False)
        .filter(practice__in=User.objects.get(username="commissioner").practices())
        .order_by("-score", "id")
        .select_related("patient")
        .first()
    )
    assert rows[0][0].startswith(f"<code>{entry.patient.pseudonym}</code>")
    assert entry.patient.nhs_number not in html and entry.patient.family_name.upper() not in html
    assert len(rows[0]) == 6  # pseudonym, practice, score, band, stream, eFI: no status


def test_recent_filter_counts_from_the_start_of_the_day(login):
    """``recent`` keeps patients with an A&E attendance or admission on or after the day
    ``RECENT_DAYS`` before the run's index date, local time, to the minute."""
    run, entries = _gp_entries()
    ids = list(entries.order_by("patient_id").values_list("patient_id", flat=True)[:4])
    Patient.objects.filter(register_entries__run=run).update(last_ae=None, last_admission=None)
    start = timezone.make_aware(
        dt.datetime.combine(run.index_date - dt.timedelta(days=RECENT_DAYS), dt.time.min)
    )
    minute = dt.timedelta(minutes=1)
    Patient.objects.filter(pk=ids[0]).update(last_ae=start)  # on the day: in
    Patient.objects.filter(pk=ids[1]).update(last_admission=start - minute)  # the day before
    Patient.objects.filter(pk=ids[2]).update(last_ae=start - minute, last_admission=start)
    Patient.objects.filter(pk=ids[3]).update(last_ae=start - 40 * minute)

    html = login("gp").get("/register/?recent=1").content.decode()
    shown = {int(m) for m in re.findall(r'href="/patients/(\d+)/"', html)}
    assert shown == {ids[0], ids[2]}
    assert _count(html) == 2
