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

from wraparound import config
from wraparound.config import DEMO_PSEUDONYM_KEY as DEMO_KEY
from wraparound.config import PseudonymKeyError

__all__ = ["DEMO_KEY", "PseudonymKeyError", "Pseudonymiser", "secret_key"]


def secret_key() -> bytes:
    """The key of this deployment (wraparound.config: the built-in one is refused in
    production)."""
    return config.current().pseudonym_key_bytes()


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
