"""A forward model at the decision time step: one model step per k control steps, trained on k-step
transitions of actions held for k steps, used by every planner with action repeat k."""

import pytest
import torch

from gncontrol.cli import main
from planners.base import model_time_step, predicted_return


class PointMass:
    """x' = x + a (x [B, 2]); with `control_steps` k, one step is k of those (actions held)."""

    differentiable = True

    def __init__(self, control_steps: int = 1):
        self.control_steps = control_steps

    def step(self, x, a, params=None):
        return x + self.control_steps * a


def reward(x, a):
    return -(x - 1.0).pow(2).sum(-1)


def test_a_k_step_model_counts_each_step_k_times_at_the_discount_of_k_control_steps():
    plans = torch.tensor([[[0.3, 0.1], [0.2, -0.1], [0.0, 0.4]]])  # [1, H=3, A=2]
    coarse = predicted_return(PointMass(2), reward, torch.zeros(2), plans, discount=0.9, action_repeat=2,
                              terminal_weight=5.0)
    x, want = torch.zeros(1, 2), 0.0
    for j in range(3):  # the states at the end of each decision, each standing for 2 control steps
        x = x + 2 * plans[:, j]
        w = 2 * 0.9 ** (2 * j) + (5.0 * 0.9 ** (2 * j) if j == 2 else 0.0)
        want += w * float(reward(x, plans[:, j]))
    assert float(coarse) == pytest.approx(want, rel=1e-6)
    # the fine model through the same plans reaches the same block-end states
    fine = predicted_return(PointMass(1), reward, torch.zeros(2), plans, discount=1.0, action_repeat=2)
    assert torch.isfinite(fine).all()
    assert model_time_step(PointMass(2), 4) == (2, 2)
    with pytest.raises(ValueError, match="must be a multiple"):
        model_time_step(PointMass(4), 2)


def test_every_k_subsamples_held_actions_and_refuses_changing_ones():
    from agents.model_learning import random_data

    data = random_data("pendulum-swingup", 2, 12, seed=0)
    with pytest.raises(ValueError, match="not held over blocks of 3"):
        data.every(3)
    held = data.actions.repeat_interleave(3, dim=1)[:, :12]
    import dataclasses

    d = dataclasses.replace(data, actions=held)
    c = d.every(3)
    assert (c.episode_length, c.states.shape[1]) == (4, 5)
    torch.testing.assert_close(c.states[:, 2], d.states[:, 6])
    torch.testing.assert_close(c.actions[:, 1], d.actions[:, 3])
    assert data.every(1) is data


def test_joined_keeps_each_episode_with_its_own_static_graph():
    """Swing-up and balance data of one body join into one set; other bodies or lengths are refused."""
    from agents.model_learning import random_data

    a, b = random_data("cartpole-swingup", 2, 6, seed=0), random_data("cartpole-balance", 1, 6, seed=1)
    both = a.joined(b)
    assert both.num_episodes == 3
    torch.testing.assert_close(both.states[2], b.states[0])
    torch.testing.assert_close(both.static_nodes[:2], a.static_nodes)
    with pytest.raises(ValueError, match="other bodies or episode length"):
        a.joined(random_data("cartpole-balance", 1, 5, seed=1))
    with pytest.raises(ValueError, match="other bodies"):
        a.joined(random_data("pendulum-swingup", 1, 6, seed=1))


def test_collect_hold_train_evaluate_plan_with_a_decision_step_model(tmp_path, capsys):
    data = tmp_path / "held.h5"
    assert main(["collect", "--task", "pendulum-swingup", "--episodes", "4", "--steps", "24", "--controller", "ou",
                 "--hold", "4", "--out", str(data), "--no-progress"]) == 0
    from gncontrol.forward.datasets import load_trajectories

    acts = torch.as_tensor(load_trajectories(data).actions)
    assert torch.equal(acts[:, 0::4], acts[:, 3::4]) and not torch.equal(acts[:, 0], acts[:, 4])
    out = tmp_path / "m4"
    assert main(["train", "--data", str(data), "--out", str(out), "--steps", "5", "--latent", "16", "--hidden", "16",
                 "--control-steps", "4", "--val-fraction", "0.25"]) == 0
    from gncontrol.forward.training import load_forward_model

    model, _ = load_forward_model(out / "model.pt")
    assert model.control_steps == 4
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out / "model.pt"), "--data", str(data), "--horizons", "1", "8"]) == 0
    text = capsys.readouterr().out
    assert "steps 4 control steps at once" in text and "pendulum-swingup" in text
    assert main(["plan", "--task", "pendulum-swingup", "--model", str(out / "model.pt"), "--planner", "cem",
                 "--samples", "8", "--iterations", "1", "--horizon", "3", "--action-repeat", "4", "--steps", "8",
                 "--out", str(tmp_path / "plan"), "--no-video"]) == 0
    assert main(["plan", "--task", "pendulum-swingup", "--model", str(out / "model.pt"), "--planner", "cem",
                 "--samples", "8", "--iterations", "1", "--horizon", "3", "--action-repeat", "2", "--steps", "4",
                 "--out", str(tmp_path / "plan2"), "--no-video"]) == 2
    assert "must be a multiple" in capsys.readouterr().err
    plain = tmp_path / "plain.h5"
    assert main(["collect", "--task", "pendulum-swingup", "--episodes", "2", "--steps", "8", "--out", str(plain),
                 "--no-progress"]) == 0
    assert main(["train", "--data", str(plain), "--out", str(tmp_path / "bad"), "--steps", "2",
                 "--control-steps", "4"]) == 2
    assert "--hold 4" in capsys.readouterr().err
