"""A table as the page shows it and as its CSV download writes it: the same header and the
same cell strings, so the download is exactly the data table beside the chart."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field

from django.http import HttpResponse

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
    return 1 if definition is None or definition.get("type") != "count" else 0


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
