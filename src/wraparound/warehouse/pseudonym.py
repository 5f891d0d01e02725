"""Keyed pseudonyms for patients, so analytics never see an NHS number.

HMAC-SHA256 with a secret key: the same NHS number always gives the same pseudonym within a
deployment (so loads from different sources link up), but nobody without the key can go from
a pseudonym back to the number, or test a guessed number. The key comes from
``WRAPAROUND_PSEUDONYM_KEY``; the built-in default is for synthetic data only and is refused
when ``WRAPAROUND_ENV=production``.
"""

from __future__ import annotations

import hashlib
import hmac
import os

DEMO_KEY = "wraparound-synthetic-demo-key-not-for-real-data"


class PseudonymKeyError(RuntimeError):
    pass


def secret_key() -> bytes:
    key = os.environ.get("WRAPAROUND_PSEUDONYM_KEY")
    if key:
        return key.encode()
    if os.environ.get("WRAPAROUND_ENV") == "production":
        raise PseudonymKeyError("WRAPAROUND_PSEUDONYM_KEY must be set in production")
    return DEMO_KEY.encode()


class Pseudonymiser:
    """Turns identifiers into pseudonyms with one key; construct once per load."""

    def __init__(self, key: bytes | None = None):
        self._key = key if key is not None else secret_key()

    def nhs_number(self, nhs_number: str) -> str:
        return self._digest("nhs:" + nhs_number)

    def local_id(self, source: str, local_id: str) -> str:
        """For patients with no NHS number (e.g. Synthea output): pseudonym of the source id."""
        return self._digest(f"local:{source}:{local_id}")

    def _digest(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:20]
