"""The capacity standards and the GM access standards, read from data files and applied.

Both are policy, so both are data (``data/access/capacity_standards.toml`` and
``data/access/access_standards.toml``, documented in docs/access.md); this module only reads
them, checks them (an error names the file and the entry, so a typo never silently changes a
figure) and applies them:

- :func:`capacity_standards_in_force`: which minutes-per-1,000-per-week standards apply to a
  week (those in force on its Monday);
- :func:`hours_band`: core, early, evening or weekend for a slot's local start;
- :func:`standard_outcome`: whether one appointment met the access standard for the need
  recorded with its request, measured in real elapsed time from ``help_requested_at`` to
  the start, or by Europe/London calendar day for the same-day standards (so a request on
  the night the clocks change is measured correctly).
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import holidays

from wraparound.clinical import package_data_dir

LONDON = ZoneInfo("Europe/London")
CAPACITY_FILE = "access/capacity_standards.toml"
ACCESS_FILE = "access/access_standards.toml"
ATTENDED = ("seen", "finished")  # statuses in which help was given
MET, NOT_MET, PENDING, NOT_MEASURABLE = "met", "not_met", "pending", "not_measurable"
HOURS_BANDS = {
    "core": "Core hours",
    "early": "Before core hours",
    "evening": "Evening",
    "weekend": "Weekend and bank holiday",
}


class StandardsError(ValueError):
    """A standards file breaks its format; the message starts with the file name."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"data/{name}: {problem}")


@dataclass(frozen=True)
class CapacityStandard:
    id: str
    label: str
    minutes_per_1000: float
    effective_from: dt.date
    effective_to: dt.date | None
    basis: str

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


@dataclass(frozen=True)
class Hours:
    core_from: dt.time
    evening_from: dt.time


@dataclass(frozen=True)
class AccessStandard:
    id: str
    need: str
    label: str
    within_minutes: int | None
    same_day: bool


def _load(name: str) -> dict:
    resource = package_data_dir()
    for part in name.split("/"):
        resource = resource.joinpath(part)
    try:
        return tomllib.loads(resource.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StandardsError(name, "file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise StandardsError(name, f"not valid TOML ({exc})") from exc


def _time(name: str, key: str, value: object) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError as exc:
        raise StandardsError(name, f"[hours] {key} must be HH:MM, not {value!r}") from exc


@functools.cache
def capacity_file() -> tuple[str, Hours, tuple[CapacityStandard, ...]]:
    """``(version, hours, standards)`` from ``data/access/capacity_standards.toml``."""
    data = _load(CAPACITY_FILE)
    hours = data.get("hours") or {}
    parsed_hours = Hours(
        _time(CAPACITY_FILE, "core_from", hours.get("core_from")),
        _time(CAPACITY_FILE, "evening_from", hours.get("evening_from")),
    )
    if parsed_hours.evening_from <= parsed_hours.core_from:
        raise StandardsError(CAPACITY_FILE, "[hours] evening_from must be after core_from")
    out = []
    seen: set[str] = set()
    for i, entry in enumerate(data.get("standard") or [], start=1):
        where = f"standard {i}"
        unknown = set(entry) - {"id", "label", "minutes_per_1000", "effective_from"}
        unknown -= {"effective_to", "basis"}
        if unknown:
            raise StandardsError(CAPACITY_FILE, f"{where}: unknown key {sorted(unknown)[0]!r}")
        for key in ("id", "label", "minutes_per_1000", "effective_from", "basis"):
            if key not in entry:
                raise StandardsError(CAPACITY_FILE, f"{where}: missing {key!r}")
        if entry["id"] in seen:
            raise StandardsError(CAPACITY_FILE, f"{where}: duplicate id {entry['id']!r}")
        seen.add(entry["id"])
        minutes = entry["minutes_per_1000"]
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0:
            raise StandardsError(CAPACITY_FILE, f"{where}: minutes_per_1000 must be positive")
        start, end = entry["effective_from"], entry.get("effective_to")
        if not isinstance(start, dt.date) or (end is not None and not isinstance(end, dt.date)):
            raise StandardsError(CAPACITY_FILE, f"{where}: dates must be TOML dates")
        if end is not None and end <= start:
            raise StandardsError(CAPACITY_FILE, f"{where}: effective_to must be after from")
        out.append(
            CapacityStandard(
                entry["id"], entry["label"], float(minutes), start, end, entry["basis"]
            )
        )
    if not out:
        raise StandardsError(CAPACITY_FILE, "no [[standard]] entries")
    return str(data.get("version", "")), parsed_hours, tuple(out)


def capacity_standards() -> tuple[CapacityStandard, ...]:
    return capacity_file()[2]


def capacity_standards_in_force(week_start: dt.date) -> list[CapacityStandard]:
    """The standards that apply to the week starting (Monday) ``week_start``."""
    return [s for s in capacity_standards() if s.in_force(week_start)]


def week_start(day: dt.date) -> dt.date:
    """The Monday of ``day``'s week."""
    return day - dt.timedelta(days=day.weekday())


@functools.cache
def _bank_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("GB", subdiv="ENG", years=year)


def hours_band(start: dt.datetime) -> str:
    """Which hours a slot starting at the aware datetime ``start`` falls in, by its
    Europe/London local time (``HOURS_BANDS``)."""
    local = start.astimezone(LONDON)
    if local.weekday() >= 5 or local.date() in _bank_holidays(local.year):
        return "weekend"
    hours = capacity_file()[1]
    clock = local.time()
    if clock < hours.core_from:
        return "early"
    if clock < hours.evening_from:
        return "core"
    return "evening"


@functools.cache
def access_standards() -> dict[str, AccessStandard]:
    """The GM access standards by need, from ``data/access/access_standards.toml``."""
    from wraparound.apps.access.vocabulary import NEEDS

    data = _load(ACCESS_FILE)
    out: dict[str, AccessStandard] = {}
    for i, entry in enumerate(data.get("standard") or [], start=1):
        where = f"standard {i}"
        unknown = set(entry) - {"id", "need", "label", "within_minutes", "same_day"}
        if unknown:
            raise StandardsError(ACCESS_FILE, f"{where}: unknown key {sorted(unknown)[0]!r}")
        for key in ("id", "need", "label"):
            if key not in entry:
                raise StandardsError(ACCESS_FILE, f"{where}: missing {key!r}")
        need = entry["need"]
        if need not in NEEDS or need == "routine":
            raise StandardsError(
                ACCESS_FILE, f"{where}: need {need!r} is not a need with a standard"
            )
        if need in out:
            raise StandardsError(ACCESS_FILE, f"{where}: a second standard for {need!r}")
        minutes, same_day = entry.get("within_minutes"), entry.get("same_day", False)
        if (minutes is None) == (same_day is not True):
            raise StandardsError(ACCESS_FILE, f"{where}: exactly one of within_minutes, same_day")
        if minutes is not None and (not isinstance(minutes, int) or minutes <= 0):
            raise StandardsError(ACCESS_FILE, f"{where}: within_minutes must be a positive integer")
        out[need] = AccessStandard(entry["id"], need, entry["label"], minutes, same_day is True)
    return out


def standard_outcome(
    need: str, requested_at: dt.datetime | None, start: dt.datetime, status: str
) -> str | None:
    """``met``, ``not_met`` (not in time, or did not attend), ``pending`` (still booked or
    arrived) or ``not_measurable`` (no request time, or an appointment before its request)
    for one appointment; None when its need has no standard (routine) or it was cancelled
    (left out, as the access indicators leave cancellations out: the rebooking counts)."""
    standard = access_standards().get(need)
    if standard is None:
        return None
    if requested_at is None or start < requested_at:
        return NOT_MEASURABLE
    if status in ("booked", "arrived"):
        return PENDING
    if status.startswith("cancelled"):
        return None  # left out: a cancellation is rebooked, and the rebooking counts
    if status not in ATTENDED:
        return NOT_MET
    if standard.same_day:
        same = start.astimezone(LONDON).date() == requested_at.astimezone(LONDON).date()
        return MET if same else NOT_MET
    elapsed = start.astimezone(dt.UTC) - requested_at.astimezone(dt.UTC)
    return MET if elapsed <= dt.timedelta(minutes=standard.within_minutes) else NOT_MET
