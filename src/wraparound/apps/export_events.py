"""Everything the app records that the indicators count, written back to the warehouse:
care's app events (``care/app_events.py``: named GPs, care plans, reviews) and access's hub
appointments (``access/events.py``).

The two exports live in their own apps; this module, above both (as the refresh is), runs
them in turn, so care never imports access (the layers are in ``.importlinter``). The
result is care's summary with the number of appointments written added under
``appointments``: what ``wraparound app refresh``, ``export-events`` and ``demo`` print.
"""

from __future__ import annotations

from pathlib import Path

from wraparound.apps.access import events as access_events
from wraparound.apps.care import app_events as care_events
from wraparound.apps.feedback import events as feedback_events
from wraparound.apps.letters import events as letters_events
from wraparound.apps.referrals import events as referral_events
from wraparound.apps.triage import events as triage_events


def export_app_events(warehouse_dir: Path, touched: frozenset[str] | None = None) -> dict:
    """Write every file; care's checks the warehouse first, so a bad ``DIR`` writes none.
    ``touched``: the patients an incremental refresh rewrote (its ``touched_ids``), so the
    exports that can patch their file for them do; None rewrites every file whole."""
    result = care_events.export(warehouse_dir)
    result["appointments"] = access_events.export(warehouse_dir)
    result["triage_events"] = triage_events.export(warehouse_dir)
    result["referral_events"] = referral_events.export(warehouse_dir)
    result["letters_events"] = letters_events.export(warehouse_dir, touched)
    result["fft_responses"] = feedback_events.export(warehouse_dir)
    return result
