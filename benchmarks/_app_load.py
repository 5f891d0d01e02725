"""Closed-loop load against the running app: N simulated users, each signed in through the
real login form on its own keep-alive connection, requesting the register and patient pages
back to back (no think time) until the time or request budget runs out.

Standard library only (``http.client`` and ``http.cookies``), so the load generator adds no
dependency; its threads share the machine with the server, which the results say.
"""

from __future__ import annotations

import http.client
import random
import re
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
REQUEST_TIMEOUT = 60


@dataclass
class Plan:
    """What one simulated user does: who signs in, which register URLs and which patients
    (all with a legitimate relationship) it cycles through."""

    username: str
    password: str
    register_urls: list[str]
    patient_ids: list[int]


@dataclass
class Outcome:
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"register": [], "patient": []}
    )
    errors: list[str] = field(default_factory=list)
    login_failures: int = 0


class Browser:
    """One user's keep-alive connection and cookies."""

    def __init__(self, host: str, port: int):
        self.conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # the server closed an idle keep-alive connection: reconnect
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        text = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, text

    def sign_in(self, username: str, password: str) -> bool:
        _, page = self.request("GET", "/login/")
        token = CSRF_FIELD.search(page)
        if token is None:
            return False
        status, _ = self.request(
            "POST",
            "/login/",
            urlencode(
                {"csrfmiddlewaretoken": token.group(1), "username": username, "password": password}
            ),
        )
        return status == 302


def _user(
    host: str,
    port: int,
    plan: Plan,
    seed: int,
    max_requests: int,
    start: threading.Barrier,
    clock: dict[str, float],
    out: Outcome,
    lock: threading.Lock,
) -> None:
    rng = random.Random(seed)
    browser = Browser(host, port)
    signed_in = browser.sign_in(plan.username, plan.password)
    start.wait()  # everyone starts together; the barrier's action sets the deadline
    if not signed_in:
        with lock:
            out.login_failures += 1
        return
    local: dict[str, list[float]] = {"register": [], "patient": []}
    errors: list[str] = []
    for i in range(max_requests):
        if time.perf_counter() >= clock["deadline"]:
            break
        kind = "register" if i % 2 == 0 else "patient"
        path = (
            rng.choice(plan.register_urls)
            if kind == "register"
            else f"/patients/{rng.choice(plan.patient_ids)}/"
        )
        began = time.perf_counter()
        try:
            status, _ = browser.request("GET", path)
        except (http.client.HTTPException, OSError) as exc:
            errors.append(f"{path}: {exc!r}")
            continue
        local[kind].append(time.perf_counter() - began)
        if status != 200:
            errors.append(f"{path}: HTTP {status}")
    browser.conn.close()
    with lock:
        for kind, values in local.items():
            out.latencies[kind].extend(values)
        out.errors.extend(errors)


def run_load(
    host: str, port: int, plans: list[Plan], seconds: float, max_requests_per_user: int
) -> tuple[Outcome, float]:
    """Sign every user in, then release them together for ``seconds`` (slow sign-ins do not
    eat into the window); returns what they saw and the wall seconds from release until the
    last user finished its last request."""
    out = Outcome()
    lock = threading.Lock()
    clock: dict[str, float] = {}

    def release() -> None:
        clock["t0"] = time.perf_counter()
        clock["deadline"] = clock["t0"] + seconds

    start = threading.Barrier(len(plans) + 1, action=release)
    threads = [
        threading.Thread(
            target=_user,
            daemon=True,
            args=(host, port, plan, i, max_requests_per_user, start, clock, out, lock),
        )
        for i, plan in enumerate(plans)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join(timeout=seconds + 2 * REQUEST_TIMEOUT)
    return out, time.perf_counter() - clock["t0"]
