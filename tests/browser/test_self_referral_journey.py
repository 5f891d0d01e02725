"""Browser journey (issue 14): a person refers themselves to physiotherapy without an account,
answers yes to a cauda equina red flag, and is told to call 999 now; the request lands on
their practice's triage queue as an emergency, at the top, for the practice's staff. The
public form, the confirmation and the queue pass axe-core (WCAG 2.2 AA)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from browsing import check_page, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.xdist_group("browser")


def test_self_referral_with_a_red_flag_lands_at_the_practice(page):
    # Who: a patient of the demo practice, read from their record by the GP.
    sign_in(page, "gp")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Caseload").click()
    page.locator("main tbody a").first.click()
    heading = page.get_by_role("heading", level=1).inner_text().replace("Patient record", "")
    given, family = heading.strip().split(" ", 1)
    rows = page.locator(".nhsuk-summary-list__row")
    number = rows.filter(has_text="NHS number").locator("dd").inner_text().replace(" ", "")
    born_text = rows.filter(has_text="Date of birth").locator("dd").inner_text()
    born = dt.datetime.strptime(born_text.split(" (")[0], "%d %B %Y").date()
    page.get_by_role("button", name="Sign out").click()

    # The public form, signed out.
    page.goto("/self-referral/")
    page.get_by_role("link", name="Refer yourself to physiotherapy").click()
    check_page(page, "self-referral-form")
    page.get_by_label("NHS number (optional)").fill(number)
    page.get_by_label("First name").fill(given)
    page.get_by_label("Last name").fill(family.title())
    page.get_by_label("Day", exact=True).fill(str(born.day))
    page.get_by_label("Month", exact=True).fill(str(born.month))
    page.get_by_label("Year", exact=True).fill(str(born.year))
    page.get_by_label("Postcode", exact=True).fill("M1 1AA")
    page.get_by_label("Phone number").fill("07700900123")
    page.get_by_role("group", name="Where is the problem?").get_by_label("Back", exact=True).check()
    page.get_by_role("group", name="How long have you had it?").get_by_label(
        "Less than 6 weeks"
    ).check()
    page.get_by_label("Tell us about the problem").fill("Low back pain since lifting")
    page.get_by_role("group", name=re.compile("difficulty passing urine")).get_by_label(
        "Yes", exact=True
    ).check()
    page.get_by_role("group", name=re.compile("numbness around your bottom")).get_by_label(
        "No", exact=True
    ).check()
    page.get_by_role("group", name=re.compile("high temperature")).get_by_label(
        "No", exact=True
    ).check()
    page.get_by_role("button", name="Send my request").click()

    # The answer page loads after the click returns: wait for it (is_visible does not wait).
    emergency = page.get_by_role("heading", name=re.compile("Call 999 or go to A&E now"))
    expect(emergency).to_be_visible()
    reference = page.locator(".app-reference").inner_text()
    assert re.fullmatch(r"WR-[A-Z0-9]{8}", reference)
    check_page(page, "self-referral-red-flag")

    # The practice's triage queue: the emergency first.
    sign_in(page, "practice")
    page.goto("/triage/")
    first = page.locator("main tbody tr").first
    assert reference in first.inner_text() and "Emergency" in first.inner_text()
    assert "Possible cauda equina syndrome" in first.inner_text()
    check_page(page, "triage-queue")
    first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=f"Request {reference}")).to_be_visible()
    expect(page.get_by_text("Low back pain since lifting")).to_be_visible()
    check_page(page, "triage-request")
