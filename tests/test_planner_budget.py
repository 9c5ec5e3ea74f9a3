"""benchmarks.planner_budget: the equal-wall-time pick and its refusal of a missing model."""

import pytest

from tests._bench import load_benchmark

pb = load_benchmark("planner_budget")

ROWS = [{"planner": "cem", "population": 64, "iterations": 1, "mean_return": 600.0, "ms_per_step": 2.0},
        {"planner": "cem", "population": 256, "iterations": 2, "mean_return": 780.0, "ms_per_step": 8.0},
        {"planner": "cem", "population": 1024, "iterations": 2, "mean_return": 800.0, "ms_per_step": 40.0},
        {"planner": "gradient", "population": 4, "iterations": 2, "mean_return": 500.0, "ms_per_step": 12.0}]


def test_best_within_a_budget_is_the_highest_return_that_fits():
    assert pb.best_within(ROWS, "cem", 10)["population"] == 256
    assert pb.best_within(ROWS, "cem", 100)["population"] == 1024
    assert pb.best_within(ROWS, "cem", 1) is None
    assert pb.best_within(ROWS, "gradient", 10) is None


def test_recipe_flags_name_restarts_for_the_gradient_planner_and_samples_otherwise():
    args = pb.argparse.Namespace(task="cartpole-swingup", horizon=12, action_repeat=8, terminal_weight=25.0,
                                 episodes=1, steps=10, seed=0, threads=1, device="cpu")
    assert "--restarts" in pb.recipe_argv("gradient", 4, 2, args)
    flags = pb.recipe_argv("cem", 256, 2, args)
    assert flags[flags.index("--samples") + 1] == "256" and "--restarts" not in flags


def test_a_missing_model_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        pb.main(["--model", str(tmp_path / "none.pt")])
    assert "no such checkpoint" in capsys.readouterr().err
