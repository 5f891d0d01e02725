"""The main journeys in a real browser against the production server: a care co-ordinator
from register to MDT outcome, a GP seeing an admission alert after a real CSV ingest and
refresh, and the auditor searching the trail. Every main page is checked with axe-core
(WCAG 2.2 AA) and screenshotted to var/screenshots/."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from browsing import check_page, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.xdist_group("browser")

COORDINATOR = "Jo Okafor (Care co-ordinator)"
CSV_HEADER = (
    "id,nhs_number,kind,start,end,booked_at,status,mode,org_id,practitioner_role_id,specialty"
)


def test_coordinator_from_register_to_mdt_outcome(page):
    page.goto("/login/")
    check_page(page, "login")
    sign_in(page, "coordinator")

    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Register").click()
    page.get_by_label("No care plan").check()  # htmx replaces the table and pushes the URL
    page.wait_for_url(re.compile(r"no_plan=1"))
    check_page(page, "register")
    first = page.locator("#worklist tbody a").first
    name = first.inner_text()
    first.click()

    expect_heading(page, name)
    check_page(page, "patient")
    expect(page.locator("#timeline"), "htmx did not load the timeline").to_be_visible()
    page.get_by_role("link", name="Write a care plan").click()
    page.get_by_label("What matters to me").fill("Staying at home with my cat")
    page.get_by_label("My goals").fill("Walk to the shop twice a week")
    page.get_by_label("Action 1", exact=True).fill("Falls assessment")
    page.get_by_label("Owner of action 1").select_option(label=COORDINATOR)
    due = (dt.date.today() + dt.timedelta(days=14)).isoformat()
    page.get_by_label("Action 1 due (YYYY-MM-DD)").fill(due)
    page.get_by_label("The patient has agreed this plan").check()
    page.get_by_label("How it was agreed (optional)").fill("At home, with her daughter")
    check_page(page, "careplan-edit")
    page.get_by_role("button", name="Save care plan").click()

    page.wait_for_url(re.compile(r"/care-plan/$"))
    expect(page.get_by_text("Staying at home with my cat")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Yes, on .*At home, with her daughter"))).to_be_visible()
    check_page(page, "careplan")

    page.get_by_role("link", name=f"Back to {name}").click()
    page.get_by_role("link", name="Add to an MDT agenda").click()
    check_page(page, "mdt-add")
    page.get_by_role("button", name="Add to agenda").click()
    page.wait_for_url(re.compile(r"/mdt/\d+/$"))
    expect(page.get_by_text(f"{name} is on the agenda")).to_be_visible()
    check_page(page, "mdt-meeting")

    page.get_by_role("link", name=f"Record outcome for {name}").click()
    page.get_by_label("Summary").fill("Two falls since March; lives alone")
    page.get_by_label("Decisions").fill("Refer to the falls service; review in 4 weeks")
    page.get_by_label("Action 1", exact=True).fill("Refer to falls service")
    page.get_by_label("Owner of action 1").select_option(label=COORDINATOR)
    page.get_by_label("Action 1 due (YYYY-MM-DD)").fill(due)
    check_page(page, "mdt-outcome")
    page.get_by_role("button", name="Record outcome").click()

    page.wait_for_url(re.compile(r"/mdt/\d+/$"))
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
    assert "Discussed" in row.inner_text() and "Refer to the falls service" in row.inner_text()
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Tasks").click()
    task = page.get_by_role("row").filter(has_text="Refer to falls service")
    assert name in task.inner_text()
    check_page(page, "tasks")


def test_gp_sees_the_alert_after_an_emergency_admission_is_loaded(page, site, tmp_path):
    sign_in(page, "gp")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Caseload").click()
    first = page.locator("main tbody a").first
    name = first.inner_text()
    first.click()
    nhs_number = (
        page.locator(".nhsuk-summary-list__row", has_text="NHS number")
        .locator("dd")
        .inner_text()
        .replace(" ", "")
    )

    page.get_by_role("link", name="Record a review or assessment").click()
    check_page(page, "review")
    page.get_by_role("button", name="Record review").click()  # nothing chosen: refused
    assert "Choose what was done" in page.get_by_role("alert").inner_text()
    check_page(page, "review-error")
    page.get_by_label("Long-term condition annual review").check()
    page.get_by_role("button", name="Record review").click()
    expect_heading(page, name)
    assert "Long-term condition annual review on" in page.get_by_role("status").inner_text()

    extract = tmp_path / "encounters.csv"
    extract.write_text(
        f"{CSV_HEADER}\nb-adm-1,{nhs_number},emergency_admission,"
        "2026-04-02T14:00:00Z,,,attended,,R9A,,\n"
    )
    site.cli("ingest", str(extract), "--warehouse", str(site.warehouse))
    site.cli("app", "refresh", "--warehouse", str(site.warehouse))

    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Alerts").click()
    alert = page.locator("main li").filter(has=page.get_by_role("link", name=name, exact=True))
    assert "Emergency admission" in alert.first.inner_text()
    assert "2 Apr 2026" in alert.first.inner_text()
    check_page(page, "alerts")
    page.get_by_role("link", name="Home", exact=True).click()
    assert (
        page.locator("main li").filter(has_text="Emergency admission").filter(has_text=name).count()
        >= 1
    )


def test_auditor_searches_the_trail(page):
    sign_in(page, "auditor")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Audit").click()
    page.get_by_label("Username").fill("auditor")
    page.get_by_label("Action").select_option("login")
    page.get_by_role("button", name="Search").click()
    status = page.get_by_role("status").inner_text()
    assert re.match(r"[1-9]\d* events?\.", status), status
    assert page.get_by_role("cell", name="login", exact=True).count() >= 1
    check_page(page, "audit")


def expect_heading(page, name: str) -> None:
    heading = page.get_by_role("heading", level=1)
    heading.wait_for()
    assert name in heading.inner_text()
