"""The shipped NRI recipes (configs/nri/*.json) load, the full ones are the published recipe,
and no recipe silences an edge type that carries an interaction."""

import json
from pathlib import Path

import pytest

from gncontrol.nri.training import build_model, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "nri").glob("*.json"))
# Systems whose every edge label is an interaction (charged: attract / repel): skip-first would
# leave one of the two forces without a message function.
ALL_TYPES_INTERACT = ("charged",)


def test_there_are_full_reduced_and_smoke_recipes():
    names = {p.stem for p in CONFIGS}
    for run in ("springs5", "charged5", "kuramoto5", "fnri_ic", "nri_k4_ic"):
        assert {f"{run}_full", f"{run}_reduced", f"{run}_smoke"} <= names, run


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_loads_builds_and_matches_its_data_command(path):
    cfg = load_config(path)
    build_model(cfg)  # every recipe describes a model that exists
    raw = json.loads(path.read_text())
    if "_data_command" in raw:
        assert cfg.data in raw["_data_command"], f"{path.name}: data {cfg.data} is not what _data_command writes"
    if path.stem.endswith("_full"):
        assert (cfg.hidden, cfg.batch_size, cfg.lr, cfg.epochs, cfg.lr_decay, cfg.gamma) == (
            256, 128, 5e-4, 500, 200, 0.5), f"{path.name} is not the published recipe"
        assert (cfg.tau, cfg.prediction_steps, cfg.dropout) == (0.5, 10, 0.0)


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.stem.startswith(ALL_TYPES_INTERACT)], ids=lambda p: p.stem)
def test_no_skip_first_where_every_edge_type_interacts(path):
    assert not load_config(path).skip_first, f"{path.name}: skip-first drops one of the charged forces"
