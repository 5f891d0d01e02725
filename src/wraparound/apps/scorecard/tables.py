"""A table as the page shows it and as its CSV download writes it: the same header and the
same cell strings, so the download is exactly the data table beside the chart.

Every scorecard table is declared as columns (``Column``: header, how a row becomes the
cell, whether it is a figure) and built by ``table``; every view answers through ``answer``:
the page, or one of the page's own tables as CSV. So a table, its chart's data table and its
download cannot drift apart, and a new page is a list of columns and a template.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.http import Http404, HttpResponse

SUPPRESSED = "suppressed"


def num(value, digits: int = 1) -> str:
    """A figure as text: blank when missing, no thousands separators (the CSV reads back)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.{digits}f}"


def interval(lower, upper, digits: int = 1) -> str:
    if lower is None or upper is None:
        return ""
    return f"{num(lower, digits)} to {num(upper, digits)}"


def digits_for(definition: dict | None) -> int:
    """Decimal places of an indicator's figures: none for counts, two for a ratio of events
    (1.45 follow-ups per first attendance), else one."""
    kind = None if definition is None else definition.get("type")
    return {"count": 0, "ratio": 2}.get(kind, 1)


@dataclass
class Table:
    caption: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)  # first cell's link, per row
    numeric: set[int] = field(default_factory=set)  # right-aligned columns

    def add(self, cells: list[str], link: str | None = None) -> None:
        self.rows.append(cells)
        self.links.append(link)

    def html_rows(self):
        for cells, link in zip(self.rows, self.links, strict=True):
            yield [
                {"text": c, "link": link if i == 0 else None, "numeric": i in self.numeric}
                for i, c in enumerate(cells)
            ]


def csv_response(table: Table, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(table.headers)
    writer.writerows(table.rows)
    return response


Cell = Callable[[Any, "dict | None"], str]
"""How a row becomes one cell's text, given the row and its indicator definition (whose type
sets the decimal places: ``digits_for``)."""


@dataclass(frozen=True)
class Column:
    """One column of a table: its header, its cell, and whether it holds figures (right
    aligned on the page)."""

    header: str
    cell: Cell
    numeric: bool = False


def table(
    caption: str,
    columns: Iterable[Column],
    rows: Iterable,
    definition: dict | Callable[[Any], dict | None] | None = None,
    link: Callable[[Any], str | None] | None = None,
) -> Table:
    """The table of ``rows``, one cell per column. ``definition`` is the indicator definition
    of every row, or a function giving each row's; ``link`` gives each row's first-cell link."""
    columns = list(columns)
    built = Table(
        caption,
        [c.header for c in columns],
        numeric={i for i, c in enumerate(columns) if c.numeric},
    )
    definition_of = definition if callable(definition) else lambda _row: definition
    for row in rows:
        d = definition_of(row)
        built.add([c.cell(row, d) for c in columns], link(row) if link else None)
    return built


def text(key: str) -> Cell:
    """The row's value as it is."""
    return lambda row, _d: row[key]


def whole(key: str) -> Cell:
    """A whole number, blank when missing."""
    return lambda row, _d: "" if row[key] is None else str(row[key])


def count(key: str) -> Cell:
    """A count: no decimal places."""
    return lambda row, _d: num(row[key], 0)


def figure(key: str, digits: int | None = None) -> Cell:
    """A value in the indicator's decimal places (or ``digits``)."""
    return lambda row, d: num(row[key], digits_for(d) if digits is None else digits)


def between(lower: str, upper: str) -> Cell:
    """An interval, ``lower to upper``, in the indicator's decimal places."""
    return lambda row, d: interval(row[lower], row[upper], digits_for(d))


def looked_up(key: str, labels: Mapping[str, str]) -> Cell:
    """The row's code as its label (blank when it has none)."""
    return lambda row, _d: labels.get(row.get(key) or "", "")


def title(row, d: dict | None) -> str:
    """The indicator's title."""
    return d["title"]


def unit(row, d: dict | None) -> str:
    """The indicator's unit."""
    return d["unit"]


@dataclass(frozen=True)
class Download:
    """One of a page's tables as a CSV file."""

    table: Table
    filename: str


def answer(
    fmt: str, page: Callable[[], HttpResponse], downloads: Mapping[str, Download]
) -> HttpResponse:
    """How every scorecard view answers: ``fmt == "html"`` is the page (built only then),
    anything else names one of the page's own tables, sent as CSV."""
    if fmt == "html":
        return page()
    if fmt not in downloads:
        raise Http404("No such download on this page.")
    download = downloads[fmt]
    return csv_response(download.table, download.filename)
