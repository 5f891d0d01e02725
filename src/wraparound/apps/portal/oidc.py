"""The portal as an OpenID Connect relying party, as NHS login expects of one.

authlib's OAuth 2.0 client does the protocol: the authorization request (code flow with
PKCE, ``state`` and ``nonce``, and NHS login's ``vtr`` asking for P5 or P9), and the token
request authenticated by ``private_key_jwt`` (an RS256 client assertion signed with the
portal's private key, ``WRAPAROUND_PORTAL_OIDC_KEY``; the provider holds its public key,
published at ``/portal/jwks.json``). The ID token is verified with joserfc against the
provider's JWKS (signature RS256, ``iss``, ``aud``, ``exp``, ``nonce``), and userinfo is
fetched with the access token; its ``sub`` must be the ID token's.

The provider's discovery document and keys are fetched once and kept (the keys fetched again
when a token names a key id the portal has not seen).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from pathlib import Path

from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from joserfc.jws import extract_compact

from wraparound import config

SCOPES = "openid profile email nhs_number"
# NHS login's vectors of trust: P5 (basic) or P9 (high), password and second factor.
VTR = '["P5.Cp.Cd", "P9.Cp.Cd"]'
TIMEOUT = 10


class SignInError(Exception):
    """The provider's answer could not be trusted or used: the patient sees a clear page."""


def _key_path(cfg) -> Path:
    return Path(cfg.portal_oidc_key or cfg.var / "portal" / "client-key.pem")


_key_lock = threading.Lock()


_keys: dict[tuple[str, float], RSAKey] = {}


def client_key() -> RSAKey:
    """The portal's private key; made on first use outside production. Parsed once per file
    version (loading an RSA private key checks it, which is slow)."""
    cfg = config.current()
    path = _key_path(cfg)
    with _key_lock:
        if not path.exists():
            if cfg.production:
                raise config.ConfigurationError(
                    "set WRAPAROUND_PORTAL_OIDC_KEY: the portal's private key for NHS login"
                )
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        stamp = (str(path), path.stat().st_mtime)
        if stamp not in _keys:
            _keys.clear()
            _keys[stamp] = RSAKey.import_key(path.read_bytes(), {"use": "sig", "alg": "RS256"})
        return _keys[stamp]


def public_jwks() -> dict:
    """The portal's public key as a JWKS (what the provider is given)."""
    key = client_key()
    public = key.as_dict(private=False)
    public.setdefault("kid", key.thumbprint())
    return {"keys": [public]}


class ShortPrivateKeyJWT(PrivateKeyJWT):
    """authlib's private_key_jwt, with the assertion valid for two minutes (authlib's
    default is an hour; NHS login and the local provider accept five at most)."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            expires_in=ASSERTION_SECONDS,
        )


ASSERTION_SECONDS = 120


@dataclasses.dataclass
class _Provider:
    issuer: str
    metadata: dict
    keys: KeySet
    fetched: float


_providers: dict[str, _Provider] = {}
_lock = threading.Lock()


def _get_json(url: str) -> dict:
    import requests

    try:
        response = requests.get(url, timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        raise SignInError(f"the sign-in service did not answer ({url})") from exc


def provider(refresh_keys: bool = False) -> _Provider:
    issuer = config.current().portal_oidc_issuer.rstrip("/")
    with _lock:
        found = _providers.get(issuer)
    if found is None:
        metadata = _get_json(issuer + "/.well-known/openid-configuration")
        if metadata.get("issuer", "").rstrip("/") != issuer:
            raise SignInError("the sign-in service named another issuer")
        found = _Provider(
            issuer, metadata, KeySet.import_key_set(_get_json(metadata["jwks_uri"])), time.time()
        )
    elif refresh_keys and time.time() - found.fetched > 1:
        found.keys = KeySet.import_key_set(_get_json(found.metadata["jwks_uri"]))
        found.fetched = time.time()
    with _lock:
        _providers[issuer] = found
    return found


def _session(redirect_uri: str, **kwargs) -> OAuth2Session:
    cfg = config.current()
    p = provider()
    session = OAuth2Session(
        cfg.portal_oidc_client_id,
        client_key(),
        scope=SCOPES,
        redirect_uri=redirect_uri,
        token_endpoint_auth_method="private_key_jwt",
        code_challenge_method="S256",
        **kwargs,
    )
    session.register_client_auth_method(ShortPrivateKeyJWT(p.metadata["token_endpoint"]))
    return session


def authorization_url(redirect_uri: str, state: str, nonce: str, code_verifier: str) -> str:
    p = provider()
    url, _ = _session(redirect_uri).create_authorization_url(
        p.metadata["authorization_endpoint"],
        state=state,
        nonce=nonce,
        code_verifier=code_verifier,
        vtr=VTR,
    )
    return url


@dataclasses.dataclass(frozen=True)
class Identity:
    sub: str
    nhs_number: str
    level: str  # P0, P5, P9
    vot: str
    given_name: str
    family_name: str
    birthdate: str


def verify_id_token(id_token: str, nonce: str) -> dict:
    """The ID token's claims, or SignInError: signed RS256 by a key of the provider's JWKS,
    from the issuer, for this client, unexpired, with our nonce."""
    p = provider()
    try:
        header = extract_compact(id_token.encode()).protected
    except (JoseError, ValueError) as exc:
        raise SignInError("the sign-in token was not a signed token") from exc
    if header.get("alg") != "RS256":
        raise SignInError("the sign-in token was not signed as agreed")
    if header.get("kid") and header["kid"] not in {k.kid for k in p.keys.keys}:
        p = provider(refresh_keys=True)
    try:
        token = jwt.decode(id_token, p.keys, algorithms=["RS256"])
        jwt.JWTClaimsRegistry(
            leeway=30,
            iss={"essential": True, "value": p.issuer},
            aud={"essential": True, "value": config.current().portal_oidc_client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise SignInError(f"the sign-in token was refused ({exc.__class__.__name__})") from exc
    return token.claims


def complete(redirect_uri: str, code: str, code_verifier: str, nonce: str) -> Identity:
    """Exchange the code (private_key_jwt), verify the ID token, read userinfo."""
    import requests

    p = provider()
    session = _session(redirect_uri)
    try:
        token = session.fetch_token(
            p.metadata["token_endpoint"],
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
            timeout=TIMEOUT,
        )
    except (requests.RequestException, ValueError, Exception) as exc:  # OAuthError included
        raise SignInError("the sign-in service refused the sign-in") from exc
    if "id_token" not in token:
        raise SignInError("the sign-in service sent no ID token")
    claims = verify_id_token(token["id_token"], nonce)
    try:
        response = session.get(p.metadata["userinfo_endpoint"], timeout=TIMEOUT)
        response.raise_for_status()
        info = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise SignInError("the sign-in service did not say who you are") from exc
    if info.get("sub") != claims["sub"]:
        raise SignInError("the sign-in service's answers did not agree")
    merged = {
        **info,
        **{k: v for k, v in claims.items() if k in ("identity_proofing_level", "vot")},
    }
    return Identity(
        sub=str(claims["sub"]),
        nhs_number=str(merged.get("nhs_number") or "").replace(" ", ""),
        level=str(merged.get("identity_proofing_level") or "P0"),
        vot=str(merged.get("vot") or ""),
        given_name=str(merged.get("given_name") or ""),
        family_name=str(merged.get("family_name") or ""),
        birthdate=str(merged.get("birthdate") or ""),
    )


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))
