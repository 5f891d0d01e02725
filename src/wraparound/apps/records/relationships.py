"""The one relationship model: every legitimate relationship between a member of staff and a
patient, whichever app holds the record of it, checked in one place.

A relationship has a *kind* (``registered``, ``caseload``, ``register``, ``mdt``, ``booking``,
``referral``, ``break_glass``; later apps add theirs), a *source* (who or what created it and
the basis the creator acted on), a *start* and, where it applies, an *end*, and the *actions*
it allows. What each kind allows, and the MDT windows, are data
(``data/relationships.toml``), not code.

Apps register a provider for each kind they hold the records of, from their
``AppConfig.ready()``: ``register_provider("mdt", fn)``. A provider is
``fn(user, patient, now) -> iterable of Relationship``. This module imports no other app:
records (registration, bookings, break-glass), care (caseload, MDT) and registers (the risk
register) each register their own, and a later app (access, referrals, portal) adds a kind by
registering a provider and adding its table to the data file, without editing records.

Two rules hold here, whatever a provider returns:

- roles without direct care hold no relationship at all;
- a relationship whose source acted under break-glass is no relationship: nothing done
  under break-glass creates or extends another relationship (the gate also refuses the
  actions that would create one, so this is the second line).
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.utils import timezone

from wraparound.clinical import package_data_dir

POLICY_FILE = "relationships.toml"
BREAK_GLASS = "break_glass"


class PolicyError(ValueError):
    """The relationships data file is malformed or unsafe."""


@dataclass(frozen=True)
class Policy:
    version: str
    kinds: dict[str, dict]  # code -> {"label", "actions"}, in the file's order
    actions: dict[str, str]  # code -> plain words
    creates_relationships: frozenset[str]
    mdt: dict[str, int]

    def allows(self, kind: str, action: str) -> bool:
        return action in self.kinds[kind]["actions"]

    def label(self, kind: str) -> str:
        return self.kinds[kind]["label"]

    def mdt_window(self, date: dt.date) -> tuple[dt.date, dt.date]:
        """The days (inclusive) an MDT meeting on ``date`` gives its members access."""
        return (
            date - dt.timedelta(days=self.mdt["preparation_days"]),
            date + dt.timedelta(days=self.mdt["follow_up_days"]),
        )


def parse_policy(data: dict) -> Policy:
    """Check and build the policy; a file that would let break-glass create relationships,
    or names an action it does not define, is refused."""
    actions = data.get("actions") or {}
    kinds = data.get("kind") or {}
    creates = frozenset(data.get("creates_relationships") or ())
    if not actions or not kinds:
        raise PolicyError("relationships policy needs [actions] and at least one [kind.*]")
    for code in creates:
        if code not in actions:
            raise PolicyError(f"creates_relationships names unknown action {code!r}")
    for code, kind in kinds.items():
        unknown = set(kind.get("actions", ())) - set(actions)
        if unknown or "label" not in kind:
            raise PolicyError(f"kind {code!r}: needs a label and known actions ({unknown})")
        kind["actions"] = frozenset(kind["actions"])
    if BREAK_GLASS in kinds and kinds[BREAK_GLASS]["actions"] & creates:
        raise PolicyError("break_glass may not allow an action that creates a relationship")
    mdt = data.get("mdt") or {}
    for key in ("preparation_days", "follow_up_days", "call_days_before_today"):
        if not isinstance(mdt.get(key), int) or mdt[key] < 0:
            raise PolicyError(f"[mdt] {key} must be a whole number of days")
    if not isinstance(mdt.get("call_days_after_today"), int):
        raise PolicyError("[mdt] call_days_after_today must be a whole number of days")
    return Policy(str(data.get("version", "")), kinds, actions, creates, mdt)


@functools.cache
def policy() -> Policy:
    with package_data_dir().joinpath(POLICY_FILE).open("rb") as f:
        return parse_policy(tomllib.load(f))


@dataclass(frozen=True)
class Relationship:
    """One legitimate relationship, as a provider reports it."""

    kind: str
    source: str  # who or what created it ("care team: added by Jo Okafor", "registration")
    source_basis: str = ""  # the basis the creator acted on ("register", "registration feed")
    start: dt.datetime | dt.date | None = None
    end: dt.datetime | dt.date | None = None  # None: until the source record ends it
    actions: frozenset[str] = field(default=frozenset(), compare=False)

    def allows(self, action: str) -> bool:
        return action in self.actions

    @property
    def label(self) -> str:
        return policy().label(self.kind)


Provider = Callable[[object, object, dt.datetime], Iterable[Relationship]]
_PROVIDERS: dict[str, list[Provider]] = {}


def register_provider(kind: str, provider: Provider) -> None:
    """Called from an app's ``ready()``. The kind must be in the policy file, so a kind
    nobody has said the actions of can never grant anything. Registering the same function
    twice (tests reload apps) is harmless."""
    if kind not in policy().kinds:
        raise PolicyError(f"relationship kind {kind!r} is not in {POLICY_FILE}")
    providers = _PROVIDERS.setdefault(kind, [])
    if provider not in providers:
        providers.append(provider)


def registered_kinds() -> list[str]:
    """The kinds with a provider, in the policy's order."""
    return [k for k in policy().kinds if _PROVIDERS.get(k)]


def _of_kind(kind: str, user, patient, now) -> Iterable[Relationship]:
    actions = policy().kinds[kind]["actions"]
    for provider in _PROVIDERS.get(kind, ()):
        for rel in provider(user, patient, now):
            if rel.kind != kind:
                raise PolicyError(f"a {kind} provider returned a {rel.kind} relationship")
            if kind != BREAK_GLASS and rel.source_basis == BREAK_GLASS:
                continue  # created under break-glass: no relationship
            yield Relationship(rel.kind, rel.source, rel.source_basis, rel.start, rel.end, actions)


def current(user, patient, now: dt.datetime | None = None) -> list[Relationship]:
    """Every relationship ``user`` holds with ``patient`` now, in the policy's order."""
    if not user.role_info.direct_care:
        return []
    now = now or timezone.now()
    return [rel for kind in policy().kinds for rel in _of_kind(kind, user, patient, now)]


def first_allowing(user, patient, action: str, now=None) -> Relationship | None:
    """The first relationship (in the policy's order) that allows ``action``, trying the
    kinds that allow it only and stopping at the first found (the gate runs on every
    request)."""
    if not user.role_info.direct_care:
        return None
    now = now or timezone.now()
    for kind, spec in policy().kinds.items():
        if action in spec["actions"]:
            for rel in _of_kind(kind, user, patient, now):
                return rel
    return None


def creates_relationship(action: str) -> bool:
    return action in policy().creates_relationships
