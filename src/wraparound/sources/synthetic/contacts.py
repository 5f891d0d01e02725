"""Synthetic contact details for the identities a direct-care record shows: a mobile phone
number and an email address, so that demo messages (``apps/messaging``) reach most people
as they would in a real practice, and none can ever reach a real person.

- Mobile numbers are drawn from Ofcom's range for drama, 07700 900000 to 07700 900999
  (numbers Ofcom sets aside for TV, film and examples, never allocated to a subscriber).
  With only 1,000 of them, patients share numbers; nothing keys on the phone number.
- Email addresses are ``given.family<n>@`` one of the domains reserved for documentation
  (RFC 2606: example.com, example.org, example.net), which deliver nowhere.
- Who has them, by age: no child under 12 has their own mobile or email (the parent's is
  recorded in life, and left out here); from 12 a mobile for about 90% (Ofcom's adults'
  media use: about 95% of adults, fewer in the oldest), falling to about 75% from 80; an
  email for about 80% of adults, falling to about 50% from 75. Round figures for a plausible
  list, not a published table.

Drawn from their own random stream, so adding them changed no other synthetic table.
"""

from __future__ import annotations

import re

import numpy as np

DRAMA_MOBILE_PREFIX = "07700 900"  # Ofcom drama range: 07700 900000 to 07700 900999
DRAMA_MOBILE_COUNT = 1000
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")  # RFC 2606, reserved
# (lowest age, share with a mobile, share with an email), by band; the last band that a
# person's age reaches applies.
BANDS = (
    (0, 0.0, 0.0),
    (12, 0.9, 0.0),
    (18, 0.92, 0.82),
    (75, 0.85, 0.5),
    (80, 0.75, 0.5),
)


def _band_shares(age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lows = np.array([b[0] for b in BANDS])
    idx = np.searchsorted(lows, age, side="right") - 1
    return np.array([b[1] for b in BANDS])[idx], np.array([b[2] for b in BANDS])[idx]


def _local_part(given: str, family: str) -> str:
    clean = re.sub(r"[^a-z]", "", f"{given}".lower()), re.sub(r"[^a-z]", "", family.lower())
    return ".".join(p for p in clean if p) or "patient"


def draw_contacts(
    given: np.ndarray, family: np.ndarray, age: np.ndarray, rng: np.random.Generator
) -> tuple[list[str | None], list[str | None]]:
    """(mobile numbers, email addresses) for one chunk's people, None where a person has
    none."""
    age = np.asarray(age, dtype=float)
    n = age.size
    mobile_share, email_share = _band_shares(age)
    has_mobile = rng.uniform(0, 1, n) < mobile_share
    has_email = rng.uniform(0, 1, n) < email_share
    numbers = rng.integers(0, DRAMA_MOBILE_COUNT, n)
    domains = rng.integers(0, len(EMAIL_DOMAINS), n)
    suffix = rng.integers(1, 100, n)
    phones = [f"{DRAMA_MOBILE_PREFIX}{numbers[i]:03d}" if has_mobile[i] else None for i in range(n)]
    emails = [
        f"{_local_part(str(given[i]), str(family[i]))}{suffix[i]}@{EMAIL_DOMAINS[domains[i]]}"
        if has_email[i]
        else None
        for i in range(n)
    ]
    return phones, emails
