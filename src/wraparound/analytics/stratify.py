"""``wraparound stratify``: one risk stratification run, from warehouse to published results.

The run is a temporal validation followed by a deployment, as a real refresh would be:

1. **Train** on the training index date (two years before the current one), whose 12-month
   outcome is known, with features from the 12 months before it.
2. **Validate** that model on the next year (the validation index date): the held-out
   future. Every reported figure (model, baselines, subgroups, oracle) comes from here.
3. **Refit** the same recipe (features, parameters, seed) on the validation index date,
   the most recent year with a known outcome, and **score** everyone registered on the
   current index date with it. The refit is what a deployment uses: it has learnt from the
   latest year; its expected performance is the validated figure of its recipe.

Opted-out patients are left out of every training set and every figure, and are scored like
everyone else: scoring is for their own direct care.

Results go to ``DIR/results/risk/<run_id>/`` and ``DIR/results/risk/latest.json`` is
replaced last, atomically, so the app never reads a half-written run.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from wraparound import clinical, vocabulary
from wraparound.analytics import features as feats
from wraparound.analytics import registers, results, streams
from wraparound.analytics.frailty import deficit_columns
from wraparound.analytics.population import AGE_BANDS
from wraparound.analytics.risk import baselines, card, explain, governance, metrics
from wraparound.analytics.risk import config as risk_config
from wraparound.analytics.risk.model import RiskModel, matrix, stratified_sample, train
from wraparound.warehouse import paths
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

DEFAULT_SEED = 42
SCORE_CHUNK = 200_000
"""Rows explained at a time: bounds the SHAP matrix to about 130 MB."""


@dataclass(frozen=True)
class IndexDates:
    training: dt.date
    validation: dt.date
    current: dt.date


class Phases:
    """Each phase's duration, and its wall-clock window (epoch seconds) so that a benchmark
    sampling this process's memory from outside can say which phase reached the peak."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.windows: list[tuple[str, float, float]] = []
        self.restart()

    def restart(self) -> None:
        self._clock, self._wall = time.perf_counter(), time.time()

    def elapsed(self) -> float:
        """Seconds since the current phase began."""
        return time.perf_counter() - self._clock

    def end(self, name: str) -> None:
        seconds = time.perf_counter() - self._clock
        self.timings[name] = seconds
        self.windows.append((name, self._wall, self._wall + seconds))
        self.restart()


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def index_dates(engine, current: dt.date | None = None) -> IndexDates:
    """Current = the day after the last encounter (the data end), unless given; validation
    one year earlier; training one year before that."""
    if current is None:
        enc = engine.table("encounters")
        last = engine.to_arrow(enc.aggregate(last=enc.start.max())).column("last")[0]
        if not last.is_valid:
            raise ValueError("the warehouse has no encounters: no data end date")
        current = last.as_py().date() + dt.timedelta(days=1)
    return IndexDates(years_before(current, 2), years_before(current, 1), current)


def outcome(engine, index_date: dt.date):
    """Patients with any emergency admission in the 12 months from ``index_date``."""
    enc = engine.table("encounters")
    end = years_before(index_date, -1)
    return (
        enc.filter(
            (enc.kind == "emergency_admission")
            & (enc.status == "attended")
            & (enc.start >= feats._midnight(index_date))
            & (enc.start < feats._midnight(end))
        )
        .select("patient_id")
        .distinct()
    )


def labelled(engine, index_date: dt.date) -> pl.DataFrame:
    """Features at ``index_date`` with ``admitted`` (0/1), the outcome."""
    table = pl.from_arrow(feats.features(engine, index_date))
    admitted = pl.from_arrow(engine.to_arrow(outcome(engine, index_date)))
    return table.with_columns(
        admitted=pl.col("patient_id").is_in(admitted["patient_id"].implode()).cast(pl.Int8)
    )


def _for_secondary_use(df: pl.DataFrame) -> pl.DataFrame:
    return df.filter(~pl.col("opted_out"))


def _xy(df: pl.DataFrame, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    return matrix(df.to_arrow(), names), df["admitted"].to_numpy()


def subgroup_labels(df: pl.DataFrame) -> dict[str, np.ndarray]:
    """Sex, age band, deprivation quintile (1 = most deprived) and ethnic group."""
    age = df["age"].to_numpy()
    band = np.full(age.size, "unknown", dtype=object)
    for lo, hi, label in AGE_BANDS:
        band[(age >= lo) & (age <= hi)] = label
    groups = {e.code: e.group for e in clinical.ethnicities()}
    decile = df["imd_decile"].to_numpy()
    return {
        "sex": df["sex"].fill_null("unknown").to_numpy(),
        "age_band": band,
        "imd_quintile": np.where(
            np.isnan(decile.astype(float)),
            "unknown",
            ((np.nan_to_num(decile) + 1) // 2).astype(int).astype(str),
        ),
        "ethnic_group": df["ethnicity"].replace_strict(groups, default="unknown").to_numpy(),
    }


def oracle_auroc(warehouse: Path, valid: pl.DataFrame, index_date: dt.date) -> float | None:
    """AUROC of the synthetic generator's true risks on the validation cohort, when the
    warehouse came from the generator. Only evaluation reads the oracle."""
    path = paths.oracle(warehouse)
    if not path.exists():
        return None
    oracle = pl.read_parquet(path).filter(pl.col("index_date") == index_date)
    joined = valid.select("patient_id", "admitted").join(
        oracle.select("patient_id", "true_risk"), on="patient_id", how="inner"
    )
    if joined.height < valid.height * 0.99:
        return None  # not this warehouse's oracle (or not this population)
    return metrics.evaluate(joined["admitted"].to_numpy(), joined["true_risk"].to_numpy())["auroc"]


def validate(
    train_df: pl.DataFrame,
    valid_df: pl.DataFrame,
    seed: int,
    threads: int | None,
    config: risk_config.ModelConfig | None = None,
) -> tuple[RiskModel, dict, np.ndarray]:
    """Train on the training year, evaluate it and the baselines on the held-out year.
    The baselines learn from the same rows as the model (its stratified sample, if any)."""
    config = config or risk_config.load().model
    names = feats.model_features()
    x_tr, y_tr = _xy(train_df, names)
    x_va, y_va = _xy(valid_df, names)
    model = train(x_tr, y_tr, names, seed, threads=threads, config=config)
    p = model.predict(x_va)
    report = metrics.full_report(y_va, p)
    sample = stratified_sample(y_tr, config.max_training_rows, seed)
    if sample is not None:
        x_tr, y_tr, train_df = x_tr[sample], y_tr[sample], train_df[sample]
    cols = {c: train_df[c].to_numpy() for c in ("age", "female", "emergency_admissions")}
    test = {c: valid_df[c].to_numpy() for c in cols}
    fill = np.where(
        np.array(names) == "days_since_emergency_admission", feats.LOOKBACK_DAYS + 1, 0
    ).astype(np.float32)
    base = {
        "age_sex": baselines.age_sex(cols, y_tr, test),
        "prior_emergency_admissions": baselines.prior_admissions(cols, y_tr, test),
        "logistic_regression": baselines.logistic(x_tr, y_tr, x_va, fill, seed),
    }
    report["baselines"] = {
        name: metrics.evaluate(y_va, b) | metrics.top_fractions(y_va, b) for name, b in base.items()
    }
    report["subgroups"] = metrics.by_group(y_va, p, subgroup_labels(valid_df))
    report["curves"] = {
        "LightGBM": p,
        "logistic regression": base["logistic_regression"],
        "age and sex": base["age_sex"],
    }
    return model, report, y_va


def score(model: RiskModel, current: pl.DataFrame) -> pl.DataFrame:
    """Calibrated scores and the eFI deficits present, for every patient; ``reasons`` is
    null until ``add_reasons`` fills it in for the patients a person will read."""
    x = matrix(current.to_arrow(), model.features)
    scores = [model.predict(x[lo : lo + SCORE_CHUNK]) for lo in range(0, x.shape[0], SCORE_CHUNK)]
    return current.with_columns(
        score=pl.Series(np.concatenate(scores) if scores else np.empty(0)),
        deficits=pl.from_arrow(_deficit_lists(current)),
        reasons=pl.lit(None, dtype=pl.List(pl.String)),
    )


def to_explain(
    scored: pl.DataFrame, reasons: risk_config.ReasonsConfig, rules: streams.Rules, locality: str
) -> np.ndarray:
    """Who is given reasons (``scored`` as ``streams.assign`` returns it): everyone on a
    register, in one of ``reasons.streams`` or in the locality's top ``reasons.top_percent``
    (or everyone, with ``reasons.everyone``)."""
    n = scored.height
    if reasons.everyone:
        return np.ones(n, dtype=bool)
    wanted = scored["stream"].is_in(list(reasons.streams))
    if reasons.top_percent:
        wanted = wanted | (scored["rank"] <= metrics.top_k(n, reasons.top_percent))
    on_register = registers.members(scored, rules, locality).implode()
    wanted = wanted | scored["patient_id"].is_in(on_register)
    return wanted.fill_null(False).to_numpy()


def add_reasons(model: RiskModel, scored: pl.DataFrame, who: np.ndarray) -> pl.DataFrame:
    """``scored`` with ``reasons`` for the rows where ``who`` is true (null elsewhere).
    Only these rows pay for the per-patient SHAP contributions, ``SCORE_CHUNK`` at a time."""
    chosen = np.flatnonzero(who)
    picked = scored.filter(pl.Series(who)) if chosen.size < scored.height else scored
    x = matrix(picked.select(model.features).to_arrow(), model.features)
    category = picked["efi_category"].to_list()
    parts = []
    for lo in range(0, x.shape[0], SCORE_CHUNK):
        part = x[lo : lo + SCORE_CHUNK]
        parts.append(
            explain.reasons(
                model.contributions(part), part, model.features, category[lo : lo + SCORE_CHUNK]
            )
        )
    given = pa.chunked_array(parts, pa.list_(pa.string())).combine_chunks()
    position = np.full(scored.height, -1, dtype=np.int64)
    position[chosen] = np.arange(chosen.size)
    full = given.take(pa.array(position, mask=position < 0))
    return scored.with_columns(reasons=pl.from_arrow(full))


def _deficit_lists(current: pl.DataFrame) -> pa.ListArray:
    names = np.array([d.name for d in clinical.efi_deficits()], dtype=object)
    flags = current.select(deficit_columns()).to_numpy() == 1
    _rows, cols = np.nonzero(flags)  # row-major: each patient's deficits together
    offsets = np.concatenate([[0], np.cumsum(flags.sum(axis=1))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(names[cols], pa.string()))


@dataclass(frozen=True)
class Cohorts:
    """What a run reads from the warehouse: the three index dates, the training and held-out
    cohorts (opted-out patients already left out) and everyone registered on the current
    index date (opted-out patients included: scoring is for direct care)."""

    dates: IndexDates
    train: pl.DataFrame
    valid: pl.DataFrame
    current: pl.DataFrame
    locality: str


@dataclass(frozen=True)
class Fitted:
    """The validated model, its held-out report (curves taken out, for the ROC plot), the
    held-out outcomes, and the deployed refit on the validation year."""

    validated: RiskModel
    deployed: RiskModel
    report: dict
    curves: dict
    y_valid: np.ndarray


def run(
    warehouse: Path,
    current: dt.date | None = None,
    seed: int = DEFAULT_SEED,
    rules_path: Path | None = None,
    threads: int | None = None,
    config_path: Path | None = None,
) -> dict:
    """One stratification run: read, validate and refit, score and stream, record, publish.
    Returns the published metrics (what ``--json`` prints)."""
    warehouse = Path(warehouse)
    rules = streams.load_rules(rules_path)
    config = risk_config.load(config_path)
    where = str(config_path or "data/risk.toml")
    risk_config.check_streams(config, [s.id for s in rules.streams], where)
    phases = Phases()
    cohorts = read_cohorts(warehouse, current, phases)
    fitted = fit(cohorts, seed, threads, config.model)
    phases.end("training_s")
    scored = streams.assign(score(fitted.deployed, cohorts.current), rules)
    scores_s = phases.elapsed()
    who = to_explain(scored, config.reasons, rules, cohorts.locality)
    scored = add_reasons(fitted.deployed, scored, who)
    reasons_s = phases.elapsed() - scores_s
    phases.end("scoring_s")
    record = model_record(warehouse, fitted, cohorts.dates, rules, config.version)
    report = run_report(warehouse, fitted, cohorts, record, scored, rules)
    report["reasons"] = {
        "patients": int(who.sum()),
        "share": round(float(who.mean()), 4) if who.size else 0.0,
    }
    report["trees"] = {
        "validated": fitted.validated.best_iteration,
        "deployed": fitted.deployed.best_iteration,
        "max_trees": config.model.max_trees,
        "learning_rate": config.model.learning_rate,
    }
    report["risk_config_version"] = config.version

    run_id = results.new_run_id()
    previous = results.latest_run(warehouse, KIND)
    stage = results.staging(warehouse, KIND, run_id)
    phases.restart()
    report["register_changes"] = write_tables(
        stage, scored, record["model_version"], rules, cohorts.locality, previous
    )
    phases.end("publish_s")
    report["timings"] = {k: round(v, 2) for k, v in phases.timings.items()}
    # scoring_s split (not phases of their own): scores and streams, then the reasons.
    report["timings"]["scoring_scores_s"] = round(scores_s, 2)
    report["timings"]["scoring_reasons_s"] = round(reasons_s, 2)
    report["phase_windows"] = phases.windows
    write_model_files(stage, fitted, record, report)
    results.publish(
        warehouse,
        KIND,
        run_id,
        {
            "model_version": record["model_version"],
            "index_date": cohorts.dates.current.isoformat(),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "previous_run_id": previous.name if previous else None,
        },
    )
    return {"run_id": run_id, **report}


def read_cohorts(warehouse: Path, current: dt.date | None, phases: Phases) -> Cohorts:
    """Step 1: the features (and outcomes, where known) at the three index dates. The only
    step that reads the warehouse's tables; the engine is closed when it returns."""
    with connect(warehouse) as engine:
        dates = index_dates(engine, current)
        train_df = _for_secondary_use(labelled(engine, dates.training))
        valid_all = labelled(engine, dates.validation)
        phases.end("training_features_s")
        current_df = pl.from_arrow(feats.features(engine, dates.current))
        locality = _locality_id(engine)
        phases.end("current_features_s")
    return Cohorts(dates, train_df, _for_secondary_use(valid_all), current_df, locality)


def fit(
    cohorts: Cohorts,
    seed: int,
    threads: int | None,
    config: risk_config.ModelConfig | None = None,
) -> Fitted:
    """Step 2: validate the recipe on the held-out year, then refit it on that year for
    deployment (same features, parameters, size limits and seed)."""
    config = config or risk_config.load().model
    validated, report, y_va = validate(cohorts.train, cohorts.valid, seed, threads, config)
    names = feats.model_features()
    deployed = train(*_xy(cohorts.valid, names), names, seed, threads=threads, config=config)
    curves = report.pop("curves")
    return Fitted(validated, deployed, report, curves, y_va)


def model_record(
    warehouse: Path,
    fitted: Fitted,
    dates: IndexDates,
    rules: streams.Rules,
    config_version: str | None = None,
) -> dict:
    """Step 3: the deployed model's governance record (``model.json``): what made it, its
    content-hash version, the validated model it inherits its figures from, the rules."""
    snapshot = governance.data_snapshot(Warehouse(warehouse))
    code = governance.code_version()
    headline = {
        k: fitted.report[k]
        for k in ("auroc", "auprc", "brier", "calibration_slope", "calibration_intercept")
    }
    validated_record = _record(fitted.validated, dates.training, snapshot, code, headline)
    record = _record(fitted.deployed, dates.validation, snapshot, code, headline)
    record["validated_model"] = {
        "model_version": validated_record["model_version"],
        "training": validated_record["training"],
        "best_iteration": fitted.validated.best_iteration,
        "evaluated_at_index_date": dates.validation.isoformat(),
    }
    record["rules_version"] = rules.version
    record["risk_config_version"] = config_version
    return record


def run_report(
    warehouse: Path,
    fitted: Fitted,
    cohorts: Cohorts,
    record: dict,
    scored: pl.DataFrame,
    rules: streams.Rules,
) -> dict:
    """Step 4: the held-out report completed with what identifies the run (``metrics.json``;
    register changes and timings are added as they become known)."""
    dates = cohorts.dates
    report = fitted.report
    report.update(
        index_date=dates.validation.isoformat(),
        oracle_auroc=oracle_auroc(warehouse, cohorts.valid, dates.validation),
        model_version=record["model_version"],
        validated_model_version=record["validated_model"]["model_version"],
        training_rows=fitted.validated.training["rows"],
        index_dates={k: v.isoformat() for k, v in dates.__dict__.items()},
        streams=_stream_counts(scored),
        rules_version=rules.version,
    )
    return report


def write_tables(
    stage: Path,
    scored: pl.DataFrame,
    version: str,
    rules: streams.Rules,
    locality: str,
    previous: Path | None,
) -> dict[str, int]:
    """Step 5: scores, registers and the changes since the previous run into the staging
    folder. Returns the register changes counted by kind of change."""
    published = _scores_table(scored, version)
    published.write_parquet(stage / "scores.parquet")
    regs = registers.build(published, rules, locality)
    regs.write_parquet(stage / "registers.parquet")
    before = pl.read_parquet(previous / "registers.parquet") if previous else None
    changes = registers.changes(regs, before)
    changes.write_parquet(stage / "register_changes.parquet")
    return {c: int(n) for c, n in changes.group_by("change").len().iter_rows()}


def write_model_files(stage: Path, fitted: Fitted, record: dict, report: dict) -> None:
    """Step 6: both models, their record, the metrics, the plots and the model card into the
    staging folder. Publishing (step 7) then points ``latest.json`` at it."""
    deployed, validated = fitted.deployed, fitted.validated
    deployed.booster.save_model(stage / "model.txt", num_iteration=deployed.best_iteration)
    validated.booster.save_model(
        stage / "model_validated.txt", num_iteration=validated.best_iteration
    )
    (stage / "model.json").write_text(json.dumps(record, indent=2, default=str))
    (stage / "metrics.json").write_text(json.dumps(report, indent=2, default=str))
    card.plot_calibration(report["deciles"], stage / "calibration.png")
    card.plot_roc(fitted.y_valid, fitted.curves, stage / "roc.png")
    (stage / "model_card.md").write_text(card.render(record, report))


KIND = vocabulary.RISK


def _locality_id(engine) -> str:
    orgs = engine.table("organisations")
    rows = engine.to_arrow(orgs.filter(orgs.kind == "locality").select("org_id")).to_pylist()
    return rows[0]["org_id"] if rows else "locality"


def _record(
    model: RiskModel, index_date: dt.date, snapshot: dict, code: str, headline: dict
) -> dict:
    record = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data_snapshot": snapshot,
        "training": {
            "index_date": index_date.isoformat(),
            "outcome_window": [index_date.isoformat(), years_before(index_date, -1).isoformat()],
            **model.training,
        },
        "features": model.features,
        "parameters": model.params,
        "seed": model.seed,
        "best_iteration": model.best_iteration,
        "platt": list(model.platt),
        "code_version": code,
        "metrics": headline,
    }
    record["model_version"] = governance.model_version(record)
    return record


def _scores_table(scored: pl.DataFrame, version: str) -> pl.DataFrame:
    return scored.select(
        *vocabulary.SCORE_COLUMNS,
        *feats.register_columns(),
        "n_ltc",
        model_version=pl.lit(version),
    ).sort("rank")


def _stream_counts(scored: pl.DataFrame) -> dict:
    """Patients per stream: a published aggregate, so opted-out patients are not counted."""
    counts = _for_secondary_use(scored).group_by("stream").len()
    return {s: int(n) for s, n in counts.iter_rows()}


def render(result: dict) -> str:
    """The run as a short text report."""
    r = result
    lines = [
        f"Run {r['run_id']}: model {r['model_version']} scored index date "
        f"{r['index_dates']['current']}.",
        f"Held-out year from {r['index_date']}: {r['n']:,} patients, {r['events']:,} admitted "
        f"({r['observed_rate']:.1%}).",
        f"  AUROC {r['auroc']:.3f}  AUPRC {r['auprc']:.3f}  Brier {r['brier']:.4f}  "
        f"calibration slope {r['calibration_slope']:.3f}, intercept "
        f"{r['calibration_intercept']:.3f}",
    ]
    if r.get("oracle_auroc") is not None:
        lines.append(
            f"  oracle AUROC {r['oracle_auroc']:.3f} (gap {r['oracle_auroc'] - r['auroc']:.3f})"
        )
    for name, b in r["baselines"].items():
        lines.append(f"  baseline {name}: AUROC {b['auroc']:.3f}")
    lines.append(
        "  top "
        + ", ".join(
            f"{k}%: PPV {r['ppv_top'][k]:.2f} sensitivity {r['sensitivity_top'][k]:.2f}"
            for k in r["ppv_top"]
        )
    )
    lines.append(
        "Streams (opted-out excluded): "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(r["streams"].items()))
    )
    lines.append(
        "Register changes: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(r["register_changes"].items()))
    )
    return "\n".join(lines)
