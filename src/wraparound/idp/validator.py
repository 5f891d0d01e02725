"""NHS login's behaviour on top of django-oauth-toolkit's validator: ``private_key_jwt``
client authentication and NHS login's identity claims.

A client authenticates at the token endpoint with an RS256 JWT (RFC 7523 client assertion):
``iss`` and ``sub`` its client id, ``aud`` the token endpoint, a future ``exp`` no more
than five minutes ahead, and a ``jti`` not seen before, signed by a key of the JWKS the
client registered (``ClientKey``). A client secret is never accepted; an assertion that
fails any check is refused (``invalid_client``), with no fallback.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import ClassVar

from django.db import IntegrityError, transaction
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from oauth2_provider.models import get_application_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings

from wraparound.idp.models import VOT, Account, ClientKey, UsedAssertion

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME = dt.timedelta(minutes=5)


def token_endpoint(request) -> str:
    """The token endpoint's absolute URL, as the client addressed it (the audience its
    assertion must name)."""
    return oauth2_settings.oidc_issuer(request) + "/token/"


def check_assertion(assertion: str, audience: str, now: dt.datetime) -> str | None:
    """The client id an assertion proves, or None."""
    try:
        claimed = json.loads(extract_compact(assertion.encode()).payload)
        client_id = str(claimed.get("iss", ""))
    except (JoseError, ValueError, TypeError, AttributeError):
        return None
    key = ClientKey.objects.filter(client_id=client_id).first()
    if key is None:
        return None
    try:
        token = jwt.decode(assertion, KeySet.import_key_set(key.jwks), algorithms=["RS256"])
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": client_id},
            sub={"essential": True, "value": client_id},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            jti={"essential": True},
        )
        registry.validate(token.claims)
    except (JoseError, ValueError, TypeError):
        return None
    expires = dt.datetime.fromtimestamp(int(token.claims["exp"]), dt.UTC)
    if expires - now > MAX_LIFETIME:
        return None
    try:
        with transaction.atomic():
            UsedAssertion.objects.create(jti=str(token.claims["jti"])[:200], expires_at=expires)
    except IntegrityError:
        return None  # replayed
    UsedAssertion.objects.filter(expires_at__lt=now).delete()
    return client_id


class NhsLoginValidator(OAuth2Validator):
    oidc_claim_scope: ClassVar[dict[str, str]] = {
        **OAuth2Validator.oidc_claim_scope,
        "nhs_number": "nhs_number",
        "identity_proofing_level": "nhs_number",
        "vot": "openid",
    }

    def client_authentication_required(self, request, *args, **kwargs):
        return True  # every client of this provider is confidential: private_key_jwt

    def authenticate_client(self, request, *args, **kwargs):
        kind = getattr(request, "client_assertion_type", None)
        assertion = getattr(request, "client_assertion", None)
        if kind != ASSERTION_TYPE or not assertion:
            return False  # no client secret, no other method: private_key_jwt only
        client_id = check_assertion(assertion, token_endpoint(request), timezone.now())
        if client_id is None or (request.client_id and request.client_id != client_id):
            return False
        app = get_application_model().objects.filter(client_id=client_id).first()
        if app is None:
            return False
        request.client = app
        request.client_id = client_id
        return True

    def get_additional_claims(self, request):
        account = Account.objects.filter(user=request.user).first()
        if account is None:
            return {}
        user = request.user
        claims = {
            "given_name": user.first_name,
            "family_name": user.last_name,
            "email": user.email,
            "identity_proofing_level": account.proofing_level,
            "vot": VOT[account.proofing_level],
        }
        if account.birthdate:
            claims["birthdate"] = account.birthdate.isoformat()
        if account.nhs_number and account.proofing_level != "P0":
            claims["nhs_number"] = account.nhs_number
        return claims
