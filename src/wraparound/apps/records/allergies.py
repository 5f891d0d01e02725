"""A patient's allergies as the pages show them, from the patient index (``Patient.allergies``,
loaded by ``app refresh``: ``load.allergy_lists``).

Four states, kept apart because each means something different to whoever prescribes
(docs/app.md):

- ``listed``: current allergies are recorded (and shown, each with its reaction and status);
- ``none_known``: the practice recorded "no known allergies" (a ``no_known`` code of
  ``data/allergies.csv``) and no current allergy;
- ``none_recorded``: the practice's record carries allergy data, and nothing current is
  recorded for this patient;
- ``not_known``: no allergy data has reached this service for the patient's practice, so
  nothing can be said: never shown as "none".

On the portal, items the practice hides online are taken out first; when that leaves nothing
current, the state is ``hidden``, so the page never says "none" about a hidden allergy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

LISTED, NONE_KNOWN, NONE_RECORDED, NOT_KNOWN, HIDDEN = (
    "listed",
    "none_known",
    "none_recorded",
    "not_known",
    "hidden",
)


@dataclass(frozen=True)
class Allergy:
    name: str
    system: str
    code: str
    status: str  # active | inactive | resolved
    verification: str | None
    type: str | None
    category: str | None
    criticality: str | None
    reaction: str | None
    severity: str | None
    recorded: dt.date | None
    no_known: bool

    @property
    def current(self) -> bool:
        return self.status == "active"

    @property
    def unconfirmed(self) -> bool:
        return self.verification == "unconfirmed"


@dataclass
class AllergyRecord:
    state: str
    current: list[Allergy] = field(default_factory=list)  # active allergies
    past: list[Allergy] = field(default_factory=list)  # inactive or resolved
    none_known: Allergy | None = None  # the "no known allergies" finding, when recorded

    @property
    def all(self) -> list[Allergy]:
        """Every allergy shown, the "no known allergies" finding included."""
        return self.current + self.past + ([self.none_known] if self.none_known else [])


def _allergy(item: dict) -> Allergy:
    recorded = item.get("recorded")
    return Allergy(
        name=item["name"],
        system=item["system"],
        code=item["code"],
        status=item["status"],
        verification=item.get("verification"),
        type=item.get("type"),
        category=item.get("category"),
        criticality=item.get("criticality"),
        reaction=item.get("reaction"),
        severity=item.get("severity"),
        recorded=dt.date.fromisoformat(recorded) if recorded else None,
        no_known=bool(item.get("no_known")),
    )


def allergy_record(patient, hide: frozenset[str] | set[str] = frozenset()) -> AllergyRecord:
    """The patient's allergies in one of the states above; ``hide`` names items (by name)
    the practice does not show online (the portal's ``HiddenItem``)."""
    if patient.allergies is None:
        return AllergyRecord(NOT_KNOWN)
    items = [_allergy(i) for i in patient.allergies]
    shown = [a for a in items if a.name not in hide]
    current = [a for a in shown if a.current and not a.no_known]
    past = [a for a in shown if not a.current and not a.no_known]
    none_known = next((a for a in shown if a.current and a.no_known), None)
    if current:
        return AllergyRecord(LISTED, current, past)
    if len(shown) < len(items) and any(a.current and not a.no_known for a in items):
        return AllergyRecord(HIDDEN, [], past)
    if none_known is not None:
        return AllergyRecord(NONE_KNOWN, [], past, none_known)
    return AllergyRecord(NONE_RECORDED, [], past)
