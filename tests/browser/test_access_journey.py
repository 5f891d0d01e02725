"""The hub capacity and access-standards dashboards in a real browser, over the demo's year
of hub activity (``app demo`` seeds it, access/seed.py): a care co-ordinator reads their
neighbourhood's capacity against the standards, downloads the table, and reads the access
standards; a commissioner compares a hub. Each page is checked with axe-core (WCAG 2.2 AA)
and screenshotted; each chart exposes its title and sits beside its table and CSV."""

from __future__ import annotations

import csv
import re

import pytest
from browsing import check_page, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.xdist_group("browser")


def test_coordinator_reads_capacity_and_standards(page, tmp_path):
    sign_in(page, "coordinator")
    page.goto("/access/capacity/")
    expect(page.get_by_role("heading", name=re.compile("^Hub capacity: .+"))).to_be_visible()
    chart = page.get_by_role("img", name=re.compile("Minutes offered, booked and used per 1,000"))
    expect(chart).to_be_visible()
    weekly = page.locator("#capacity-table tbody tr")
    assert weekly.count() >= 20
    assert page.locator("#split-hours tbody tr", has_text="Evening").count() == 1
    assert page.locator("#split-lead_time tbody tr").count() >= 5
    check_page(page, "access-capacity")
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile("a CSV file")).first.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:4] == [
        "Week starting",
        "Registered patients",
        "Minutes offered",
        "Offered per 1,000",
    ]
    assert len(rows) - 1 == weekly.count()

    page.get_by_role("link", name="access standards").click()
    page.wait_for_url(re.compile(r"/access/standards/"))
    expect(
        page.get_by_role("img", name=re.compile("Urgent problems seen within 2 hours"))
    ).to_be_visible()
    assert page.locator("#standards-summary tbody tr").count() == 4
    check_page(page, "access-standards")


def test_commissioner_picks_a_hub_and_a_nurse_is_refused(page):
    sign_in(page, "commissioner")
    page.goto("/access/capacity/")
    hub = page.locator("#f-org option", has_text="(hub)").first
    page.select_option("#f-org", value=hub.get_attribute("value"))
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"org="))
    assert page.locator("#capacity-table tbody tr").count() >= 20
    check_page(page, "access-capacity-hub")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "nurse")
    response = page.goto("/access/capacity/")
    assert response.status == 403
    expect(page.get_by_role("heading", name=re.compile("You cannot see"))).to_be_visible()


def _db(site):
    import sqlite3

    return sqlite3.connect(site.env["WRAPAROUND_DB"])


def test_hub_books_an_evening_slot_the_gp_sees_it_and_the_hub_clinician_reads_on_the_day(
    page, site
):
    """Hub staff book an evening slot for a patient of a practice (not the hub's); the GP of
    that practice sees it on the patient page; on the day (the appointment moved to start in
    half an hour, as the clock would bring it) the hub clinician opens the record and is
    refused the care-plan editor."""
    with _db(site) as db:
        pk, nhs = db.execute(
            "select p.id, p.nhs_number from records_patient p join records_user u"
            " on u.username = 'gp' and p.practice_id = u.scope_org_id"
            " where p.death_date is null and not p.opted_out order by p.id limit 1"
        ).fetchone()
    sign_in(page, "hub")
    page.goto("/access/find")
    page.get_by_label("Patient's NHS number").fill(nhs)
    page.get_by_role("button", name="Find slots").click()
    evening = page.locator("tbody tr", has_text=re.compile(r", (18:[3-5]\d|19:\d\d)")).filter(
        has=page.get_by_role("link", name=re.compile("^Book"))
    )
    assert evening.count() >= 1
    evening.first.get_by_role("link", name=re.compile("^Book")).click()
    page.get_by_label("Reason for the appointment").fill("Evening review of a cough")
    page.get_by_role("button", name="Book appointment").click()
    page.wait_for_url(re.compile(r"booked=\d+"))
    appointment = int(re.search(r"booked=(\d+)", page.url).group(1))

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "gp")
    page.goto(f"/patients/{pk}/")
    # The hub appointments (and the timeline) load into the page by htmx after it opens:
    # wait for them rather than look once.
    expect(page.get_by_text("Evening review of a cough").first).to_be_visible()

    with _db(site) as db:
        db.execute(
            "update access_appointment set start = datetime('now', '+30 minutes'),"
            " \"end\" = datetime('now', '+45 minutes') where id = ?",
            (appointment,),
        )
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "hub")
    record = page.goto(f"/patients/{pk}/")
    assert record.status == 200
    editor = page.goto(f"/patients/{pk}/care-plan/edit")
    assert editor.status == 403
