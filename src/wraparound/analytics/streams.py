"""Risk bands and patient streams from the commissioner's rules in ``data/streams.toml``.

The rules are data so that a commissioner can move the line between streams (say, high
needs from the top 2% to the top 3%) with a reviewed edit to one file and a new ``version``,
never a code change. Every result records the rules version that made it.

Ranks are over every scored patient, opted-out patients included: streams and registers are
for direct care, which the national data opt-out does not restrict.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import polars as pl

from wraparound import clinical
from wraparound.analytics.risk.metrics import top_k
from wraparound.vocabulary import EFI_CATEGORIES

CONDITIONS = ("top_percent", "efi_category", "register", "min_ltc")


class RulesError(ValueError):
    """``streams.toml`` is malformed; the message says which entry and why."""


@dataclass(frozen=True)
class Stream:
    id: str
    name: str
    any: tuple[dict, ...]


@dataclass(frozen=True)
class Rules:
    version: str
    bands: tuple[tuple[str, float | None], ...]
    streams: tuple[Stream, ...]
    register_top_percent: float | None
    register_top_n: int | None


def load_rules(path: Path | None = None) -> Rules:
    """The rules in ``path`` (default: the packaged ``data/streams.toml``), validated."""
    if path is None:
        text = files("wraparound").joinpath("data/streams.toml").read_text()
        where = "data/streams.toml"
    else:
        text, where = Path(path).read_text(), str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{where}: {exc}") from None
    if not data.get("version"):
        raise RulesError(f"{where}: a version is required")
    bands = tuple((b["name"], b.get("top_percent")) for b in data.get("risk_band", []))
    if not bands or bands[-1][1] is not None or any(p is None for _n, p in bands[:-1]):
        raise RulesError(
            f"{where}: risk bands need top_percent, except the last, which must have none"
        )
    streams = tuple(_stream(s, where) for s in data.get("stream", []))
    if not streams or streams[-1].any:
        raise RulesError(f"{where}: the last stream must have no conditions (everyone else)")
    reg = data.get("register", {})
    if ("top_percent" in reg) == ("top_n" in reg):
        raise RulesError(f"{where}: [register] needs exactly one of top_percent and top_n")
    return Rules(str(data["version"]), bands, streams, reg.get("top_percent"), reg.get("top_n"))


def _stream(entry: dict, where: str) -> Stream:
    registers = {r.register_id for r in clinical.registers()}
    for cond in entry.get("any", []):
        unknown = set(cond) - set(CONDITIONS)
        if unknown or len(cond) != 1:
            raise RulesError(
                f"{where}: stream {entry.get('id')!r}: each condition has one "
                f"key from {list(CONDITIONS)}; got {sorted(cond)}"
            )
        bad = (set(cond.get("efi_category", [])) - set(EFI_CATEGORIES)) | (
            set(cond.get("register", [])) - registers
        )
        if bad:
            raise RulesError(f"{where}: stream {entry.get('id')!r}: unknown {sorted(bad)}")
    return Stream(entry["id"], entry.get("name", entry["id"]), tuple(entry.get("any", [])))


def rank(scores: pl.DataFrame) -> pl.DataFrame:
    """Add ``rank`` (1 = highest score; ties by patient_id, so ranks are reproducible) and
    ``percentile`` (share of scored patients ranked at or above, %)."""
    n = scores.height
    ranked = scores.sort(["score", "patient_id"], descending=[True, False]).with_columns(
        rank=pl.int_range(1, n + 1, dtype=pl.Int64)
    )
    return ranked.with_columns(percentile=pl.col("rank") * 100.0 / n)


def _in_top(percent: float, n: int) -> pl.Expr:
    return pl.col("rank") <= top_k(n, percent)


def _condition(cond: dict, n: int) -> pl.Expr:
    key, value = next(iter(cond.items()))
    if key == "top_percent":
        return _in_top(float(value), n)
    if key == "efi_category":
        return pl.col("efi_category").is_in(list(value)).fill_null(False)
    if key == "register":
        return pl.any_horizontal([pl.col(f"ltc_{r}") == 1 for r in value])
    return pl.col("n_ltc") >= int(value)


def assign(scores: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """``scores`` (patient_id, score, efi_category, n_ltc, ltc_*) ranked, with ``risk_band``
    and ``stream``."""
    ranked = rank(scores)
    n = ranked.height
    band = pl.lit(rules.bands[-1][0])
    for name, pct in reversed(rules.bands[:-1]):
        band = pl.when(_in_top(pct, n)).then(pl.lit(name)).otherwise(band)
    stream = pl.lit(rules.streams[-1].id)
    for s in reversed(rules.streams[:-1]):
        matched = pl.any_horizontal([_condition(c, n) for c in s.any])
        stream = pl.when(matched).then(pl.lit(s.id)).otherwise(stream)
    return ranked.with_columns(risk_band=band, stream=stream)
