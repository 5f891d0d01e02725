"""The risk model's size and who is given reasons, from ``data/risk.toml``.

Data, not code, so that the cap on trees, the learning rate, the training sample and the
patients explained change by a reviewed edit with a new ``version``, which every run records.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path


class RiskConfigError(ValueError):
    """``risk.toml`` is malformed; the message says which key and why."""


@dataclass(frozen=True)
class ModelConfig:
    learning_rate: float = 0.1
    max_trees: int = 2000
    early_stopping_rounds: int = 50
    max_training_rows: int | None = None


@dataclass(frozen=True)
class ReasonsConfig:
    """Who is explained besides everyone on a register: these streams and the top
    ``top_percent`` of the locality. ``everyone`` explains every patient (the old way)."""

    streams: tuple[str, ...] = ()
    top_percent: float | None = None
    everyone: bool = False


@dataclass(frozen=True)
class RiskConfig:
    version: str
    model: ModelConfig
    reasons: ReasonsConfig


def _number(section: dict, key: str, where: str, kind, lo: float, hi: float | None = None):
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RiskConfigError(f"{where}: {key} must be a number, not {value!r}")
    if kind is int and not float(value).is_integer():
        raise RiskConfigError(f"{where}: {key} must be a whole number, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise RiskConfigError(f"{where}: {key} must be {bound}, not {value!r}")
    return kind(value)


def load(path: Path | None = None) -> RiskConfig:
    """The configuration in ``path`` (default: the packaged ``data/risk.toml``), validated."""
    if path is None:
        text = files("wraparound").joinpath("data/risk.toml").read_text()
        where = "data/risk.toml"
    else:
        text, where = Path(path).read_text(), str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RiskConfigError(f"{where}: {exc}") from None
    if not data.get("version"):
        raise RiskConfigError(f"{where}: a version is required")
    unknown = set(data) - {"version", "model", "reasons"}
    if unknown:
        raise RiskConfigError(f"{where}: unknown sections {sorted(unknown)}")
    m = data.get("model", {})
    bad = set(m) - set(ModelConfig.__dataclass_fields__)
    if bad:
        raise RiskConfigError(f"{where}: [model] has unknown keys {sorted(bad)}")
    limits = {
        "learning_rate": (float, 0.001, 1),
        "max_trees": (int, 1, None),
        "early_stopping_rounds": (int, 1, None),
        "max_training_rows": (int, 1000, None),
    }
    model = ModelConfig(
        **{k: _number(m, k, where, *limits[k]) for k in limits if k in m},
    )
    r = data.get("reasons", {})
    bad = set(r) - {"streams", "top_percent", "everyone"}
    if bad:
        raise RiskConfigError(f"{where}: [reasons] has unknown keys {sorted(bad)}")
    stream_ids = r.get("streams", [])
    if not isinstance(stream_ids, list) or not all(isinstance(s, str) for s in stream_ids):
        raise RiskConfigError(f"{where}: [reasons] streams must be a list of stream ids")
    everyone = r.get("everyone", False)
    if not isinstance(everyone, bool):
        raise RiskConfigError(f"{where}: [reasons] everyone must be true or false")
    reasons = ReasonsConfig(
        streams=tuple(stream_ids),
        top_percent=_number(r, "top_percent", where, float, 0, 100) if "top_percent" in r else None,
        everyone=everyone,
    )
    return RiskConfig(str(data["version"]), model, reasons)


def check_streams(config: RiskConfig, stream_ids: list[str], where: str = "data/risk.toml"):
    """The streams named in ``[reasons]`` must be streams of the rules in use."""
    unknown = [s for s in config.reasons.streams if s not in stream_ids]
    if unknown:
        raise RiskConfigError(
            f"{where}: [reasons] streams {unknown} are not streams of the rules "
            f"(streams.toml has {stream_ids})"
        )
