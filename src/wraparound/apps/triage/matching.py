"""Matching a person who referred themselves to a registered patient, never by a guess.

- By NHS number: a valid number (Modulus 11) whose patient has the same date of birth. A
  number without the date of birth agreeing is no match: knowing someone's NHS number is not
  enough to put a request on their record.
- Otherwise by demographics: family name and first given name (case and spacing ignored),
  date of birth, and postcode, against the patient index and the contact details of
  messaging (the identity table's postcode). One patient: matched. Several, or patients with
  the same name and date of birth whose postcode is not recorded: ``ambiguous``, for staff to
  resolve. None: ``unmatched``.

The same queries run whatever the outcome (both ways are always tried), so the time taken
says as little as the response does.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from wraparound import nhs_number
from wraparound.apps.records.models import Patient


@dataclass(frozen=True)
class Match:
    outcome: str  # matched | ambiguous | unmatched
    patient: Patient | None = None
    candidates: tuple[int, ...] = ()  # patient pks for the review queue


def normalise_nhs(value: str) -> str:
    return re.sub(r"[\s-]", "", value or "")


def normalise_postcode(value: str) -> str:
    return re.sub(r"\s", "", value or "").upper()


def _first(name: str) -> str:
    parts = (name or "").split()
    return parts[0].lower() if parts else ""


def candidates_by_demographics(given: str, family: str, birth: dt.date | None) -> list[Patient]:
    if not (given and family and birth):
        return []
    rows = Patient.objects.filter(
        family_name__iexact=family.strip(), birth_date=birth, death_date__isnull=True
    ).select_related("contact")
    return [p for p in rows if _first(p.given_name) == _first(given)]


def match(
    *,
    nhs: str = "",
    given: str = "",
    family: str = "",
    birth: dt.date | None = None,
    postcode: str = "",
) -> Match:
    nhs = normalise_nhs(nhs)
    by_number = list(
        Patient.objects.filter(
            nhs_number=nhs if nhs_number.is_valid(nhs) else "-", death_date__isnull=True
        )
    )
    people = candidates_by_demographics(given, family, birth)
    if by_number and birth and by_number[0].birth_date == birth:
        return Match("matched", by_number[0], (by_number[0].pk,))
    wanted = normalise_postcode(postcode)
    same_postcode, unknown_postcode = [], []
    for p in people:
        contact = getattr(p, "contact", None)
        recorded = normalise_postcode(contact.postcode) if contact is not None else ""
        if not recorded:
            unknown_postcode.append(p)
        elif wanted and recorded == wanted:
            same_postcode.append(p)
    if len(same_postcode) == 1 and not unknown_postcode:
        return Match("matched", same_postcode[0], (same_postcode[0].pk,))
    possible = same_postcode + unknown_postcode
    if possible:
        return Match("ambiguous", None, tuple(p.pk for p in possible))
    return Match("unmatched")
