"""A local OpenID Connect provider standing in for NHS login, for the demo and the tests.

A separate Django project (its own settings, URLs and SQLite database, ``settings.py``), run
as its own process by ``wraparound idp serve`` on 127.0.0.1:8001: django-oauth-toolkit with
OpenID Connect on, authorization code with PKCE, RS256 ID tokens, a JWKS and a userinfo
endpoint. Like NHS login it authenticates its clients by ``private_key_jwt`` (an RS256 client
assertion checked against the client's registered public keys, ``validator.py``; the toolkit
has no such method), and its accounts carry NHS login's claims: ``nhs_number``,
``identity_proofing_level`` (P0, P5, P9), ``vot`` and ``birthdate``.

It imports nothing of the app: the portal is only ever its client over HTTP.
"""
