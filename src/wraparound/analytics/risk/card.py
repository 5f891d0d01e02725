"""The model card written with every training run: what the model is for, what it was
trained and tested on, how well it did overall and for each group of patients, and what it
must not be used for. Markdown, with PNG plots of calibration and ROC, so it reads in any
browser or repository viewer and can be attached to a governance paper as it is.

Figures exclude opted-out patients (their data are not used for secondary purposes).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_curve

GROUP_TITLES = {
    "sex": "Sex",
    "age_band": "Age band",
    "imd_quintile": "Deprivation quintile (1 = most deprived)",
    "ethnic_group": "Ethnic group",
}


def plot_calibration(deciles: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    pred = [d["predicted"] for d in deciles]
    obs = [d["observed"] for d in deciles]
    top = max(max(pred), max(obs)) * 1.05
    ax.plot([0, top], [0, top], color="grey", linestyle="--", label="perfect calibration")
    ax.plot(pred, obs, marker="o", label="risk deciles")
    ax.set_xlabel("Mean predicted 12-month risk")
    ax.set_ylabel("Observed share admitted")
    ax.set_title("Calibration on the held-out year")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_roc(y: np.ndarray, curves: dict[str, np.ndarray], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, p in curves.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--")
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate (sensitivity)")
    ax.set_title("ROC on the held-out year")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _f(value, digits=3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _size(record: dict) -> str:
    """The model's size and what it learnt from (bounded by ``data/risk.toml``)."""
    t, p = record["training"], record["parameters"]
    rows, sample = t["rows"], t.get("sample_rows", t["rows"])
    learnt = (
        f"learnt from a sample of {sample:,} of the {rows:,} patients, stratified by outcome"
        if sample < rows
        else f"learnt from all {rows:,} patients"
    )
    validated = record["validated_model"].get("best_iteration")
    return (
        f"- Size: {record['best_iteration']} trees of depth {p.get('max_depth')} (at most "
        f"{t.get('max_trees', '–')}, learning rate {p.get('learning_rate')})"
        + (f", the validated model {validated}" if validated is not None else "")
        + f"; {learnt} (`data/risk.toml`, version {record.get('risk_config_version', '–')})."
    )


def render(record: dict, metrics: dict) -> str:
    """The card's Markdown, from the model version record and the validation metrics."""
    m = metrics
    snap = record["data_snapshot"]
    validated = record["validated_model"]
    lines = [
        f"# Model card: 12-month emergency admission risk ({record['model_version']})",
        "",
        "## Intended use",
        "Ranks the patients registered in the locality by their probability of at least one "
        "emergency hospital admission in the next 12 months, so that practices and "
        "neighbourhood teams can offer proactive, wrap-around care to those most likely to "
        "benefit (case finding for direct care), and so that commissioners can plan "
        "services. It supports, and never replaces, clinical judgement: a clinician reviews "
        "every register. It is not for decisions about individual eligibility for treatment, "
        "nor for use outside the population it was trained on.",
        "",
        "## Data",
        f"- Warehouse snapshot {snap['snapshot']} (batch {snap['batch']}), committed "
        f"{snap['committed_at']}.",
        f"- Validated model `{validated['model_version']}`: trained at index date "
        f"{validated['training']['index_date']} ({validated['training']['rows']:,} patients, "
        f"{validated['training']['events']:,} admitted), features from the 12 months before, "
        "outcome in the 12 months after.",
        f"- Tested on the next year: index date {m['index_date']} ({m['n']:,} patients, "
        f"{m['events']:,} admitted, {m['observed_rate']:.1%}).",
        f"- Scores come from `{record['model_version']}`, the same recipe refitted at index "
        f"date {record['training']['index_date']} ({record['training']['rows']:,} patients), "
        "the latest year with a known outcome; its expected performance is the figure below.",
        "- Opted-out patients (national data opt-out) are excluded from training and from "
        "every figure here; they are still scored for their own care.",
        f"- {len(record['features'])} features: age, sex, deprivation, long-term conditions "
        "and their count, the 36 eFI deficits, medicines, care-home residence, and hospital "
        "and GP use in the previous 12 months (see docs/risk.md).",
        _size(record),
        "",
        "## Performance on the held-out year",
        "",
        "| model | AUROC | AUPRC | Brier | calibration slope | intercept |",
        "|---|---|---|---|---|---|",
        f"| **LightGBM (this model)** | {_f(m['auroc'])} | {_f(m['auprc'])} | "
        f"{_f(m['brier'], 4)} | {_f(m['calibration_slope'])} | "
        f"{_f(m['calibration_intercept'])} |",
    ]
    for name, b in m["baselines"].items():
        lines.append(
            f"| {name.replace('_', ' ')} | {_f(b['auroc'])} | {_f(b['auprc'])} | "
            f"{_f(b['brier'], 4)} | {_f(b['calibration_slope'])} | "
            f"{_f(b['calibration_intercept'])} |"
        )
    if m.get("oracle_auroc") is not None:
        lines += [
            "",
            f"Synthetic data: the true risks (the oracle) reach AUROC "
            f"{m['oracle_auroc']:.3f}; the gap is {m['oracle_auroc'] - m['auroc']:.3f}.",
        ]
    lines += [
        "",
        "Published anchors: QAdmissions 0.77–0.78, SPARRA v4 0.80.",
        "",
        "| top | PPV | sensitivity |",
        "|---|---|---|",
    ]
    for key in m["ppv_top"]:
        lines.append(f"| {key}% | {_f(m['ppv_top'][key])} | {_f(m['sensitivity_top'][key])} |")
    lines += [
        "",
        "![Calibration](calibration.png) ![ROC](roc.png)",
        "",
        "| risk decile | patients | predicted | observed |",
        "|---|---|---|---|",
    ]
    for d in m["deciles"]:
        lines.append(f"| {d['decile']} | {d['n']:,} | {d['predicted']:.3f} | {d['observed']:.3f} |")
    lines += [
        "",
        "## Performance by group",
        "",
        "Groups with fewer than 10 admitted (or not admitted) patients show no figures.",
    ]
    for group, levels in m["subgroups"].items():
        lines += [
            "",
            f"### {GROUP_TITLES.get(group, group)}",
            "",
            "| group | patients | observed | predicted | AUROC | calibration slope |",
            "|---|---|---|---|---|---|",
        ]
        for level, s in levels.items():
            lines.append(
                f"| {level} | {s['n']:,} | {_f(s['observed_rate'])} | "
                f"{_f(s['mean_predicted'])} | {_f(s['auroc'])} | "
                f"{_f(s['calibration_slope'])} |"
            )
    lines += [
        "",
        "## Limitations",
        "- Only what is recorded can be used: unrecorded frailty, social circumstances and "
        "unmeasured health behaviour lower the ceiling for any model (on synthetic data the "
        "oracle gap shows how much).",
        "- Trained on one year and applied to a later one: changes in coding, services or "
        "case mix (a pandemic, a new admission-avoidance service) change performance; the "
        "model is re-validated at every refresh.",
        "- Emergency admissions elsewhere (outside the locality's trusts) are invisible.",
        "- The eFI is validated for people aged 65 and over only.",
        "- Performance differs by group (above): check the table before acting on a "
        "register for a small group.",
        "",
        "## Reproducing this model",
        f"Model version `{record['model_version']}`, code `{record['code_version']}`, seed "
        f"{record['seed']}, parameters and features in `model.json`: re-running "
        "`wraparound stratify` on the same snapshot reproduces the same scores.",
    ]
    return "\n".join(lines) + "\n"
