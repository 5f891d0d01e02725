"""Shared fixtures: small synthetic localities built once per test session, and the engines
every hand-worked spec case runs on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _pytest.nodeid import coerce_node_id
from built_once import built_once
from engines import ENGINES, EngineUnderTest
from hypothesis import settings

from wraparound.analytics.stratify import run as stratify
from wraparound.sources.synthetic.writer import write_synthetic

# Property tests check behaviour, not speed: on a loaded 2-core CI machine Hypothesis's
# default 200 ms deadline fails correct code at random.
settings.register_profile("wraparound", deadline=None)
settings.load_profile("wraparound")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Give ``--dist loadgroup`` its groups back, and keep each other module on one worker.

    pytest-xdist (3.8) groups by appending ``@group`` to a test's ``item._nodeid`` on the
    worker, which pytest 9.2 no longer reads (a node's id is ``item._id``), so the
    ``xdist_group`` marks were ignored: every test went to whichever worker was free, the
    Spark cases started a JVM on each worker, and module fixtures (a whole-pipeline run, a
    100,000-patient locality) were built once on each. Here each marked test's id carries its
    group, and an unmarked test's its module (as ``--dist loadfile`` would), so a module's
    fixtures are built once. Only on an xdist worker under ``--dist loadgroup``."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        if "@" in item.nodeid.rsplit("]", 1)[-1]:
            continue  # grouped already (an xdist that sets the id itself)
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        group = "_".join(sorted(names)) or item.nodeid.split("::", 1)[0]
        item._id = coerce_node_id(f"{item.nodeid}@{group}")


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory):
    """A 3,000-patient synthetic locality written straight to a warehouse."""
    return built_once(
        tmp_path_factory,
        "small",
        lambda out: write_synthetic(out, patients=3000, seed=5, progress=False),
    )


@pytest.fixture(scope="session")
def stratified_warehouse(small_warehouse, tmp_path_factory):
    """``small_warehouse`` after ``wraparound stratify``: the app's and the browser tests'
    locality (each takes its own copy of this one)."""

    def build(out: Path) -> None:
        shutil.copytree(small_warehouse, out)
        stratify(out)

    return built_once(tmp_path_factory, "stratified", build)


@pytest.fixture(scope="session", params=ENGINES)
def engine(request) -> EngineUnderTest:
    """Each engine in turn (DuckDB, then Spark in local mode), for the spec cases: a case
    using this runs once per engine and must give its hand-worked answer on each. Session
    scoped, so the Spark cases of a process share one SparkSession (tests/engines.py)."""
    return EngineUnderTest(request.param)
