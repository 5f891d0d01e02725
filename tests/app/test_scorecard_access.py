"""Who reaches which scorecard page: practice roles their practice, co-ordinators their
neighbourhood, commissioners everything; other roles are refused; anonymous users reach the
public pages and nothing else."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from scorecard_world import indicators_dir  # noqa: F401
from worlds import patients

from wraparound.apps.demo import DEMO_USERS
from wraparound.vocabulary import SCORECARD_ROLES

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

COMMISSIONING = (
    "scorecard_outliers",
    "scorecard_outliers_csv",
    "scorecard_inequalities",
    "scorecard_inequalities_csv",
    "scorecard_outcomes",
)


def _own_practice():
    from wraparound.apps.records.models import User

    return User.objects.get(username="gp").scope_org_id


def _practice_urls(ods):
    return [
        reverse("scorecard_practice", args=[ods]),
        reverse("scorecard_practice_csv", args=[ods]),
        reverse("scorecard_indicator", args=[ods, "gp_dna_rate"]),
        reverse("scorecard_trend_csv", args=[ods, "gp_dna_rate"]),
        reverse("scorecard_funnel_csv", args=[ods, "gp_dna_rate"]),
        reverse("scorecard_specialties_csv", args=[ods, "outpatient_attendances_by_specialty"]),
    ]


@pytest.mark.parametrize("username,role", [(u[0], u[3]) for u in DEMO_USERS])
def test_roles(login, username, role, indicators_dir):  # noqa: F811
    client = login(username)
    ods = _own_practice()
    allowed = role in SCORECARD_ROLES
    assert client.get(reverse("scorecard")).status_code == (200 if allowed else 403)
    for url in _practice_urls(ods):
        assert client.get(url).status_code == (200 if allowed else 403), url
    for name in COMMISSIONING:
        expected = 200 if role == "commissioner" else 403
        assert client.get(reverse(name)).status_code == expected, name
    menu = client.get(reverse("home")).content.decode()
    assert (reverse("scorecard") in menu) == allowed


def test_other_practices_refused_outside_scope(login, indicators_dir):  # noqa: F811
    elsewhere = patients()["stranger"].practice_id
    for username in ("gp", "practice", "coordinator"):
        client = login(username)
        for url in _practice_urls(elsewhere):
            assert client.get(url).status_code == 403, (username, url)
    assert (
        login("commissioner").get(reverse("scorecard_practice", args=[elsewhere])).status_code
        == 200
    )


def test_anonymous_reaches_only_the_public_pages(indicators_dir):  # noqa: F811
    client = Client()
    ods = _own_practice()
    for url in [
        reverse("scorecard"),
        *_practice_urls(ods),
        reverse("scorecard_clinicians_csv", args=[ods]),
        *[reverse(name) for name in COMMISSIONING],
    ]:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    for url in (
        reverse("public_practices"),
        reverse("public_practice", args=[ods]),
        reverse("public_practice_csv", args=[ods]),
    ):
        assert client.get(url).status_code == 200, url
