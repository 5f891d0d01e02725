"""FHIR API bearer tokens, each tied to one organisation. Only a SHA-256 digest is stored;
the token is shown once when issued (``python -m django issue_fhir_token ORG NAME``)."""

from __future__ import annotations

import hashlib
import secrets

from wraparound.apps.access.models import ApiToken
from wraparound.apps.records.models import Organisation


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(organisation: Organisation, name: str) -> tuple[ApiToken, str]:
    """A new token for ``organisation``: the stored record and the token itself."""
    token = "wrap_" + secrets.token_urlsafe(32)
    return ApiToken.objects.create(
        organisation=organisation, name=name, digest=digest(token)
    ), token


def authenticate(header: str) -> ApiToken | None:
    """The live token an ``Authorization: Bearer ...`` header carries, or None."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 200:
        return None
    return (
        ApiToken.objects.filter(digest=digest(token.strip()), revoked_at__isnull=True)
        .select_related("organisation")
        .first()
    )
