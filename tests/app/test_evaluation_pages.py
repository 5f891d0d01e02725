"""The evaluation app's pages (issue 16): commissioners read an intervention's report (logic
model, effects, placebo, balance) and the demand projection, with each table as CSV; every
other role is refused; unknown interventions and measures are 404s, not errors.

The report and projection are published into this process's warehouse from small hand-made
panels and counts through the same publishing code the commands use (no generator run)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse
from evaluation_panels import publish

from wraparound.apps.demo import DEMO_USERS

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

IV = "high_needs_wraparound"


@pytest.fixture
def published():
    return publish(settings.WAREHOUSE_DIR, IV)


def test_commissioner_reads_the_report_and_downloads_its_tables(login, published):
    client = login("commissioner")
    page = client.get(reverse("evaluation_report", args=[IV]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Logic model" in body and "Care co-ordinators" in body
    assert "Balance of the comparison group" in body
    did = published["did"]
    assert f"{100 * did['relative']:+.1f}%" in body
    effects = client.get(reverse("evaluation_effects_csv", args=[IV]))
    assert effects.status_code == 200 and effects["Content-Type"].startswith("text/csv")
    assert "Emergency admissions" in effects.content.decode()
    series_csv = client.get(reverse("evaluation_series_csv", args=[IV, "emergency_admissions"]))
    assert series_csv.status_code == 200
    assert client.get(reverse("evaluation_series_csv", args=[IV, "nonsense"])).status_code == 404
    assert client.get(reverse("evaluation_report", args=["no_such"])).status_code == 404
    assert client.get(reverse("evaluation")).status_code == 200


def test_commissioner_reads_the_demand_projection(login, published):
    client = login("commissioner")
    page = client.get(reverse("evaluation_demand"))
    assert page.status_code == 200
    assert "Emergency admissions" in page.content.decode()
    csv = client.get(reverse("evaluation_demand_csv", args=["emergency_admissions"]))
    assert csv.status_code == 200 and "With the target" in csv.content.decode()
    assert client.get(reverse("evaluation_demand_csv", args=["nonsense"])).status_code == 404


@pytest.mark.parametrize("username", [u[0] for u in DEMO_USERS if u[3] != "commissioner"])
def test_everyone_else_is_refused(login, published, username):
    client = login(username)
    for url in (
        reverse("evaluation"),
        reverse("evaluation_report", args=[IV]),
        reverse("evaluation_effects_csv", args=[IV]),
        reverse("evaluation_demand"),
        reverse("evaluation_demand_csv", args=["emergency_admissions"]),
    ):
        assert client.get(url).status_code == 403, (username, url)
