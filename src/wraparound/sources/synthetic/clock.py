"""Clinical wall-clock times in England to UTC timestamps, vectorised.

Appointments are booked in local time (GMT or BST); the warehouse stores UTC instants. BST
runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

EPOCH = dt.date(1970, 1, 1)
US_PER_MINUTE = 60_000_000
US_PER_DAY = 86_400_000_000


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


def _last_sunday(year: int, month: int) -> int:
    d = dt.date(year, month + 1, 1) - dt.timedelta(days=1)
    return day_number(d - dt.timedelta(days=(d.weekday() + 1) % 7))


def local_to_utc_us(day: np.ndarray, minute_of_day: np.ndarray) -> np.ndarray:
    """Microseconds since the epoch (UTC) for local wall-clock ``minute_of_day`` on ``day``."""
    day = np.asarray(day, dtype=np.int64)
    local = day * US_PER_DAY + np.asarray(minute_of_day, dtype=np.int64) * US_PER_MINUTE
    if day.size == 0:
        return local
    years = range(
        int((EPOCH + dt.timedelta(days=int(day.min()))).year),
        int((EPOCH + dt.timedelta(days=int(day.max()))).year) + 1,
    )
    bst = np.zeros(day.size, dtype=bool)
    for y in years:
        bst |= (day >= _last_sunday(y, 3)) & (day < _last_sunday(y, 10))
    return local - bst.astype(np.int64) * 60 * US_PER_MINUTE


def weekday(day: np.ndarray) -> np.ndarray:
    """0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday)."""
    return (np.asarray(day) + 3) % 7
