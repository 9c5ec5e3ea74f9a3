"""The learned reward model: it learns a real reward, is differentiable, and plans from the CLI."""

import json

import numpy as np
import pytest
import torch

from envs.collect import collect
from gncontrol.cli import main
from gncontrol.forward.reward_model import RewardModel, RewardModelConfig, train_reward_model


def test_reward_model_learns_cartpoles_reward_far_better_than_a_constant():
    data = collect("cartpole-swingup", 24, steps=50, seed=4, progress=False)
    config = RewardModelConfig(data.states.shape[2], data.actions.shape[2], hidden=(64, 64))
    model, report = train_reward_model(data, config, steps=400, batch_size=128, lr=3e-3, val_fraction=0.25)
    assert report["ratio"] < 0.5, report  # held-out RMSE under half a constant predictor's


def test_reward_model_is_differentiable_and_root_relative():
    torch.manual_seed(0)
    model = RewardModel(RewardModelConfig(4, 2, hidden=(8,)))
    state = torch.randn(3, 4, 13, requires_grad=True)
    action = torch.randn(3, 2, requires_grad=True)
    model(state, action).sum().backward()
    assert state.grad.abs().sum() > 0 and action.grad.abs().sum() > 0
    shifted = state.detach().clone()
    shifted[:, 1:, :2] += torch.tensor([5.0, -3.0])  # the whole body moved in x, y
    torch.testing.assert_close(model(shifted, action), model(state.detach(), action))
    absolute = RewardModel(RewardModelConfig(4, 2, hidden=(8,), absolute_xy=True))
    assert not torch.allclose(absolute(shifted, action), absolute(state.detach(), action))


def test_train_reward_then_plan_a_task_without_torch_reward(tmp_path, capsys):
    data, out = tmp_path / "h.h5", tmp_path / "r"
    assert main(["collect", "--task", "dmc:walker-run", "--episodes", "5", "--steps", "20", "--out", str(data),
                 "--no-progress"]) == 0
    assert main(["train-reward", "--data", str(data), "--out", str(out), "--steps", "60", "--hidden", "16",
                 "--no-progress"]) == 0
    report = json.loads((out / "reward_report.json").read_text())
    assert np.isfinite(report["val_rmse"]) and report["val_episodes"] == 1
    assert main(["train-reward", "--data", str(data), "--out", str(out), "--steps", "5"]) == 2  # no overwrite
    capsys.readouterr()
    model = tmp_path / "m"
    assert main(["train", "--data", str(data), "--out", str(model), "--steps", "5", "--latent", "8", "--hidden", "8",
                 "--val-fraction", "0.2"]) == 0
    assert main(["evaluate", "--model", str(model / "model.pt"), "--data", str(data), "--horizons", "1",
                 "--reward-model", str(out / "reward.pt")]) == 0
    assert "reward model on dmc:walker-run: RMSE" in capsys.readouterr().out
    plan = tmp_path / "p"
    assert main(["plan", "--task", "dmc:walker-run", "--model", "true", "--planner", "cem", "--reward-model",
                 str(out / "reward.pt"), "--steps", "3", "--horizon", "3", "--samples", "8", "--iterations", "1",
                 "--out", str(plan), "--no-video"]) == 0
    assert len(json.loads((plan / "summary.json").read_text())["returns"]) == 1
    capsys.readouterr()
    assert main(["plan", "--task", "dmc:cheetah-run", "--model", "true", "--planner", "cem", "--reward-model",
                 str(out / "reward.pt"), "--out", str(tmp_path / "p2")]) == 2
    assert "trained on dmc:walker-run" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [{"steps": 0}, {"batch_size": 0}, {"val_fraction": 0.01}])
def test_reward_model_training_refuses_bad_options(bad):
    from gncontrol.errors import InputError

    data = collect("pendulum-swingup", 3, steps=5, seed=0, progress=False)
    with pytest.raises(InputError):
        train_reward_model(data, RewardModelConfig(2, 1, hidden=(4,)), **bad)
