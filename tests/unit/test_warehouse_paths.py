"""warehouse/paths.py is the one module that builds paths inside a warehouse directory: no
other source or benchmark joins the layout's names itself (``something / "manifest.json"``),
so a file cannot be written in one place and looked for in another."""

from __future__ import annotations

import ast
from pathlib import Path

from wraparound.warehouse import paths

ROOT = Path(__file__).parents[2]
# Names of the warehouse layout; "results" only in the package (benchmarks keep their own
# benchmarks/results/ folder, which is not a warehouse's).
LAYOUT = {
    paths.MANIFEST,
    paths.SNAPSHOTS,
    paths.STAGING,
    paths.ORACLE_DIR,
    paths.ORACLE_FILE,
    paths.APP_EVENTS_DIR,
    paths.APP_EVENTS_FILE,
    paths.TIMELINE_INDEX_DIR,
    paths.LATEST,
    "identity",
}


def joins(path: Path, names: set[str]) -> list[str]:
    """``a / "name"`` expressions in a file whose string operand is one of ``names``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant) and side.value in names:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} / {side.value!r}")
    return found


def test_only_paths_py_joins_warehouse_layout_names():
    found = []
    for path in sorted((ROOT / "src" / "wraparound").rglob("*.py")):
        if path.name != "paths.py" or path.parent.name != "warehouse":
            found += joins(path, LAYOUT | {paths.RESULTS})
    for path in sorted((ROOT / "benchmarks").rglob("*.py")):
        found += joins(path, LAYOUT)
    assert found == []


def test_the_layout_is_under_the_warehouse_root(tmp_path):
    root = tmp_path / "wh"
    built = [
        paths.manifest(root),
        paths.lock(root),
        paths.snapshot(root, 7),
        paths.table_file(root, 7, "patients"),
        paths.staging(root),
        paths.oracle(root),
        paths.results(root, paths.RISK),
        paths.results_latest(root, paths.INDICATORS),
        paths.app_events(root),
        paths.timeline_index(root, 7),
    ]
    assert all(p.is_relative_to(root) for p in built)
    assert len(set(built)) == len(built)
    assert paths.table_file(root, 7, "patients") == root / "snapshots" / "000007" / (
        "patients.parquet"
    )
    assert paths.timeline_index(root, 7).name == "encounters-000007"
