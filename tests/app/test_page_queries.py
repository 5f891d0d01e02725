"""What a page view costs the database, held to a budget (issue 17, the morning rush).

The busiest pages (the register worklist, the patient page and the care plan) each make at
most the number of SQL statements in ``BUDGET``: a change that adds a query per row, or
reads the same thing twice, fails here before it shows in ``benchmarks/bench_rush.py``.
The cheaper paths stay correct: every view still writes exactly one chained audit row, the
session is written when it changed or its expiry is more than a minute behind, and never
otherwise.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from wraparound.apps.care.models import CarePlan
from wraparound.apps.records.chain import verify
from wraparound.apps.records.models import AuditEvent, User
from wraparound.apps.registers.models import RegisterEntry
from wraparound.web import sessions

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

# SQL statements per page view, counting the session, the user, the relationship check,
# the page's own queries and the audit row's transaction (BEGIN, time and chain head, INSERT).
# A care co-ordinator's relationship is the register pool (its current entry, found after the
# providers before it are asked): two statements more than a GP's registration. The patient
# page asks which of its care lists hold anything in one statement (``care/presence.py``),
# then only for those: here the care plan. Whether the patient's practice is in the user's
# scope is judged on the practice loaded with the patient (``User.covers_practice``), not
# asked of the database again.
BUDGET = {
    "gp": {"register": 10, "patient": 10, "care_plan": 9},
    "coordinator": {"register": 10, "patient": 12, "care_plan": 11},
}


def _register_patient(username: str) -> int:
    user = User.objects.get(username=username)
    return (
        RegisterEntry.current()
        .filter(practice__in=user.practices())
        .order_by("patient_id")
        .values_list("patient_id", flat=True)
        .first()
    )


def _pages(username: str) -> dict[str, str]:
    pk = _register_patient(username)
    CarePlan.objects.get_or_create(patient_id=pk)
    return {
        "register": reverse("worklist"),
        "patient": reverse("patient", args=[pk]),
        "care_plan": reverse("care_plan", args=[pk]),
    }


def _statements(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize("username", ["gp", "coordinator"])
def test_each_page_within_its_query_budget_and_audited_once(login, username):
    client = login(username)
    pages = _pages(username)
    for url in pages.values():  # the first view may fill the per-run caches
        client.get(url)
    counts = {}
    for page, url in pages.items():
        before = AuditEvent.objects.count()
        statements = _statements(client, url)
        counts[page] = len(statements)
        inserts = [s for s in statements if s.startswith("INSERT INTO records_auditevent")]
        assert len(inserts) == 1, page
        assert AuditEvent.objects.count() == before + 1, page
        row = AuditEvent.objects.order_by("-id").first()
        assert (row.username, row.path, row.outcome) == (username, url, "allowed")
    assert verify().ok
    # PostgreSQL takes the audit chain's advisory lock first (records/chain.py): one more.
    extra = 1 if connection.vendor == "postgresql" else 0
    over = {p: n for p, n in counts.items() if n > BUDGET[username][p] + extra}
    assert not over, f"over budget: {over} (all: {counts})"


def test_session_written_only_when_changed_or_its_expiry_falls_behind(login):
    client = login("gp")
    url = reverse("worklist")
    client.get(url)
    key = client.session.session_key
    stored = Session.objects.get(session_key=key).expire_date

    # Just refreshed: the next view reads the session but writes nothing to it.
    statements = _statements(client, url)
    assert not [s for s in statements if "django_session" in s and s.startswith("UPDATE")]
    assert Session.objects.get(session_key=key).expire_date == stored

    # The stored expiry more than a minute behind: this view moves it on to a full 30 minutes.
    behind = timezone.now() + dt.timedelta(seconds=30 * 60 - sessions.REFRESH_SECONDS - 5)
    Session.objects.filter(session_key=key).update(expire_date=behind)
    client.get(url)
    moved = Session.objects.get(session_key=key).expire_date
    assert moved > behind + dt.timedelta(seconds=sessions.REFRESH_SECONDS)

    # A session that ended in the database is gone, whatever the store remembered.
    Session.objects.filter(session_key=key).update(expire_date=timezone.now())
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_changed_session_is_written_at_once(client, login):
    client = login("gp")
    client.get(reverse("worklist"))
    session = client.session
    session["marker"] = "kept"
    session.save()  # a changed session (as a view setting a value) is always saved
    key = session.session_key
    assert Session.objects.get(session_key=key).get_decoded()["marker"] == "kept"
    client.post(reverse("logout"))
    assert not Session.objects.filter(session_key=key).exists()
