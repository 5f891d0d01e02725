"""The access app's data files (``data/access/``), read once and checked: opening hours and
embargo defaults (``hub_defaults.toml``) and appointment length by stream
(``appointment_length.toml``). A malformed file is refused with the key that is wrong."""

from __future__ import annotations

import datetime as dt
import functools
import tomllib

from wraparound.apps.access.vocabulary import SLOT_TYPES
from wraparound.clinical import package_data_dir

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class RulesError(ValueError):
    """A data file under data/access/ is malformed."""


def _load(name: str) -> dict:
    with package_data_dir().joinpath("access", name).open("rb") as f:
        return tomllib.load(f)


def parse_hours(pair, where: str) -> tuple[dt.time, dt.time]:
    try:
        opens, closes = (dt.time.fromisoformat(v) for v in pair)
    except (TypeError, ValueError):
        raise RulesError(f"{where}: hours must be two HH:MM times") from None
    if closes <= opens:
        raise RulesError(f"{where}: closes before it opens")
    return opens, closes


@functools.cache
def hub_defaults() -> dict:
    data = _load("hub_defaults.toml")
    hours = {}
    for day, pair in (data.get("opening_hours") or {}).items():
        if day not in DAYS:
            raise RulesError(f"opening_hours: unknown day {day!r}")
        hours[str(DAYS.index(day))] = [t.isoformat("minutes") for t in parse_hours(pair, day)]
    bank = parse_hours(data.get("bank_holiday_hours"), "bank_holiday_hours")
    embargo = data.get("embargo") or {}
    for key in ("release_to_practices_hours", "release_to_patients_hours"):
        if not isinstance(embargo.get(key), int) or embargo[key] < 0:
            raise RulesError(f"[embargo] {key} must be a whole number of hours")
    weeks = (data.get("generation") or {}).get("weeks_ahead")
    if not isinstance(weeks, int) or not 0 < weeks <= 52:
        raise RulesError("[generation] weeks_ahead must be 1 to 52")
    return {
        "version": str(data.get("version", "")),
        "opening_hours": hours,
        "bank_holiday_hours": [t.isoformat("minutes") for t in bank],
        "embargo": embargo,
        "weeks_ahead": weeks,
    }


def _length_rule(rule: dict, where: str) -> dict:
    if rule.get("slots") not in (1, 2):
        raise RulesError(f"{where}: slots must be 1 or 2")
    prefer = rule.get("prefer") or []
    if not prefer or set(prefer) - set(SLOT_TYPES):
        raise RulesError(f"{where}: prefer must list slot types from {sorted(SLOT_TYPES)}")
    return {"slots": rule["slots"], "prefer": list(prefer)}


@functools.cache
def length_rules() -> dict:
    data = _load("appointment_length.toml")
    rules = {"default": _length_rule(data.get("default") or {}, "[default]")}
    for stream, rule in (data.get("stream") or {}).items():
        rules[stream] = _length_rule(rule, f"[stream.{stream}]")
    return rules


@functools.cache
def booking_rules() -> dict:
    data = _load("appointment_length.toml").get("booking") or {}
    for key in ("access_minutes_before", "late_cancellation_hours"):
        if not isinstance(data.get(key), int) or data[key] < 0:
            raise RulesError(f"[booking] {key} must be a whole number")
    return data


def length_for(stream: str | None) -> dict:
    """The rule for a patient's stream: how many slots, which slot types first."""
    rules = length_rules()
    return rules.get(stream or "", rules["default"])
