"""Each planner is built from one frozen, keyword-only config; planners.make builds any of them by name."""

import dataclasses

import pytest
import torch

import planners
from gncontrol.errors import InputError

LO, HI = -torch.ones(2), torch.ones(2)


@pytest.mark.parametrize("name", list(planners.PLANNERS))
def test_every_planner_has_a_frozen_keyword_only_config(name):
    cls = planners.CONFIGS[name]
    config = cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        cls(5)  # keyword-only: no positional settings
    planner = planners.make(name, planners.Bounds(LO, HI), dataclasses.replace(config, seed=7))
    assert isinstance(planner, planners.PLANNERS[name]) and planner.config.seed == 7 and planner.seed == 7
    with pytest.raises(AttributeError, match="build the planner with"):
        planner.seed = 1  # settings live in the config, not on the planner


def test_config_and_overrides_and_knobs_agree():
    cfg = planners.CEMConfig(horizon=6, population=40, elites=4, iterations=2)
    by_config = planners.CEMPlanner(LO, HI, cfg)
    by_keywords = planners.CEMPlanner(LO, HI, horizon=6, population=40, elites=4, iterations=2)
    by_knobs = planners.make("cem", (LO, HI), horizon=6, samples=40, iterations=2)
    assert by_config.config == by_keywords.config == by_knobs.config == cfg
    assert planners.CEMPlanner(LO, HI, cfg, horizon=9).config == dataclasses.replace(cfg, horizon=9)


def test_configs_refuse_nonsense_in_one_line():
    with pytest.raises(InputError, match="horizon must be an integer >= 1"):
        planners.GradientConfig(horizon=0)
    with pytest.raises(InputError, match="lr must be >= 0 and finite"):
        planners.GradientConfig(lr=float("nan"))
    with pytest.raises(InputError, match="elites <= population"):
        planners.CEMConfig(population=10, elites=20)
    with pytest.raises(InputError, match="discount must be in"):
        planners.MPPIConfig(discount=1.5)
    with pytest.raises(InputError, match="backup must be one of"):
        planners.MCTSPlannerConfig(backup="median")
    with pytest.raises(InputError, match="config must be a CEMConfig"):
        planners.make("cem", (LO, HI), planners.MPPIConfig())
    with pytest.raises(InputError, match="unknown GradientConfig option"):
        planners.GradientPlanner(LO, HI, population=5)


def test_mcts_search_gamma_is_derived_from_discount_and_repeat():
    planner = planners.MCTSPlanner(LO, HI, planners.MCTSPlannerConfig(discount=0.9, action_repeat=2))
    assert planner.cfg.gamma == pytest.approx(0.81)
