"""Model versions: what made a model, so it can be audited and re-created.

A model version is a content hash of everything that determines the model (data snapshot,
training index date, features in order, parameters, seed, code version): the same inputs
give the same version, and any change gives a new one.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from wraparound.warehouse.store import Warehouse


def code_version() -> str:
    """The package version, with the git commit when running from a checkout."""
    try:
        package = version("wraparound")
    except PackageNotFoundError:
        package = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return package
    return f"{package}+{commit}"


def data_snapshot(warehouse: Warehouse) -> dict:
    m = warehouse.manifest
    return {"snapshot": m.snapshot, "batch": m.batch, "committed_at": m.committed_at}


def model_version(record: dict) -> str:
    keys = ("data_snapshot", "training", "features", "parameters", "seed", "code_version")
    payload = json.dumps({k: record[k] for k in keys}, sort_keys=True, default=str)
    digest = hashlib.sha256(payload.encode()).hexdigest()[:10]
    return f"risk-{record['training']['index_date']}-{digest}"
