"""Every patient-record URL leaves exactly one audit row per request, naming the patient,
and a crawl of every URL as every role finds no page that shows an identifiable patient
without exactly one audit row. Both read the URL map itself, so a new URL is covered (or
fails) automatically."""

from __future__ import annotations

import pytest
from django.urls import get_resolver, reverse
from url_map import DEMO_USERNAMES, PatientDataDetector, app_urls, fill, sample_values
from worlds import patients

from wraparound.apps.records import chain
from wraparound.apps.records.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def patient_urls():
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern).startswith("patients/<int:pk>"):
            yield pattern


def test_every_patient_url_goes_through_the_gate():
    patterns = list(patient_urls())
    assert len(patterns) >= 10
    for pattern in patterns:
        assert getattr(pattern.callback, "patient_view", False), pattern.name


@pytest.mark.parametrize("username", ["coordinator", "commissioner"])
def test_walk(client, login, username):
    world = patients()
    patient = world["related"]
    login(username)
    for pattern in patient_urls():
        args = (
            [patient.pk, world["agenda_item"].pk]
            if "item_id" in str(pattern.pattern)
            else [patient.pk]
        )
        target = reverse(pattern.name, args=args)
        for method in ("get", "post"):
            before = AuditEvent.objects.filter(patient=patient).count()
            getattr(client, method)(
                target,
                {"reason": "walking every URL for the audit test"}
                if pattern.name == "break_glass"
                else {},
            )
            after = AuditEvent.objects.filter(patient=patient).count()
            assert after == before + 1, f"{method.upper()} {target} left {after - before} rows"


@pytest.mark.parametrize("username", DEMO_USERNAMES)
def test_crawl_every_url_as_every_role(client, login, username, capsys):
    """GET every URL of the app as this role: a response showing an identifiable patient
    (an NHS number or a name from the patient index) leaves exactly one audit row, and no
    request leaves more than one."""
    world = patients()
    detect = PatientDataDetector()
    values = sample_values(world)
    # A patient in the trail, so that the auditor's search results name one.
    AuditEvent.objects.create(
        username="gp", action="read", what="crawl seed", outcome="allowed", patient=world["related"]
    )
    login(username)
    shown, requests = 0, 0
    for url in app_urls():
        target = fill(url, values)
        before = AuditEvent.objects.count()
        response = client.get(target)
        rows = AuditEvent.objects.count() - before
        requests += 1
        assert response.status_code != 500, target
        body = response.content.decode(errors="replace") if response.status_code == 200 else ""
        if detect(body):
            shown += 1
            assert rows == 1, f"{username} GET {target} showed patient data, left {rows} rows"
        else:
            assert rows <= 1, f"{username} GET {target} left {rows} rows"
    assert chain.verify().ok
    with capsys.disabled():
        print(
            f"\ncrawl {username}: {requests} URLs, {shown} showed patient data, "
            "each with exactly 1 audit row"
        )
