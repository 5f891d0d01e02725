"""The Friends and Family Test's responses back to the warehouse for the indicators
(``DIR/app_feedback/fft_responses.parquet``, ``inputs.FEEDBACK_SCHEMA``): one row per
response with its month, practice, hub, service, touchpoint and answer, and nothing else.

Responses are anonymous (``models.Response`` keeps no patient), so the export has no
patient column and the indicator over it counts responses, not patients
(``denominator.responses``, docs/indicators.md); free text never leaves the app. Rows are
sorted, so the same responses always write the same file, and written to a temporary file
renamed over the old one, as the other exports are.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wraparound.analytics.indicators.inputs import FEEDBACK_SCHEMA, app_feedback_path
from wraparound.apps.feedback.models import Response


def collect() -> list[tuple]:
    rows = Response.objects.values_list(
        "month", "practice__org_id", "hub__org_id", "service_code", "touchpoint", "answer"
    )
    return sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))


def export(warehouse_dir: Path) -> int:
    """Write the file; returns the number of responses."""
    rows = collect()
    table = pa.table(
        {name: [r[i] for r in rows] for i, name in enumerate(FEEDBACK_SCHEMA.names)}
    ).cast(FEEDBACK_SCHEMA)
    target = app_feedback_path(warehouse_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(rows)
