"""The patient portal in a real browser (issue 15), at a phone and a desktop viewport: a
patient signs in through the local OpenID Connect provider (``python -m wraparound.idp``,
seeded by ``app demo``'s portal accounts), reads their care plan, books an evening hub
appointment, and gives feedback after it; a carer with proxy access for appointments sees
the appointments but not the record. Every page passes axe-core (WCAG 2.2 AA) and is
screenshotted.

The portal is served by a second ``wraparound app serve`` on the browser world's database,
told where the provider is (``WRAPAROUND_PORTAL_OIDC_ISSUER``)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browsing import check_page
from playwright.sync_api import expect

pytestmark = pytest.mark.xdist_group("browser")

WRAPAROUND = str(Path(sys.executable).with_name("wraparound"))
PASSWORD = "wraparound-demo-2026"  # apps.demo.DEMO_PASSWORD
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _up(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{url} exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer:\n{log.read_text()}")


@pytest.fixture(scope="module")
def portal(site, tmp_path_factory):
    root = tmp_path_factory.mktemp("portal")
    var = Path(site.env["WRAPAROUND_VAR"])
    seed = json.loads((var / "idp-seed.json").read_text())
    app_port, idp_port = _free_port(), _free_port()
    url = f"http://127.0.0.1:{app_port}"
    seed["clients"][0]["redirect_uris"] = [f"{url}/portal/callback"]
    (root / "seed.json").write_text(json.dumps(seed))
    env = dict(site.env, WRAPAROUND_PORTAL_OIDC_ISSUER=f"http://127.0.0.1:{idp_port}/o")
    idp_env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
    idp_env["WRAPAROUND_IDP_DB"] = str(root / "idp.sqlite3")
    procs = []
    with (root / "idp.log").open("w") as out:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "wraparound.idp",
                    "--port",
                    str(idp_port),
                    "--seed",
                    str(root / "seed.json"),
                ],
                env=idp_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        )
    with (root / "app.log").open("w") as out:
        procs.append(
            subprocess.Popen(
                [
                    WRAPAROUND,
                    "app",
                    "serve",
                    "--warehouse",
                    str(site.warehouse),
                    "--port",
                    str(app_port),
                    "--workers",
                    "1",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        _up(f"http://127.0.0.1:{idp_port}/healthz", procs[0], root / "idp.log")
        _up(f"{url}/healthz", procs[1], root / "app.log")
        yield {"url": url, "accounts": seed["accounts"], "env": env}
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def _sign_in(page, email: str) -> None:
    page.goto("/portal/")
    page.get_by_role("link", name="Continue with NHS login").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/portal/$"))


def _both(page, name: str) -> None:
    check_page(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)
    check_page(page, f"{name}-desktop")
    page.set_viewport_size(PHONE)


def _python(env, code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_patient_reads_plan_books_evening_and_gives_feedback(browser, portal):
    context = browser.new_context(base_url=portal["url"], viewport=PHONE)
    context.set_default_timeout(15_000)
    page = context.new_page()
    _sign_in(page, "patient.p9@example.org")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    _both(page, "portal-home")
    page.goto("/portal/care-plan")
    expect(page.get_by_role("heading", name="What matters to me")).to_be_visible()
    _both(page, "portal-care-plan")
    # The hubs' rota staff release their weekday evening sessions to patients a week ahead,
    # through the rota editor's own checks: under the demo's 24-hour embargo a Sunday
    # afternoon has no evening or weekend slot released, so the journey would hang on the day.
    _python(
        portal["env"],
        """
import datetime as dt
from wraparound.apps.access.models import SessionTemplate
from wraparound.apps.access.rota_edit import check_session, save_session, values_of
week = {"release_to_practices_hours": "168", "release_to_patients_hours": "168"}
for s in SessionTemplate.objects.filter(start__gte=dt.time(18, 30), weekday__lt=5):
    checked = check_session(s.hub, {**values_of(s), **week}, s)
    assert not checked.errors, checked.errors
    save_session(s.hub, s, checked.clean)
""",
    )
    page.goto("/portal/appointments/book")
    # The seeds promise evening and weekend appointments: ask for those hours alone, so what
    # is offered does not hang on the time of day the test runs.
    page.get_by_label("Weekday evenings and weekends").check()
    page.get_by_role("button", name="Show times").click()
    page.wait_for_url(re.compile(r"when=evenings-weekends"))
    offered = page.locator('label[for^="slot-"]')
    assert offered.count() > 0, "no evening or weekend slot released to patients in the demo"
    for text in offered.all_inner_texts():
        day, clock = re.match(r"^(\w+) \d+ \w+, (\d\d:\d\d) – ", text).groups()
        assert day in ("Saturday", "Sunday") or clock >= "18:30", text
    offered.first.click()
    _both(page, "portal-book")
    page.get_by_role("button", name="Book this appointment").click()
    # The click starts a POST and a redirect: wait for the page it lands on, not look once.
    expect(page.get_by_role("heading", name="Appointment booked")).to_be_visible()
    appointment_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    # The hub sees the patient; the feedback app offers the Friends and Family Test after it.
    _python(
        portal["env"],
        f"""
from wraparound.apps.access.booking import Actor, change_status
from wraparound.apps.access.models import Appointment
from wraparound.apps.records.models import User
from wraparound.apps.feedback.offers import make_offers
appt = Appointment.objects.get(pk={int(appointment_id)})
hub = User.objects.filter(service=appt.hub.organisation).first() or User.objects.get(username="hub")
for status in ("arrived", "seen"):
    appt = change_status(Actor(user=hub), appt, status)
make_offers(send=False)
""",
    )
    page.goto("/portal/feedback")
    page.get_by_role("link", name=re.compile("After a hub appointment")).first.click()
    page.get_by_label("Very good").check()
    page.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_role("heading", level=1).first).to_be_visible()
    context.close()


def test_carer_sees_appointments_not_the_record(browser, portal):
    context = browser.new_context(base_url=portal["url"], viewport=PHONE)
    context.set_default_timeout(15_000)
    page = context.new_page()
    _sign_in(page, "carer@example.org")
    page.get_by_label("Whose health record").select_option(index=1)
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_text("You are acting for")).to_be_visible()
    page.goto("/portal/appointments")
    expect(page.get_by_role("heading", name="Appointments", exact=True)).to_be_visible()
    _both(page, "portal-proxy-appointments")
    response = page.goto("/portal/record")
    assert response.status == 403
    expect(page.get_by_role("heading", name="You cannot see this page")).to_be_visible()
    check_page(page, "portal-proxy-refused")
    context.close()
