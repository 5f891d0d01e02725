"""The letters data file (``data/letters.toml``), read once and checked, and operational
days: Monday to Friday, England's bank holidays (the ``holidays`` package) excluded."""

from __future__ import annotations

import datetime as dt
import functools
import tomllib

import holidays

from wraparound.clinical import package_data_dir
from wraparound.vocabulary import ENCOUNTER_KINDS


class RulesError(ValueError):
    """data/letters.toml is malformed."""


def parse(data: dict) -> dict:
    keys = ("due_operational_days", "escalate_after_days", "escalate_within_days", "lookback_days")
    for key in keys:
        if not isinstance(data.get(key), int) or not 0 < data[key] <= 3650:
            raise RulesError(f"{key} must be a whole number of days from 1")
    kinds = data.get("kind") or {}
    if not kinds:
        raise RulesError("letters.toml needs at least one [kind.<encounter kind>]")
    for kind, rule in kinds.items():
        if kind not in ENCOUNTER_KINDS:
            raise RulesError(f"[kind.{kind}]: not an encounter kind")
        if rule.get("from") not in ("start", "end"):
            raise RulesError(f"[kind.{kind}]: from must be start or end")
        if not rule.get("statuses") or not rule.get("label"):
            raise RulesError(f"[kind.{kind}]: statuses and label are required")
    if data["escalate_within_days"] < data["escalate_after_days"]:
        raise RulesError("escalate_within_days must be at least escalate_after_days")
    return {
        "version": str(data.get("version", "")),
        "due": data["due_operational_days"],
        "escalate": data["escalate_after_days"],
        "escalate_within": data["escalate_within_days"],
        "lookback": data["lookback_days"],
        "kinds": kinds,
    }


@functools.cache
def rules() -> dict:
    with package_data_dir().joinpath("letters.toml").open("rb") as f:
        return parse(tomllib.load(f))


@functools.cache
def _bank_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def operational(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_operational_days(day: dt.date, n: int) -> dt.date:
    """The ``n``-th operational day after ``day`` (``day`` itself never counts)."""
    while n > 0:
        day += dt.timedelta(days=1)
        if operational(day):
            n -= 1
    return day


def operational_days_between(first: dt.date, last: dt.date) -> int:
    """Operational days after ``first`` up to and including ``last`` (0 when not after)."""
    count, day = 0, first
    while day < last:
        day += dt.timedelta(days=1)
        count += operational(day)
    return count
