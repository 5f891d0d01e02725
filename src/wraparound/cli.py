"""The ``wraparound`` command. Each sub-command is a thin shell over a module that does the work,
so the same work is callable from tests and benchmarks without going through the CLI."""

from __future__ import annotations

import contextlib
import enum
import json
import sys
from pathlib import Path

import typer
import typer.core
from typer.exceptions import TyperException

from wraparound import config


@contextlib.contextmanager
def user_errors():
    """Every failure of a command is one clear line on stderr and a non-zero exit, never a
    traceback. Problems the user can fix (a busy output folder, a path that is not a
    warehouse, a damaged warehouse, a bad value, a file that cannot be read) exit with status
    2 and say what is wrong; anything else exits with status 1 and names the failure.
    ``WRAPAROUND_DEBUG=1`` lets the exception through, with its traceback, for developers.

    Every command runs inside it (``_CleanErrors``), so a new command needs nothing to get it.
    """
    import duckdb
    import pyarrow as pa

    from wraparound.sources.synthetic.writer import OutputExistsError
    from wraparound.warehouse.check import one_line
    from wraparound.warehouse.store import WarehouseError

    try:
        yield
    except (TyperException, typer.Exit, typer.Abort):  # usage errors, exits: typer's own
        raise
    except Exception as exc:
        if _debug_traceback():
            raise
        if isinstance(
            exc, OutputExistsError | WarehouseError | ValueError | OSError | pa.ArrowException
        ):
            typer.echo(f"error: {one_line(exc)}", err=True)
            raise typer.Exit(2) from None
        if isinstance(exc, duckdb.Error):
            typer.echo(f"error: the engine could not read the data: {one_line(exc)}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"error: unexpected failure ({type(exc).__name__}: {one_line(exc)})", err=True)
        raise typer.Exit(1) from None


def _debug_traceback() -> bool:
    """``WRAPAROUND_DEBUG`` set, read so that a bad value of another setting (the failure
    being reported, perhaps) cannot fail again here."""
    try:
        return config.current().debug_traceback
    except config.ConfigurationError:
        return False


class _CleanErrors(typer.core.TyperGroup):
    """The ``wraparound`` group: every sub-command (``app ...`` and ``audit ...`` included,
    whose groups run inside this one) is invoked inside :func:`user_errors`."""

    def invoke(self, ctx: typer.Context):
        with user_errors():
            config.current()  # read once at start-up: a bad value is one line before any work
            return super().invoke(ctx)


app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, cls=_CleanErrors)


def readable_warehouse(path: Path):
    """The warehouse at ``path`` after checking it can be read (``warehouse/check.py``)."""
    from wraparound.warehouse.check import readable

    return readable(path)


def iso_date(value: str | None):
    """``--index-date`` and the like: a date, or a usage error naming the bad value."""
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD") from None


class SynthFormat(enum.StrEnum):
    warehouse = "warehouse"
    fhir = "fhir"


@app.command()
def synth(
    patients: int = typer.Option(..., "--patients", min=1, help="Registered patients to create."),
    seed: int = typer.Option(42, "--seed", help="Random seed; same seed, same locality."),
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    format: SynthFormat = typer.Option(SynthFormat.warehouse, "--format"),
    years: int = typer.Option(3, "--years", min=3, max=10, help="Years of event history."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace DIR if it exists."),
    intervention: str | None = typer.Option(
        None,
        "--intervention",
        help="Simulate this intervention (a packaged id or a .toml file): its [simulation] "
        "change in the emergency-admission hazard, written to DIR/oracle/.",
    ),
) -> None:
    """Create a realistic synthetic locality (warehouse, or FHIR R4 for ingest)."""
    from wraparound.interventions import load as load_intervention
    from wraparound.sources.synthetic.writer import write_synthetic

    simulated = None if intervention is None else load_intervention(intervention)
    result = write_synthetic(
        out,
        patients=patients,
        seed=seed,
        years=years,
        fmt=format.value,
        overwrite=overwrite,
        intervention=simulated,
    )
    typer.echo(json.dumps(result, indent=2))


@app.command()
def summary(
    warehouse: Path = typer.Option(..., "--warehouse", help="Warehouse directory."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Population, practices, register prevalence and hospital use of a warehouse."""
    readable_warehouse(warehouse)  # before the analytics are imported: a refusal is quick
    from wraparound.analytics.summary import render, summarise

    result = summarise(warehouse)
    typer.echo(json.dumps(result, indent=2) if as_json else render(result))


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="FHIR JSON/NDJSON or CSV files or folders."),
    warehouse: Path = typer.Option(..., "--warehouse", help="Warehouse directory."),
    report: Path | None = typer.Option(None, "--report", help="Write a JSON report here."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    strict: bool = typer.Option(
        False, "--strict", help="Validate every FHIR resource against the R4 models first."
    ),
) -> None:
    """Validate and load a batch: all of it, or (if anything is rejected) none of it."""
    from wraparound.sources.ingest import run_ingest
    from wraparound.warehouse import paths as warehouse_paths

    # A new warehouse may be named (ingest creates it); an existing one must be readable.
    if warehouse.exists() and not warehouse.is_dir():
        raise ValueError(f"{warehouse} is a file, not a warehouse directory")
    if warehouse_paths.manifest(warehouse).exists():
        readable_warehouse(warehouse)
    if report is not None and not report.parent.is_dir():
        raise ValueError(f"--report {report}: no such folder {report.parent}")
    result = run_ingest(paths, warehouse, progress=not quiet, strict=strict)
    text = json.dumps(result.report, indent=2, default=str)
    if report:
        report.write_text(text)
    typer.echo(result.summary_line, err=not result.ok)
    if not result.ok:
        for error in result.report["errors"][:20]:
            typer.echo(f"  {error['file']}:{error['position']}: {error['reason']}", err=True)
        sys.exit(1)


@app.command()
def stratify(
    warehouse: Path = typer.Option(..., "--warehouse", help="Warehouse directory."),
    index_date: str | None = typer.Option(
        None,
        "--index-date",
        help="Current index date YYYY-MM-DD (default: day after the last encounter).",
        callback=iso_date,
    ),
    seed: int = typer.Option(42, "--seed", help="Random seed; same seed and data, same scores."),
    rules: Path | None = typer.Option(
        None,
        "--rules",
        help="Streams/registers rules file (default: the packaged data/streams.toml).",
        exists=True,
        dir_okay=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """12-month emergency admission risk, eFI, streams and registers; publishes the results."""
    import numpy as np

    from wraparound.analytics.stratify import render, run

    readable_warehouse(warehouse)
    try:
        result = run(warehouse, current=index_date, seed=seed, rules_path=rules)
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            f"the risk model cannot be fitted on {warehouse} ({exc}): too few patients or "
            "admissions to learn from"
        ) from None
    typer.echo(json.dumps(result, indent=2, default=str) if as_json else render(result))


@app.command()
def indicators(
    warehouse: Path = typer.Option(..., "--warehouse", help="Warehouse directory."),
    out: Path | None = typer.Option(
        None, "--out", help="Output directory (default: WAREHOUSE/results/indicators)."
    ),
    baseline_year: int | None = typer.Option(
        None,
        "--baseline-year",
        help="Financial year starting April YYYY for outcomes (default: the first complete one).",
    ),
    full: bool = typer.Option(
        False,
        "--full",
        help="Compute every month again, reusing nothing from the previous run.",
    ),
) -> None:
    """Every indicator for every practice, neighbourhood and the locality, per month.

    Months the data loaded since the previous run cannot change are reused from it."""
    readable_warehouse(warehouse)  # before the analytics are imported: a refusal is quick
    if out is not None and out.exists() and not out.is_dir():  # before the long computation
        raise ValueError(f"--out {out} is a file, not a folder")
    from wraparound.analytics.indicators.run import run

    manifest = run(warehouse, out=out, baseline_year=baseline_year, full=full)
    waiting = [d["id"] for d in manifest["definitions"] if d["status"] != "computed"]
    typer.echo(
        f"Run {manifest['run_id']}: {len(manifest['definitions']) - len(waiting)} "
        f"indicators computed, {manifest['periods']['first']} to "
        f"{manifest['periods']['last']}; {manifest['row_counts']['outliers']} "
        f"practice-months outside the 99.8% limits."
    )
    done = manifest["months_computed"]
    total = len(done) * (len(manifest["reuse"]["months"]) or 1)
    reused = manifest["reused_from"]
    typer.echo(
        f"Months computed: {sum(done.values())} of {total} indicator-months"
        + (f" (the rest reused from run {reused})." if reused else ".")
    )
    if waiting:
        typer.echo(f"Awaiting data: {', '.join(waiting)}")


@app.command()
def evaluate(
    warehouse: Path = typer.Option(..., "--warehouse", help="Warehouse directory."),
    intervention: str = typer.Option(
        ..., "--intervention", help="A packaged intervention id, or a .toml file."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Evaluate an intervention: difference-in-differences (staggered), interrupted time
    series and placebo per outcome, published under WAREHOUSE/evaluation/<id>/."""
    from wraparound.analytics.evaluation_run import evaluate as run_evaluation
    from wraparound.interventions import load as load_intervention

    readable_warehouse(warehouse)
    report = run_evaluation(warehouse, load_intervention(intervention), progress=not quiet)
    for outcome, r in report["outcomes"].items():
        d = r["did"]
        typer.echo(
            f"{outcome}: {100 * d['relative']:+.1f}% (95% CI {100 * d['relative_lower']:+.1f}% "
            f"to {100 * d['relative_upper']:+.1f}%), p={d['p_value']:.3f}; "
            f"{'attributable' if r['attributable'] else 'not shown to be attributable'}"
        )
    typer.echo(f"Written to {warehouse}/evaluation/{report['intervention']['id']}/")


@app.command("local-qof")
def local_qof(
    warehouse: Path = typer.Option(..., "--warehouse", help="Warehouse directory."),
    scheme: str | None = typer.Option(
        None, "--scheme", help="Scheme id in data/schemes/ (default: the only one)."
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Stop the scheme year at the end of this month (YYYY-MM)."
    ),
    claims: Path | None = typer.Option(
        None, "--claims", help="Also write the claims CSV (one row per practice and line) here."
    ),
) -> None:
    """Local QOF achievement and payment per practice, month and line of a scheme, with the
    projection to the year end, published under WAREHOUSE/results/local_qof/."""
    import datetime as dt

    from wraparound.analytics.local_qof.run import latest, run

    readable_warehouse(warehouse)
    day = None
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(f"{as_of}-01")
        except ValueError:
            raise typer.BadParameter("--as-of must be a month, YYYY-MM") from None
    if claims is not None and claims.is_dir():
        raise typer.BadParameter(f"--claims {claims} is a folder, not a file")
    manifest = run(warehouse, scheme_id=scheme, as_of=day)
    s, p = manifest["scheme"], manifest["periods"]
    typer.echo(
        f"Run {manifest['run_id']}: {s['id']} v{s['version']} {s['year']}, {p['first']} to "
        f"{p['last']}{' (final)' if p['final'] else ''}; "
        f"{manifest['row_counts']['claims']} claims rows, "
        f"£{manifest['totals']['payment_gbp']:,.2f} to date, "
        f"£{manifest['totals']['projected_payment_gbp']:,.2f} projected"
    )
    if claims is not None:
        claims.write_bytes((latest(warehouse) / "claims.csv").read_bytes())
        typer.echo(f"Claims written to {claims}")


@app.command()
def demand(
    warehouse: Path = typer.Option(..., "--warehouse", help="Warehouse directory."),
    growth: str = typer.Option(
        "east_leicestershire", "--growth", help="Population growth: a packaged id or a .toml file."
    ),
    years: int = typer.Option(5, "--years", min=1, max=15, help="Years to project."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Project GP appointments, hub minutes, A&E attendances and emergency admissions from
    today's use rates and population growth, with and without the -15% target; published
    under WAREHOUSE/evaluation/demand/."""
    from wraparound.analytics.demand import load_growth, project

    readable_warehouse(warehouse)
    result = project(warehouse, load_growth(growth), years=years, progress=not quiet)
    for m in result["measures"]:
        last = m["years"][-1]
        typer.echo(
            f"{m['name']}: {m['baseline']:,.0f} a year now, {last['projected']:,.0f} in "
            f"{last['year']} ({last['projected_with_target']:,.0f} with the target)"
        )


@app.command()
def refresh(
    paths: list[Path] = typer.Argument(
        None, help="The day's FHIR JSON/NDJSON or CSV files or folders (none without a feed)."
    ),
    warehouse: Path = typer.Option(..., "--warehouse", help="Warehouse directory."),
    report: Path | None = typer.Option(
        None,
        "--report",
        help="Write the JSON run report here (default: WAREHOUSE/runs/overnight/<UTC>.json).",
    ),
    start: str = typer.Option(
        "ingest",
        "--from",
        help="Start at this stage, the earlier ones' published results as they are: ingest, "
        "stratify, demand, indicators, evaluate, local_qof or app_refresh.",
    ),
    growth: str | None = typer.Option(
        None,
        "--growth",
        help="Demand growth: a packaged id or a .toml file (default: the last projection's).",
    ),
    intervention: list[str] = typer.Option(
        [],
        "--intervention",
        help="Also evaluate this intervention (those evaluated before always are).",
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Validate every FHIR resource against the R4 models first."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display."),
) -> None:
    """The overnight run: ingest the day's feed, stratify, demand, indicators, evaluations,
    local QOF, then the app refresh and app events export in one app-database transaction
    (WRAPAROUND_DB or DATABASE_URL). A stage's failure stops the run (exit 1) and leaves the
    previous night's results serving. Writes a JSON run report of each stage's time and
    peak memory."""
    from wraparound import overnight
    from wraparound.warehouse import paths as warehouse_paths

    if warehouse.exists() and not warehouse.is_dir():
        raise ValueError(f"{warehouse} is a file, not a warehouse directory")
    if not paths or warehouse_paths.manifest(warehouse).exists():
        readable_warehouse(warehouse)  # only a feed may create a warehouse
    if report is not None and not report.parent.is_dir():
        raise ValueError(f"--report {report}: no such folder {report.parent}")
    if report is not None and report.is_dir():
        raise ValueError(f"--report {report} is a folder, not a file")
    if start not in overnight.STAGES or start in overnight.APP_STAGES[1:]:
        raise typer.BadParameter(f"--from {start}: not a stage to start at")
    options = overnight.Options(
        warehouse=warehouse,
        feed=list(paths or []),
        report=report,
        start=start,
        growth=growth,
        interventions=tuple(intervention),
        strict=strict,
        progress=not quiet,
    )
    result = overnight.run(options, debug=_debug_traceback())
    if result["outcome"] != "ok":
        skipped = [s["stage"] for s in result["stages"] if s.get("reason", "").endswith("failed")]
        typer.echo(
            f"error: the overnight refresh failed at {result['failed_stage']}: "
            f"{result['error']}; the app still shows the previous refresh"
            f"{' (not run: ' + ', '.join(skipped) + ')' if skipped else ''}. "
            f"Report: {result['path']}",
            err=True,
        )
        raise typer.Exit(1)
    sizes = result["sizes"]
    typer.echo(
        f"Refreshed {result['warehouse']} in {result['seconds']:.1f} s: "
        f"{sizes.get('patients', 0):,} patients, {sizes['resources_ingested']:,} resources "
        f"ingested; app {result['app']}; peak {result['peak_rss_mib']:,.0f} MiB. "
        f"Report: {result['path']}"
    )


def _add_app_commands() -> None:
    from wraparound.apps.audit_cli import audit_cli
    from wraparound.apps.cli import app_cli

    app.add_typer(app_cli, name="app")
    app.add_typer(audit_cli, name="audit")
    from wraparound.idp.cli import idp_cli

    app.add_typer(idp_cli, name="idp")


_add_app_commands()


if __name__ == "__main__":
    app()
