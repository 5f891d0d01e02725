"""The national data opt-out where data leave direct care: the commissioner's (pseudonymised)
register leaves opted-out patients out, while the GP's direct-care register still lists them
(the opt-out does not cover a patient's own care).

The app world's register is real (a stratification run loaded by refresh); the test marks a
tenth of the patients on it as opted out inside its own transaction, so the world has
opted-out patients on the register whatever the synthetic draw gave."""

from __future__ import annotations

import re

import pytest

from wraparound.apps.records.models import Patient
from wraparound.apps.registers.models import RegisterEntry, RegisterRun

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

PSEUDONYM = re.compile(r"<code>([^<]+)</code>")
COUNT = re.compile(r"(\d+) patients?(?:, page \d+ of (\d+))?\.")


@pytest.fixture
def opted_out() -> set[str]:
    """Pseudonyms of register patients marked opted out for this test (one in ten)."""
    run = RegisterRun.objects.get(current=True)
    on_register = list(
        RegisterEntry.objects.filter(run=run)
        .order_by("patient_id")
        .values_list("patient_id", flat=True)
    )
    chosen = on_register[::10]
    Patient.objects.filter(pk__in=chosen).update(opted_out=True)
    pseudonyms = set(Patient.objects.filter(opted_out=True).values_list("pseudonym", flat=True))
    assert len(chosen) >= 5, "the world needs several opted-out patients on the register"
    return pseudonyms


def _crawl(client) -> tuple[int, list[str]]:
    """Every page of the worklist: the count it states and the rows' first cells."""
    first = client.get("/register/").content.decode()
    total, pages = COUNT.search(first).groups()
    html = [first]
    for page in range(2, int(pages or 1) + 1):
        html.append(client.get(f"/register/?page={page}").content.decode())
    return int(total), html


def test_commissioner_register_leaves_opted_out_patients_out(login, opted_out):
    run = RegisterRun.objects.get(current=True)
    total, pages = _crawl(login("commissioner"))
    shown = [p for html in pages for p in PSEUDONYM.findall(html)]
    assert shown, "the commissioner's register should list pseudonyms"
    assert not set(shown) & opted_out, "an opted-out patient reached the commissioner"
    everyone = RegisterEntry.objects.filter(run=run).count()
    kept = RegisterEntry.objects.filter(run=run, patient__opted_out=False).count()
    assert total == len(shown) == kept < everyone
    print(f"\ncommissioner register: {kept} of {everyone} shown, {everyone - kept} opted out")


def test_commissioner_filters_and_sorts_never_bring_them_back(login, opted_out):
    client = login("commissioner")
    for query in ("?sort=efi", "?sort=practice", "?new=1", "?risk_band=high", "?sort=name"):
        html = client.get(f"/register/{query}").content.decode()
        assert not set(PSEUDONYM.findall(html)) & opted_out, query


def test_gp_direct_care_register_still_lists_them(login, opted_out):
    client = login("gp")
    total, pages = _crawl(client)
    gp_practice = client.get("/register/").wsgi_request.user.scope_org_id
    run = RegisterRun.objects.get(current=True)
    in_scope = RegisterEntry.objects.filter(run=run, practice_id=gp_practice)
    opted_in_scope = in_scope.filter(patient__opted_out=True)
    assert opted_in_scope.exists()
    assert total == in_scope.count(), "the GP's register must keep opted-out patients"
    html = "".join(pages)
    for entry in opted_in_scope.select_related("patient")[:20]:
        assert f"/patients/{entry.patient_id}/" in html
