"""The one relationship model: every legitimate relationship between a member of staff and a
patient, whichever app holds the record of it, checked in one place.

A relationship has a *kind* (``registered``, ``caseload``, ``register``, ``mdt``, ``booking``,
``referral``, ``break_glass``; later apps add theirs), a *source* (who or what created it and
the basis the creator acted on), a *start*, an *end*, and the *actions* it allows. What each
kind allows and how it ends (``ends``: while its source lasts, or a window of days around
the event it is dated from) are data (``data/relationships.toml``), not code.

Apps register a provider for each kind they hold the records of, from their
``AppConfig.ready()``: ``register_provider("mdt", fn)``. A provider is
``fn(user, patient, now) -> iterable of Relationship``. This module imports no other app:
records (registration, bookings, break-glass), care (caseload, MDT) and registers (the risk
register) each register their own, and a later app (access, referrals, portal) adds a kind by
registering a provider and adding its table to the data file, without editing records.

Three rules hold here, whatever a provider returns:

- a relationship holds only from its start to its end (``in_force``): dates are days,
  both included; times are instants, the end excluded. A window kind's start and end are
  narrowed to its window around the event (``Relationship.on``), and one reported without
  the event grants nothing. Dates from the warehouse (``Relationship.data_clock``) are
  judged on the app's today for data (``clock.data_today``: today, or the data end when
  that is earlier), everything else on now;
- roles without direct care hold no relationship at all;
- a relationship whose source acted under break-glass is no relationship: nothing done
  under break-glass creates or extends another relationship (the gate also refuses the
  actions that would create one, so this is the second line).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.utils import timezone

from wraparound.clinical import package_data_dir

POLICY_FILE = "relationships.toml"
BREAK_GLASS = "break_glass"
ENDS = ("source", "window")


class PolicyError(ValueError):
    """The relationships data file is malformed or unsafe."""


@dataclass(frozen=True)
class Policy:
    version: str
    kinds: dict[str, dict]  # code -> {"label", "actions", "ends", ...}, in the file's order
    actions: dict[str, str]  # code -> plain words
    creates_relationships: frozenset[str]
    mdt: dict[str, int]

    def allows(self, kind: str, action: str) -> bool:
        return action in self.kinds[kind]["actions"]

    def label(self, kind: str) -> str:
        return self.kinds[kind]["label"]

    def window(self, kind: str, date: dt.date) -> tuple[dt.date, dt.date]:
        """The days (inclusive) a ``window`` kind dated from an event on ``date`` runs."""
        spec = self.kinds[kind]
        return (
            date - dt.timedelta(days=spec["days_before"]),
            date + dt.timedelta(days=spec["days_after"]),
        )

    def mdt_window(self, date: dt.date) -> tuple[dt.date, dt.date]:
        """The days (inclusive) an MDT meeting on ``date`` gives its members access."""
        return self.window("mdt", date)


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
        ends = kind.get("ends")
        days = [k for k in ("days_before", "days_after") if k in kind]
        if ends not in ENDS:
            raise PolicyError(f"kind {code!r}: ends must be one of {', '.join(ENDS)}")
        if ends == "window":
            for key in ("days_before", "days_after"):
                value = kind.get(key)
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise PolicyError(f"kind {code!r}: {key} must be a whole number of days")
        elif days:
            raise PolicyError(f'kind {code!r}: {", ".join(days)} need ends = "window"')
    if "mdt" in kinds and kinds["mdt"]["ends"] != "window":
        raise PolicyError("kind 'mdt': ends must be \"window\" (the meeting's)")
    if BREAK_GLASS in kinds and kinds[BREAK_GLASS]["actions"] & creates:
        raise PolicyError("break_glass may not allow an action that creates a relationship")
    mdt = data.get("mdt") or {}
    if not isinstance(mdt.get("call_days_before_today"), int) or mdt["call_days_before_today"] < 0:
        raise PolicyError("[mdt] call_days_before_today must be a whole number of days")
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
    start: dt.datetime | dt.date | None = None  # None: since the source began
    end: dt.datetime | dt.date | None = None  # None: until the source record ends it
    actions: frozenset[str] = field(default=frozenset(), compare=False)
    on: dt.date | None = None  # the event a "window" kind is dated from
    data_clock: bool = False  # dates from the warehouse: judged on the today for data

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


class Clock:
    """Now, and the two todays a relationship can be judged on: the wall clock's and the
    data's (``clock.data_today``, read once, only when a relationship dated in the data is
    looked at)."""

    def __init__(self, now: dt.datetime | None = None):
        self.now = now or timezone.now()
        self.today = timezone.localdate(self.now)
        self._data_today: dt.date | None = None

    @property
    def data_today(self) -> dt.date:
        if self._data_today is None:
            from wraparound.apps.records.clock import data_today

            self._data_today = data_today(self.now)
        return self._data_today


def _date(value: dt.datetime | dt.date) -> dt.date:
    return timezone.localdate(value) if isinstance(value, dt.datetime) else value


def _later(a, b):
    """The later of two starts; of a time and a day, the time unless its day is earlier."""
    if a is None or b is None:
        return b if a is None else a
    if type(a) is type(b):
        return max(a, b)
    time, day = (a, b) if isinstance(a, dt.datetime) else (b, a)
    return time if _date(time) >= day else day


def _earlier(a, b):
    """The earlier of two ends; of a time and a day, the time unless its day is later."""
    if a is None or b is None:
        return b if a is None else a
    if type(a) is type(b):
        return min(a, b)
    time, day = (a, b) if isinstance(a, dt.datetime) else (b, a)
    return time if _date(time) <= day else day


def _bounds(rel: Relationship):
    """``rel``'s start and end with its kind's rule applied (a window kind's narrowed to its
    window around ``rel.on``), or None for a window kind reported without its event."""
    start, end = rel.start, rel.end
    if policy().kinds[rel.kind]["ends"] == "window":
        if rel.on is None:
            return None  # a window with nothing to date it from: no relationship
        first, last = policy().window(rel.kind, _date(rel.on))
        start, end = _later(start, first), _earlier(end, last)
    return start, end


def _state(rel: Relationship, start, end, clock: Clock) -> str:
    """ "held", "not started" or "ended" at ``clock``: days inclusive, times as instants (the
    end excluded); dates from the warehouse on the today for data."""
    if rel.data_clock:  # days in the data, judged on the data's today
        today = clock.data_today
        if start is not None and _date(start) > today:
            return "not started"
        if end is not None and _date(end) < today:
            return "ended"
        return "held"
    for bound, late in ((start, False), (end, True)):
        if bound is None:
            continue
        if isinstance(bound, dt.datetime):
            out = (clock.now >= bound) if late else (clock.now < bound)
        else:
            out = (clock.today > bound) if late else (clock.today < bound)
        if out:
            return "ended" if late else "not started"
    return "held"


def in_force(rel: Relationship, clock: Clock | None = None) -> Relationship | None:
    """``rel`` with its kind's rule applied (a window kind's start and end narrowed to its
    window around ``rel.on``) when it holds at ``clock``; None when it has not started, has
    ended, or is a window kind reported without its event."""
    clock = clock or Clock()
    bounds = _bounds(rel)
    if bounds is None or _state(rel, *bounds, clock) != "held":
        return None
    return dataclasses.replace(rel, start=bounds[0], end=bounds[1])


def _checked(kind: str, reported: Iterable[Relationship]) -> list[Relationship]:
    """A provider's answer for ``kind``, less what was created under break-glass."""
    kept = []
    for rel in reported:
        if rel.kind != kind:
            raise PolicyError(f"a {kind} provider returned a {rel.kind} relationship")
        if kind != BREAK_GLASS and rel.source_basis == BREAK_GLASS:
            continue  # created under break-glass: no relationship
        kept.append(rel)
    return kept


class Look:
    """One look at what ``user`` holds with ``patient`` at one instant: each kind's providers
    are asked at most once, however many questions are put. The gate asks for the first
    relationship allowing each action the view needs and, on a refusal, for every
    relationship held or lapsed; without one look a refused read asked every provider twice
    (a query or more each). A look serves one decision of one request, never longer: a
    relationship granted or ended afterwards is seen only by a new look."""

    def __init__(self, user, patient, now: dt.datetime | None = None):
        self.user = user
        self.patient = patient
        self.clock = Clock(now)
        self._answers: dict[tuple[str, int], list[Relationship]] = {}

    def reported(self, kind: str) -> Iterator[Relationship]:
        """What ``kind``'s providers report, before its start and end are judged: each
        provider asked once, and only when the question gets as far as it."""
        for i, provider in enumerate(_PROVIDERS.get(kind, ())):
            if (kind, i) not in self._answers:
                answer = provider(self.user, self.patient, self.clock.now)
                self._answers[kind, i] = _checked(kind, answer)
            yield from self._answers[kind, i]

    def first_allowing(self, action: str) -> Relationship | None:
        """The first relationship (in the policy's order) that allows ``action``, asking only
        the kinds that allow it and stopping at the first found (the gate asks on every
        request)."""
        if not self.user.role_info.direct_care:
            return None
        for kind, spec in policy().kinds.items():
            if action in spec["actions"]:
                for rel in self.reported(kind):
                    held = in_force(rel, self.clock)
                    if held is not None:  # not yet started, or ended: no relationship
                        return dataclasses.replace(held, actions=spec["actions"])
        return None

    def standing(self) -> tuple[list[Relationship], list[tuple[Relationship, str]]]:
        """What ``current`` and ``lapsed`` say: the relationships held now, in the policy's
        order, and those reported that do not hold now, each with "ended" or "not started"
        (start and end narrowed as the gate narrows them)."""
        if not self.user.role_info.direct_care:
            return [], []
        held: list[Relationship] = []
        gone: list[tuple[Relationship, str]] = []
        for kind, spec in policy().kinds.items():
            for rel in self.reported(kind):
                bounds = _bounds(rel)
                if bounds is None:
                    continue  # a window kind reported without its event: nothing at all
                narrowed = dataclasses.replace(rel, start=bounds[0], end=bounds[1])
                state = _state(rel, *bounds, self.clock)
                if state == "held":
                    held.append(dataclasses.replace(narrowed, actions=spec["actions"]))
                else:
                    gone.append((narrowed, state))
        return held, gone


def standing(
    user, patient, now: dt.datetime | None = None
) -> tuple[list[Relationship], list[tuple[Relationship, str]]]:
    """What ``current`` and ``lapsed`` say, from one pass over the providers (``Look``)."""
    return Look(user, patient, now).standing()


def lapsed(user, patient, now: dt.datetime | None = None) -> list[tuple[Relationship, str]]:
    """The relationships ``user``'s providers still report with ``patient`` that do not hold
    now, each with "ended" or "not started" (its start and end narrowed as the gate narrows
    them): for the refusal page and its audit row, never for access."""
    return standing(user, patient, now)[1]


def current(user, patient, now: dt.datetime | None = None) -> list[Relationship]:
    """Every relationship ``user`` holds with ``patient`` now, in the policy's order."""
    return standing(user, patient, now)[0]


def first_allowing(user, patient, action: str, now=None) -> Relationship | None:
    """The first relationship (in the policy's order) that allows ``action``."""
    return Look(user, patient, now).first_allowing(action)


def creates_relationship(action: str) -> bool:
    return action in policy().creates_relationships
