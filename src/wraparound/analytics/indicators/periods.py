"""Calendar months as periods, numbered ``year * 12 + month - 1`` so that consecutive months
are consecutive integers (a 12-month look-back is ``m - 11 .. m``) in every engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
import pyarrow as pa


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def month_start(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def month_end(index: int) -> dt.date:
    return month_start(index + 1) - dt.timedelta(days=1)


def label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def column(date_expr):
    """The month index of an Ibis date column."""
    return (date_expr.year() * 12 + date_expr.month() - 1).cast("int32")


def label_expr(index: pl.Expr) -> pl.Expr:
    """``label`` for a Polars column of month indexes (vectorised: results have many rows)."""
    year = (index // 12).cast(pl.String).str.zfill(4)
    month = (index % 12 + 1).cast(pl.String).str.zfill(2)
    return pl.concat_str([year, month], separator="-")


def month_end_expr(index: pl.Expr) -> pl.Expr:
    """``month_end`` for a Polars column of month indexes."""
    return pl.date(index // 12, index % 12 + 1, 1).dt.month_end()


@dataclass(frozen=True)
class Periods:
    """The months to report: ``first`` .. ``last`` inclusive. ``data_start`` is the first
    month with data, which bounds how far back a look-back can see. ``only``: just these
    months of the range (a run recomputing the months new data touch, ``reuse.py``)."""

    first: int
    last: int
    data_start: int
    only: tuple[int, ...] | None = None

    @property
    def indexes(self) -> list[int]:
        if self.only is not None:
            return list(self.only)
        return list(range(self.first, self.last + 1))

    def restricted(self, only) -> Periods:
        """The same periods, computing only the months ``only`` (non-empty)."""
        only = tuple(sorted(only))
        return Periods(first=only[0], last=only[-1], data_start=self.data_start, only=only)

    def table(self) -> pa.Table:
        """One row per period: period, start, end (exclusive), last_day (its last day)."""
        idx = self.indexes
        return pa.table(
            {
                "period": pa.array(idx, pa.int32()),
                "start": pa.array([month_start(i) for i in idx], pa.date32()),
                "end": pa.array([month_start(i + 1) for i in idx], pa.date32()),
                "last_day": pa.array([month_end(i) for i in idx], pa.date32()),
            }
        )


def from_data(first_day: dt.date, last_day: dt.date, months: int = 36) -> Periods:
    """The last ``months`` complete months of data from ``first_day`` to ``last_day``."""
    last = month_index(last_day)
    if last_day != month_end(last):
        last -= 1  # the final month is incomplete
    data_start = month_index(first_day)
    if last < data_start:
        raise ValueError(f"the data ({first_day} to {last_day}) hold no complete month")
    return Periods(first=max(data_start, last - months + 1), last=last, data_start=data_start)
