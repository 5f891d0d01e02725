"""Run the local provider: migrate its database, load a seed (its client and test accounts),
and serve it on a threaded WSGI server until stopped.

The seed is JSON::

    {"clients": [{"client_id": "...", "redirect_uris": ["http://127.0.0.1:8000/portal/callback"],
                  "jwks": {"keys": [...]}}],
     "accounts": [{"email": "...", "password": "...", "nhs_number": "9000000009",
                   "level": "P9", "given_name": "...", "family_name": "...",
                   "birthdate": "1950-01-31"}]}

Loading is idempotent: a client's redirect URIs and keys, and an account's password and
claims, are replaced by the seed's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
from pathlib import Path


def setup() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "wraparound.idp.settings"
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def load_seed(seed: dict) -> dict[str, int]:
    from django.contrib.auth.models import User
    from django.db import transaction
    from oauth2_provider.models import get_application_model

    from wraparound.idp.models import Account, ClientKey

    application = get_application_model()
    with transaction.atomic():
        for c in seed.get("clients", ()):
            app, _ = application.objects.get_or_create(
                client_id=c["client_id"],
                defaults={
                    "name": c.get("name", c["client_id"]),
                    "client_type": application.CLIENT_CONFIDENTIAL,
                    "authorization_grant_type": application.GRANT_AUTHORIZATION_CODE,
                },
            )
            app.redirect_uris = " ".join(c["redirect_uris"])
            app.algorithm = application.RS256_ALGORITHM
            app.skip_authorization = True  # NHS login asks consent on its own pages
            app.client_type = application.CLIENT_CONFIDENTIAL
            app.authorization_grant_type = application.GRANT_AUTHORIZATION_CODE
            app.save()
            ClientKey.objects.update_or_create(
                client_id=c["client_id"], defaults={"jwks": c["jwks"]}
            )
        for a in seed.get("accounts", ()):
            user, _ = User.objects.get_or_create(username=a["email"])
            user.email = a["email"]
            user.first_name = a.get("given_name", "")
            user.last_name = a.get("family_name", "")
            user.set_password(a["password"])
            user.save()
            birth = a.get("birthdate")
            Account.objects.update_or_create(
                user=user,
                defaults={
                    "nhs_number": a.get("nhs_number", ""),
                    "proofing_level": a["level"],
                    "birthdate": dt.date.fromisoformat(birth) if birth else None,
                },
            )
    return {"clients": len(seed.get("clients", ())), "accounts": len(seed.get("accounts", ()))}


def serve(host: str = "127.0.0.1", port: int = 8001, seed: Path | None = None) -> None:
    """Set up, load ``seed`` (a JSON file) and serve until interrupted."""
    setup()
    migrate()
    if seed is not None:
        counts = load_seed(json.loads(Path(seed).read_text()))
        print(
            f"local NHS login: {counts['accounts']} accounts, {counts['clients']} clients",
            file=sys.stderr,
        )
    from django.core.servers.basehttp import WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        # TCP_NODELAY: the handler writes the status line and headers, then the body, as
        # separate small sends; with Nagle's algorithm on, the second waits for the client's
        # delayed ACK (about 40 ms on Linux) on every provider response of the sign-in.
        disable_nagle_algorithm = True

        def log_message(self, format, *args):  # one line a request is noise in the demo
            pass

    print(f"local NHS login on http://{host}:{port}/o", file=sys.stderr, flush=True)
    _run(host, port, QuietHandler)


def _run(host, port, handler_cls) -> None:
    import socketserver

    from django.core.servers.basehttp import WSGIServer
    from django.core.wsgi import get_wsgi_application

    server_cls = type("ThreadedWSGIServer", (socketserver.ThreadingMixIn, WSGIServer), {})
    server_cls.daemon_threads = True
    httpd = server_cls((host, port), handler_cls)
    httpd.set_app(get_wsgi_application())
    with contextlib.suppress(KeyboardInterrupt):
        httpd.serve_forever()


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m wraparound.idp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--seed", type=Path)
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.seed)
