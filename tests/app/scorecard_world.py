"""The scorecard tests' world: a real ``wraparound indicators`` run over the app tests'
3,000-patient locality, loaded into the session's test database once (as ``app refresh``
does), and a reader for the data tables the pages render."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser
from pathlib import Path

import pytest

from wraparound.analytics import results
from wraparound.analytics.indicators.run import run as run_indicators
from wraparound.apps.scorecard.load import load_latest_indicators
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse


@pytest.fixture(scope="session")
def indicators_dir(django_db_setup, django_db_blocker, app_warehouse) -> Path:
    """The published run directory; its tables are in the app database for every test."""
    if results.latest_run(app_warehouse, "indicators") is None:
        run_indicators(app_warehouse)
    with django_db_blocker.unblock(), connect(Warehouse(app_warehouse)) as engine:
        load_latest_indicators(app_warehouse, engine)
    return results.latest_run(app_warehouse, "indicators")


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._current: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._current = self.tables.setdefault(dict(attrs).get("id", ""), [])
        elif tag == "tr" and self._current is not None:
            self._current.append([])
        elif tag in ("td", "th") and self._current is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._current is not None:
            self._current[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._current = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def html_table(response, table_id: str) -> list[list[str]]:
    """The rows (header first) of the table with this id, as the page shows them."""
    parser = _Tables()
    parser.feed(response.content.decode())
    assert table_id in parser.tables, f"no table #{table_id} on the page"
    return parser.tables[table_id]


def csv_rows(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))
