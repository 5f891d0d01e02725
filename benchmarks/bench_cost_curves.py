"""Cost curves: wall time and peak memory of each pipeline stage, by population, on DuckDB
and on Spark side by side, with the growth rate of each stage.

    .venv/bin/python benchmarks/bench_cost_curves.py --patients 100000 300000 1000000 3000000 \\
        [--engines duckdb spark] [--workdir var/bench/cost] [--duckdb-memory-limit 12GB] \\
        [--spark-driver-memory 12g] [--memory-budget-gib 24] [--plot-only]

Stages, each a real ``wraparound`` command in a child process whose whole process tree
(Python, and a Spark run's JVM) is sampled for resident memory every 0.2 s:

- synthesis: ``wraparound synth`` (NumPy; no engine).
- ingest: the locality as FHIR R4 NDJSON (``synth --format fhir``, not timed) loaded by
  ``wraparound ingest`` into an empty warehouse. Ingest validates a whole batch in memory
  before it commits anything (all or nothing), so its peak grows with the batch; a size whose
  projected peak (MiB per patient at the largest size measured so far) is over 85% of the
  budget is recorded as skipped, not run. No engine: ingest is the same on both.
- features: risk features at the three index dates (training, validation, current), from
  ``wraparound stratify``'s phase windows (a Spark run's session start is in here).
- training: validated model, baselines and the refit (LightGBM on the driver; no engine).
- scoring: scores, SHAP reasons, streams, registers and publishing.
- indicators: ``wraparound indicators``, every indicator, practice and month (36 months).

DuckDB runs with ``WRAPAROUND_DUCKDB_MEMORY_LIMIT`` (``--duckdb-memory-limit``) and spills to
``WORKDIR/spill``, whose largest size is recorded. Results merge into
``benchmarks/results/cost_curves.json`` keyed by (stage, engine, patients), so sizes can be
run in separate invocations; the plot ``benchmarks/results/cost_curves.png`` is redrawn from
everything recorded, and the summary prints each stage's growth exponent b in
time ~ patients^b.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import RESULTS, machine, peak_between, run_sampled

from wraparound.warehouse import paths

BIN = Path(sys.executable).parent / "wraparound"
NAME = "cost_curves"
STAGES = ("synthesis", "ingest", "features", "training", "scoring", "indicators")
NO_ENGINE = "none"  # stages that run the same whatever the engine
STRATIFY_STAGES = {
    "features": ("training_features_s", "current_features_s"),
    "training": ("training_s",),
    "scoring": ("scoring_s", "publish_s"),
}


def load_rows() -> list[dict]:
    path = RESULTS / f"{NAME}.json"
    return json.loads(path.read_text())["rows"] if path.exists() else []


def save(rows: list[dict], settings: dict) -> Path:
    rows = sorted(rows, key=lambda r: (STAGES.index(r["stage"]), r["engine"], r["patients"]))
    payload = {
        "machine": machine(),
        "settings": settings,
        "rows": rows,
        "growth": growth(rows),
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{NAME}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path


def record(rows: list[dict], row: dict) -> None:
    key = (row["stage"], row["engine"], row["patients"])
    rows[:] = [r for r in rows if (r["stage"], r["engine"], r["patients"]) != key]
    row.setdefault("measured_at", datetime.now(UTC).isoformat(timespec="seconds"))
    row.setdefault("load_average_1m", round(os.getloadavg()[0], 2))
    rows.append(row)


def done(rows: list[dict], stage: str, engine: str, n: int) -> bool:
    return any(
        r["stage"] == stage
        and r["engine"] == engine
        and r["patients"] == n
        and r["status"] != "failed"
        for r in rows
    )


def _failure(m: dict) -> str:
    lines = [line for line in m["stderr_tail"].splitlines() if line.strip()]
    return f"exit {m['returncode']}: {lines[-1] if lines else 'no message'}"


def _synth(n: int, seed: int, out: Path, *extra: str) -> list[str]:
    """The ``wraparound synth`` command line for n patients into ``out``."""
    return [
        str(BIN),
        "synth",
        "--patients",
        str(n),
        "--seed",
        str(seed),
        *extra,
        "--out",
        str(out),
        "--overwrite",
    ]


def synthesis(rows: list[dict], workdir: Path, n: int, seed: int) -> Path:
    warehouse = workdir / f"synth-{n}"
    if done(rows, "synthesis", NO_ENGINE, n) and paths.manifest(warehouse).exists():
        return warehouse
    m = run_sampled(_synth(n, seed, warehouse))
    if not m["ok"]:
        raise SystemExit(f"synthesis of {n:,} failed: {_failure(m)}")
    record(rows, _row("synthesis", NO_ENGINE, n, m))
    return warehouse


def ingest(rows: list[dict], workdir: Path, n: int, seed: int, budget_mib: float) -> None:
    if done(rows, "ingest", NO_ENGINE, n):
        return
    measured = [
        r for r in rows if r["stage"] == "ingest" and r["status"] == "ok" and r["patients"] < n
    ]
    if measured:
        largest = max(measured, key=lambda r: r["patients"])
        projected = largest["peak_rss_mib"] / largest["patients"] * n
        if projected > 0.85 * budget_mib:
            record(
                rows,
                {
                    "stage": "ingest",
                    "engine": NO_ENGINE,
                    "patients": n,
                    "status": "skipped",
                    "projected_peak_rss_mib": round(projected),
                    "note": (
                        f"one batch of {n:,} patients is projected to need "
                        f"{projected / 1024:.1f} GiB (from {largest['patients']:,}); "
                        "load it as several batches"
                    ),
                },
            )
            return
    fhir, target = workdir / f"fhir-{n}", workdir / f"ingested-{n}"
    export = run_sampled(_synth(n, seed, fhir, "--format", "fhir"))
    if not export["ok"]:
        raise SystemExit(f"FHIR export of {n:,} failed: {_failure(export)}")
    shutil.rmtree(target, ignore_errors=True)
    report = workdir / f"ingest-{n}.json"
    m = run_sampled(
        [
            str(BIN),
            "ingest",
            str(fhir),
            "--warehouse",
            str(target),
            "--quiet",
            "--report",
            str(report),
        ]
    )
    row = _row("ingest", NO_ENGINE, n, m)
    if m["ok"]:
        detail = json.loads(report.read_text())
        row["resources"] = detail.get("resources_read") or detail.get("resources")
        row["input_mib"] = round(sum(f.stat().st_size for f in fhir.rglob("*")) / 2**20, 1)
    record(rows, row)
    shutil.rmtree(fhir, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)


DEFAULT_DUCKDB_LIMIT = "12GB"


def label(engine: str, args: argparse.Namespace) -> str:
    """How a run is recorded: the engine, and for DuckDB under another memory limit than the
    default, the limit too (``duckdb@3GB``), so a spilling run sits beside the others."""
    if engine == "duckdb" and args.duckdb_memory_limit != DEFAULT_DUCKDB_LIMIT:
        return f"duckdb@{args.duckdb_memory_limit}"
    return engine


def engine_env(engine: str, args: argparse.Namespace) -> dict:
    if engine == "spark":
        return {
            "WRAPAROUND_ENGINE": "spark",
            "WRAPAROUND_SPARK_DRIVER_MEMORY": args.spark_driver_memory,
            "WRAPAROUND_SPARK_MAX_RESULT_SIZE": args.spark_driver_memory,
        }
    return {
        "WRAPAROUND_ENGINE": "duckdb",
        "WRAPAROUND_DUCKDB_MEMORY_LIMIT": args.duckdb_memory_limit,
        "WRAPAROUND_DUCKDB_TEMP_DIRECTORY": str(args.workdir / "spill"),
    }


def stratify(rows: list[dict], warehouse: Path, n: int, engine: str, args) -> None:
    key = label(engine, args)
    if all(done(rows, s, key, n) for s in STRATIFY_STAGES):
        return
    spill = args.workdir / "spill"
    m = run_sampled(
        [str(BIN), "stratify", "--warehouse", str(warehouse), "--json"],
        env=engine_env(engine, args),
        spill_dir=spill if engine == "duckdb" else None,
    )
    if not m["ok"]:
        for stage in STRATIFY_STAGES:
            record(rows, _failed(stage, key, n, m))
        return
    report = json.loads(m["stdout"])
    windows = {name: (start, end) for name, start, end in report["phase_windows"]}
    for stage, phases in STRATIFY_STAGES.items():
        start, end = windows[phases[0]][0], windows[phases[-1]][1]
        record(
            rows,
            {
                "stage": stage,
                "engine": key,
                "patients": n,
                "status": "ok",
                "seconds": round(sum(report["timings"][p] for p in phases), 2),
                "peak_rss_mib": peak_between(m["samples"], start, end),
                "spill_peak_mib": m["spill_peak_mib"],
                "process_seconds": m["seconds"],
                "process_peak_rss_mib": m["peak_rss_mib"],
                **({"training_rows": report["training_rows"]} if stage == "training" else {}),
                **({"auroc": round(report["auroc"], 4)} if stage == "scoring" else {}),
            },
        )


def indicators(rows: list[dict], warehouse: Path, n: int, engine: str, args) -> None:
    key = label(engine, args)
    if done(rows, "indicators", key, n):
        return
    out = args.workdir / f"indicators-{n}-{key}"
    shutil.rmtree(out, ignore_errors=True)
    m = run_sampled(
        [str(BIN), "indicators", "--warehouse", str(warehouse), "--out", str(out)],
        env=engine_env(engine, args),
        spill_dir=args.workdir / "spill" if engine == "duckdb" else None,
    )
    if not m["ok"]:
        record(rows, _failed("indicators", key, n, m))
        return
    row = _row("indicators", key, n, m)
    run_id = json.loads((out / paths.LATEST).read_text())["run_id"]
    manifest = json.loads(paths.run_manifest(out / run_id).read_text())
    row["values"] = manifest["row_counts"]["indicator_values"]
    row["computed"] = sum(d["status"] == "computed" for d in manifest["definitions"])
    record(rows, row)
    shutil.rmtree(out, ignore_errors=True)


def _row(stage: str, engine: str, n: int, m: dict) -> dict:
    if not m["ok"]:
        return _failed(stage, engine, n, m)
    return {
        "stage": stage,
        "engine": engine,
        "patients": n,
        "status": "ok",
        "seconds": m["seconds"],
        "peak_rss_mib": m["peak_rss_mib"],
        "spill_peak_mib": m["spill_peak_mib"],
    }


def _failed(stage: str, engine: str, n: int, m: dict) -> dict:
    return {
        "stage": stage,
        "engine": engine,
        "patients": n,
        "status": "failed",
        "seconds": m["seconds"],
        "peak_rss_mib": m["peak_rss_mib"],
        "note": _failure(m),
    }


def growth(rows: list[dict]) -> dict:
    """Exponent b of time ~ patients^b (least squares on logs) per stage and engine, and
    the same for peak memory, over the sizes that completed."""
    import numpy as np

    out = {}
    for stage in STAGES:
        for engine in sorted({r["engine"] for r in rows if r["stage"] == stage}):
            ok = sorted(
                (
                    r
                    for r in rows
                    if (r["stage"], r["engine"], r["status"]) == (stage, engine, "ok")
                ),
                key=lambda r: r["patients"],
            )
            if len(ok) < 2:
                continue
            n = np.log([r["patients"] for r in ok])
            out[f"{stage}/{engine}"] = {
                "sizes": [r["patients"] for r in ok],
                "time_exponent": round(
                    float(np.polyfit(n, np.log([r["seconds"] for r in ok]), 1)[0]), 2
                ),
                "memory_exponent": round(
                    float(np.polyfit(n, np.log([max(r["peak_rss_mib"], 1) for r in ok]), 1)[0]), 2
                ),
                "seconds_per_million": round(ok[-1]["seconds"] / ok[-1]["patients"] * 1e6, 1),
            }
    return out


def plot(rows: list[dict], budget_gib: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (time_ax, mem_ax) = plt.subplots(1, 2, figsize=(13, 5.5))
    styles = {"duckdb": "-", "spark": "--", NO_ENGINE: ":"}
    colours = dict(zip(STAGES, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for stage in STAGES:
        for engine in _engines(rows):
            ok = sorted(
                (
                    r
                    for r in rows
                    if (r["stage"], r["engine"], r["status"]) == (stage, engine, "ok")
                ),
                key=lambda r: r["patients"],
            )
            if not ok:
                continue
            x = [r["patients"] for r in ok]
            kw = {
                "color": colours[stage],
                "linestyle": styles.get(engine, "-."),
                "marker": "o",
                "label": stage if engine == NO_ENGINE else f"{stage} ({engine})",
            }
            time_ax.plot(x, [r["seconds"] for r in ok], **kw)
            mem_ax.plot(x, [r["peak_rss_mib"] / 1024 for r in ok], **kw)
    mem_ax.axhline(budget_gib, color="grey", linewidth=1)
    mem_ax.annotate(f"{budget_gib:g} GiB machine", (0.02, 0.93), xycoords="axes fraction")
    for ax, title, unit in (
        (time_ax, "Wall time per stage", "seconds"),
        (mem_ax, "Peak resident memory per stage", "GiB (process tree)"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("registered patients")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    time_ax.legend(fontsize=7, ncol=2)
    fig.suptitle("Wraparound pipeline cost curves: solid DuckDB, dashed Spark (local, 2 cores)")
    fig.tight_layout()
    path = RESULTS / f"{NAME}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _engines(rows: list[dict]) -> list[str]:
    """DuckDB, Spark, no engine, then any DuckDB run under another memory limit."""
    order = ["duckdb", "spark", NO_ENGINE]
    return order + sorted({r["engine"] for r in rows} - set(order))


def summary(rows: list[dict]) -> str:
    sizes = sorted({r["patients"] for r in rows})
    lines = ["stage        engine      " + "".join(f"{n:>22,}" for n in sizes)]
    for stage in STAGES:
        for engine in _engines(rows):
            cells = {r["patients"]: r for r in rows if (r["stage"], r["engine"]) == (stage, engine)}
            if not cells:
                continue
            text = []
            for n in sizes:
                r = cells.get(n)
                if r is None:
                    text.append("-")
                elif r["status"] != "ok":
                    text.append(r["status"])
                else:
                    text.append(f"{r['seconds']:.1f} s {r['peak_rss_mib'] / 1024:.1f} GiB")
            lines.append(f"{stage:<12} {engine:<11} " + "".join(f"{t:>22}" for t in text))
    for key, g in growth(rows).items():
        lines.append(
            f"growth {key:<20} time ~ N^{g['time_exponent']:.2f}, "
            f"memory ~ N^{g['memory_exponent']:.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--patients", type=int, nargs="+", default=[100_000, 300_000, 1_000_000, 3_000_000]
    )
    parser.add_argument(
        "--engines", nargs="+", default=["duckdb", "spark"], choices=["duckdb", "spark"]
    )
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench/cost"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duckdb-memory-limit", default=DEFAULT_DUCKDB_LIMIT)
    parser.add_argument("--spark-driver-memory", default="12g")
    parser.add_argument("--memory-budget-gib", type=float, default=24.0)
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument(
        "--again",
        action="store_true",
        help="measure again the given stages, engines and sizes even if already recorded",
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    settings = {
        "duckdb_memory_limit": args.duckdb_memory_limit,
        "spark_driver_memory": args.spark_driver_memory,
        "spark_master": os.environ.get("WRAPAROUND_SPARK_MASTER", "local[*]"),
        "memory_budget_gib": args.memory_budget_gib,
        "seed": args.seed,
    }
    rows = load_rows()
    if args.again:
        keys = {label(e, args) for e in args.engines} | {NO_ENGINE}
        rows = [
            r
            for r in rows
            if not (
                r["patients"] in args.patients and r["stage"] in args.stages and r["engine"] in keys
            )
        ]
    if not args.plot_only:
        for n in sorted(args.patients):
            started = time.perf_counter()
            warehouse = synthesis(rows, args.workdir, n, args.seed)
            save(rows, settings)
            if "ingest" in args.stages:
                ingest(rows, args.workdir, n, args.seed, args.memory_budget_gib * 1024)
                save(rows, settings)
            for engine in args.engines:
                if {"features", "training", "scoring"} & set(args.stages):
                    stratify(rows, warehouse, n, engine, args)
                    save(rows, settings)
                if "indicators" in args.stages:
                    indicators(rows, warehouse, n, engine, args)
                    save(rows, settings)
            print(f"{n:,} patients done in {time.perf_counter() - started:.0f} s", flush=True)
    path = save(rows, settings)
    print(summary(rows))
    print(f"results: {path}\nplot: {plot(rows, args.memory_budget_gib)}")


if __name__ == "__main__":
    main()
