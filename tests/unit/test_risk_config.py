"""``data/risk.toml``: the model's size and who is given reasons are data, checked when read,
and a bad file is refused with the key that is wrong."""

from __future__ import annotations

import pytest

from wraparound.analytics.risk import config
from wraparound.analytics.streams import load_rules


def test_the_packaged_file_bounds_the_model_and_names_real_streams():
    cfg = config.load()
    assert cfg.version
    assert 1 <= cfg.model.max_trees <= 1000
    assert 0 < cfg.model.learning_rate <= 1
    assert not cfg.reasons.everyone
    config.check_streams(cfg, [s.id for s in load_rules().streams])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[model]\nmax_trees = 100\n", "a version is required"),
        ('version = "t"\n[model]\nmax_trees = 0\n', "max_trees must be at least 1"),
        ('version = "t"\n[model]\nmax_trees = 10.5\n', "max_trees must be a whole number"),
        ('version = "t"\n[model]\nlearning_rate = "fast"\n', "learning_rate must be a number"),
        ('version = "t"\n[model]\ntrees = 100\n', "[model] has unknown keys ['trees']"),
        ('version = "t"\n[reasons]\ntop_percent = 150\n', "top_percent must be between"),
        ('version = "t"\n[reasons]\nstreams = "high_needs"\n', "streams must be a list"),
        ('version = "t"\n[explain]\n', "unknown sections ['explain']"),
        ('version = "t"\n[model\n', "risk.toml"),
    ],
)
def test_a_bad_file_is_refused_with_the_key_that_is_wrong(tmp_path, text, message):
    path = tmp_path / "risk.toml"
    path.write_text(text)
    with pytest.raises(config.RiskConfigError) as err:
        config.load(path)
    assert message in str(err.value)


def test_reasons_for_a_stream_the_rules_do_not_have_are_refused(tmp_path):
    path = tmp_path / "risk.toml"
    path.write_text('version = "t"\n[reasons]\nstreams = ["high_need"]\n')
    cfg = config.load(path)
    with pytest.raises(config.RiskConfigError, match="high_need"):
        config.check_streams(cfg, [s.id for s in load_rules().streams], str(path))
