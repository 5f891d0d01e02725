"""The locust users of the morning-rush benchmark (``bench_rush.py`` runs locust on this file,
headless, on 127.0.0.1 only).

Each simulated user takes one signed-in session from the plan (``RUSH_PLAN``: a JSON file the
benchmark writes, with a session cookie per user and the URLs of that user's pages) and then
asks for the register, patient, care plan and scorecard pages in turn, back to back (no think
time). Anything but HTTP 200 is a failure, and so is a page that came back as the sign-in
form (a lost session).
"""

from __future__ import annotations

import itertools
import json
import os
import random

from locust import FastHttpUser, constant, task

PLAN = json.loads(open(os.environ["RUSH_PLAN"]).read())  # noqa: SIM115 (read once, at import)
PAGES = ("register", "patient", "care_plan", "scorecard")
_ids = itertools.count()


class RushUser(FastHttpUser):
    wait_time = constant(0)
    # Keep-alive connections, as a browser; one connection per user.
    concurrency = 1
    network_timeout = 60.0
    connection_timeout = 60.0

    def on_start(self) -> None:
        sessions = PLAN["sessions"]
        self.session = sessions[next(_ids) % len(sessions)]
        self.rng = random.Random(self.session["seed"])
        self.cookie = "; ".join(f"{k}={v}" for k, v in self.session["cookies"].items())
        self.turn = itertools.cycle(PAGES)

    @task
    def page(self) -> None:
        kind = next(self.turn)
        url = self.rng.choice(self.session["urls"][kind])
        with self.client.get(
            url, name=kind, headers={"Cookie": self.cookie}, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            elif b'name="password"' in (response.content or b""):
                response.failure("signed out")
            else:
                response.success()
