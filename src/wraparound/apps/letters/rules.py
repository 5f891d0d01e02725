"""The letters data file (``data/letters.toml``), read once and checked. Operational days are
the referrals app's working days (``referrals.timers``: Monday to Friday, England's bank
holidays excluded), one calendar for every service-level clock."""

from __future__ import annotations

import functools
import tomllib

from wraparound.apps.referrals.timers import add_working_days as add_operational_days
from wraparound.apps.referrals.timers import working_days_between as operational_days_between
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


__all__ = ["RulesError", "add_operational_days", "operational_days_between", "parse", "rules"]
