"""Advice and guidance in a real browser (issue 14), over the demo (``app demo`` imports the
directory and seeds a year of referrals): the GP finds the dermatology service for a patient
of the practice, reads the pathway and sends a question for advice; the dermatologist
(``dermatology``, the receiving service) finds it on the queue, reads it and answers; the
GP accepts the advice, no referral. Each page passes axe-core (WCAG 2.2 AA)."""

from __future__ import annotations

import re

import pytest
from browsing import check_page, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.xdist_group("browser")


def test_gp_asks_dermatology_for_advice_and_accepts_it(page, site):
    import sqlite3

    with sqlite3.connect(site.env["WRAPAROUND_DB"]) as db:
        (pk,) = db.execute(
            "select p.id from records_patient p join records_user u"
            " on u.username = 'gp' and p.practice_id = u.scope_org_id"
            " where p.death_date is null and not p.opted_out order by p.id desc limit 1"
        ).fetchone()
    sign_in(page, "gp")
    page.goto(f"/patients/{pk}/referrals?q=skin")
    page.get_by_role("link", name="Dermatology advice and referral").click()
    page.wait_for_url(re.compile(r"service=\d+"))
    expect(page.get_by_role("heading", name="Dermatology: best-practice pathway")).to_be_visible()
    expect(page.get_by_text("Red flags: refer straight away, not for advice")).to_be_visible()
    expect(page.get_by_text("Suspected melanoma").first).to_be_visible()
    check_page(page, "referrals-form")
    page.get_by_label("What is the question or the problem?").fill(
        "Scaly plaque on the left shin for 3 months, not itchy; photograph attached. Psoriasis?"
    )
    page.get_by_role("button", name="Start the request").click()
    page.wait_for_url(re.compile(r"/referrals/\d+/$"))
    thread = page.url
    page.get_by_role("button", name="Send for advice and guidance").click()
    expect(page.locator("#referral-state")).to_have_text("Advice requested")
    check_page(page, "referrals-thread-gp")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "dermatology")
    page.goto("/referrals/queue")
    assert page.locator(f'a[href="{thread.split(site.url)[-1]}"]').count() == 1
    check_page(page, "referrals-queue")
    page.goto(thread)
    page.get_by_label("Message").first.fill(
        "Looks like plaque psoriasis. Potent topical steroid with vitamin D for 4 weeks."
    )
    page.get_by_role("button", name="Send advice").click()
    expect(page.locator("#referral-state")).to_have_text("Advice given")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "gp")
    page.goto("/referrals/?overdue=yes")  # waiting on the referrer
    assert page.locator(f'a[href="{thread.split(site.url)[-1]}"]').count() == 1
    check_page(page, "referrals-worklist")
    page.goto(thread)
    expect(page.get_by_text("Looks like plaque psoriasis")).to_be_visible()
    page.get_by_role("button", name="Accept the advice (no referral)").click()
    expect(page.locator("#referral-state")).to_have_text("Advice accepted, no referral")
    check_page(page, "referrals-thread-accepted")
