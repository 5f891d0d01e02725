"""GP Appointments Data (GPAD) categories for hub appointments, from ``data/access/gpad.toml``.

GPAD is how NHS England counts general-practice appointments: the time from booking to the
appointment in buckets of Europe/London calendar days, mode, HCP type, status and a national
category. Hub appointments are recorded in the same terms so hub and practice activity can be
compared. The mapping is data (docs/access.md); this module reads and applies it.
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from wraparound.clinical import package_data_dir

LONDON = ZoneInfo("Europe/London")
GPAD_FILE = "access/gpad.toml"


class GpadError(ValueError):
    def __init__(self, problem: str) -> None:
        super().__init__(f"data/{GPAD_FILE}: {problem}")


@dataclass(frozen=True)
class Gpad:
    version: str
    national_categories: tuple[str, ...]
    lead_times: tuple[tuple[str, str, int | None], ...]  # (id, label, max_days)
    mode: dict[str, str]
    hcp_type: dict[str, str]
    status: dict[str, str]
    by_slot_type: dict[str, str]
    by_mode: dict[str, str]


@functools.cache
def gpad() -> Gpad:
    from wraparound.apps.access.vocabulary import APPOINTMENT_STATUSES, HCP_ROLES, MODES, SLOT_TYPES

    try:
        data = tomllib.loads(package_data_dir().joinpath("access", "gpad.toml").read_text("utf-8"))
    except (FileNotFoundError, tomllib.TOMLDecodeError) as exc:
        raise GpadError(str(exc)) from exc
    categories = tuple(data.get("national_categories") or ())
    if not categories or len(set(categories)) != len(categories):
        raise GpadError("national_categories must be a non-empty list without repeats")
    leads = []
    previous = -1
    entries = data.get("lead_time") or []
    for i, entry in enumerate(entries, start=1):
        last = i == len(entries)
        max_days = entry.get("max_days")
        if last != (max_days is None):
            raise GpadError(f"lead_time {i}: only the last bucket has no max_days")
        if max_days is not None and (not isinstance(max_days, int) or max_days <= previous):
            raise GpadError(f"lead_time {i}: max_days must be a whole number above the last")
        previous = max_days if max_days is not None else previous
        leads.append((entry["id"], entry["label"], max_days))
    if not leads:
        raise GpadError("no [[lead_time]] buckets")

    def table(key: str, codes: dict[str, str], complete: bool = True) -> dict[str, str]:
        mapping = dict(data.get(key) or {})
        unknown = set(mapping) - set(codes)
        if unknown:
            raise GpadError(f"[{key}]: unknown code {sorted(unknown)[0]!r}")
        if complete and set(codes) - set(mapping):
            raise GpadError(f"[{key}]: no entry for {sorted(set(codes) - set(mapping))[0]!r}")
        return mapping

    out = Gpad(
        str(data.get("version", "")),
        categories,
        tuple(leads),
        table("mode", MODES),
        table("hcp_type", HCP_ROLES),
        table("status", APPOINTMENT_STATUSES),
        table("national_category_by_slot_type", SLOT_TYPES),
        table("national_category_by_mode", MODES, complete=False),
    )
    for value in [*out.by_slot_type.values(), *out.by_mode.values()]:
        if value not in categories:
            raise GpadError(f"{value!r} is not in national_categories")
    return out


def lead_days(booked_at: dt.datetime, start: dt.datetime) -> int:
    """Calendar days from booking to appointment, both as Europe/London dates (a booking at
    23:30 for 00:30 the next day is 1 day; across a clock change a day is still a day)."""
    return (start.astimezone(LONDON).date() - booked_at.astimezone(LONDON).date()).days


def lead_bucket(days: int) -> str:
    """The GPAD time-between-booking-and-appointment bucket id for ``days``."""
    if days < 0:
        raise ValueError("an appointment cannot start before it was booked")
    for bucket_id, _label, max_days in gpad().lead_times:
        if max_days is None or days <= max_days:
            return bucket_id
    raise AssertionError("unreachable: the last bucket has no upper bound")


def lead_labels() -> dict[str, str]:
    return {bucket_id: label for bucket_id, label, _ in gpad().lead_times}


def default_national_category(slot_type: str, mode: str) -> str:
    """The national category a booking records unless the booker picks another: by mode
    first (a home visit is a home visit), then by slot type."""
    table = gpad()
    return table.by_mode.get(mode) or table.by_slot_type[slot_type]


def check_national_category(value: str) -> str:
    """``value`` if it is a GPAD national category; otherwise a ValueError saying so."""
    if value not in gpad().national_categories:
        raise ValueError(f"{value!r} is not a GPAD national category")
    return value
