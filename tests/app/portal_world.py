"""The portal tests' world: the local OpenID Connect provider (``python -m wraparound.idp``,
django-oauth-toolkit in its own process and SQLite file) on a free port, seeded with the
portal as its client (the portal's public key, as ``/portal/jwks.json`` publishes it) and
NHS login accounts for patients of the session's test world: A (P9), B (P9, at the same
practice), A at P5 (the same NHS number), a carer (P9, a patient of the world too), an
account whose NHS number no practice knows, and one never verified (P0).

The portal itself runs in-process under Django's test client (so it reads the test
database, and every test's writes roll back); it talks to the provider over real HTTP, as it
would to NHS login: discovery, JWKS, token (private_key_jwt) and userinfo. The browser's
half (the provider's sign-in form and the authorization redirect) is driven over HTTP with
``requests``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass

import pytest
import requests
from built_once import migrated_sqlite

from wraparound import config
from wraparound.apps.care.models import CareTeamMember
from wraparound.apps.records.models import Patient, User

PASSWORD = "local-nhs-login-2026"
REDIRECT = "http://testserver/portal/callback"


@dataclass
class Provider:
    url: str  # the issuer
    accounts: dict[str, dict]
    patients: dict[str, Patient]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


MIGRATE = "from wraparound.idp import server; server.setup(); server.migrate()"
"""The provider's own migration step, alone: it migrates as it starts, which on a fresh file was
most of its start-up (about 3 of 4 s), so each provider starts on a migrated copy."""


def _pick() -> dict[str, Patient]:
    a = (
        CareTeamMember.objects.filter(user__username="nurse", active=True)
        .select_related("patient")
        .order_by("patient_id")
        .first()
        .patient
    )
    gp = User.objects.get(username="gp")
    others = Patient.objects.filter(practice=gp.scope_org, death_date=None).exclude(pk=a.pk)
    b, carer = list(others.order_by("pk")[:2])
    return {"a": a, "b": b, "carer": carer}


def _account(email, patient_or_number, level, given="Test", family="Patient"):
    if isinstance(patient_or_number, Patient):
        p = patient_or_number
        number, given, family = p.nhs_number, p.given_name, p.family_name
        birth = p.birth_date.isoformat() if p.birth_date else None
    else:
        number, birth = patient_or_number, "1980-01-01"
    return {
        "email": email,
        "password": PASSWORD,
        "nhs_number": number,
        "level": level,
        "given_name": given,
        "family_name": family,
        "birthdate": birth,
    }


@pytest.fixture(scope="session")
def portal_provider(django_db_setup, django_db_blocker, tmp_path_factory):
    from wraparound.apps.portal import oidc

    root = tmp_path_factory.mktemp("idp")
    saved = {
        k: os.environ.get(k)
        for k in ("WRAPAROUND_PORTAL_OIDC_ISSUER", "WRAPAROUND_PORTAL_OIDC_KEY")
    }
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}/o"
    os.environ["WRAPAROUND_PORTAL_OIDC_KEY"] = str(root / "portal-key.pem")
    os.environ["WRAPAROUND_PORTAL_OIDC_ISSUER"] = issuer
    config.reload()
    with django_db_blocker.unblock():
        patients = _pick()
    accounts = {
        "a": _account("a@example.org", patients["a"], "P9"),
        "a_p5": _account("a5@example.org", patients["a"], "P5"),
        "b": _account("b@example.org", patients["b"], "P9"),
        "carer": _account("carer@example.org", patients["carer"], "P9"),
        "unknown": _account("unknown@example.org", "9434765919", "P9"),
        "p0": _account("p0@example.org", patients["a"], "P0"),
    }
    seed = {
        "clients": [
            {
                "client_id": config.current().portal_oidc_client_id,
                "redirect_uris": [REDIRECT],
                "jwks": oidc.public_jwks(),
            }
        ],
        "accounts": list(accounts.values()),
    }
    (root / "seed.json").write_text(json.dumps(seed))
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(WRAPAROUND_IDP_DB=str(root / "idp.sqlite3"), WRAPAROUND_VAR=str(root))
    migrate = [sys.executable, "-c", MIGRATE]
    migrated_sqlite(
        tmp_path_factory, "idp-db", migrate, "WRAPAROUND_IDP_DB", root / "idp.sqlite3", env
    )
    log = (root / "idp.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wraparound.idp",
            "--port",
            str(port),
            "--seed",
            str(root / "seed.json"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"the provider exited:\n{(root / 'idp.log').read_text()}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the provider did not start:\n{(root / 'idp.log').read_text()}")
            time.sleep(0.1)
        yield Provider(issuer, accounts, patients)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        config.reload()
        oidc._providers.clear()


def provider_login(authorize_url: str, email: str, password: str = PASSWORD) -> str:
    """The browser's part at the provider: follow the authorization request to the sign-in
    form, sign in, and return the redirect back to the portal (with code and state)."""
    browser = requests.Session()
    response = browser.get(authorize_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    login_url = urllib.parse.urljoin(authorize_url, response.headers["Location"])
    form = browser.get(login_url, timeout=10)
    token = browser.cookies.get("wraparound_idp_csrf")
    nxt = urllib.parse.parse_qs(urllib.parse.urlparse(login_url).query)["next"][0]
    response = browser.post(
        login_url,
        data={"username": email, "password": password, "csrfmiddlewaretoken": token, "next": nxt},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, form.text[:300]
    back = urllib.parse.urljoin(login_url, response.headers["Location"])
    response = browser.get(back, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"]


def sign_in(client, provider: Provider, who: str):
    """The whole sign-in through the provider; returns the portal's answer to the callback."""
    start = client.get("/portal/sign-in")
    assert start.status_code == 302
    back = provider_login(start["Location"], provider.accounts[who]["email"])
    assert back.startswith(REDIRECT), back
    return client.get(back[len("http://testserver") :])
