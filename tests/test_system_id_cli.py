"""`gncontrol train-sysid` and `gncontrol identify` end to end on a tiny randomised pendulum dataset."""

from __future__ import annotations

import pytest
import torch

from gncontrol.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("sysid")
    data = d / "pend.h5"
    assert main(["collect", "--task", "pendulum-swingup", "--episodes", "6", "--steps", "12", "--randomise",
                 "--out", str(data), "--no-progress"]) == 0
    out = d / "run"
    assert main(["train-sysid", "--data", str(data), "--out", str(out), "--steps", "4", "--window", "5",
                 "--targets-per-window", "2", "--batch-size", "8", "--latent", "16", "--hidden", "16",
                 "--encoder-hidden", "8", "--latent-sizes", "4", "4", "4", "--val-fraction", "0.34",
                 "--horizon", "3"]) == 0
    return d, data, out / "model.pt"


def test_identify_from_file_and_from_fresh_window(trained, capsys):
    from gncontrol.forward.transitions import SystemTrajectories
    from gncontrol.sysid.model import load_identified
    from gncontrol.sysid.training import load_system_id_model

    d, data, ckpt = trained
    assert main(["identify", "--model", str(ckpt), "--data", str(data), "--episode", "2", "--steps", "5",
                 "--out", str(d / "a.pt")]) == 0
    assert "latent graph nodes (2, 4)" in capsys.readouterr().out
    latent, meta = load_identified(d / "a.pt")
    assert meta["episode"] == 2 and meta["steps"] == 5 and meta["parameters"]["mass_scale"]
    # the saved latent drives the model from any start state of that system
    model, record = load_system_id_model(ckpt)
    assert record["horizon"] == 3  # trained with a 3-step rollout loss
    from gncontrol.forward.datasets import load_trajectories

    traj = SystemTrajectories.from_arrays("p", load_trajectories(data))
    tb = traj.transitions(torch.tensor([2, 2, 2]), torch.tensor([6, 8, 10]))
    nxt = model.step(tb.state, tb.action, latent)
    assert nxt.nodes.shape == tb.next_nodes.shape and torch.isfinite(nxt.nodes).all()
    assert main(["identify", "--model", str(ckpt), "--task", "pendulum-swingup", "--steps", "5", "--randomise",
                 "--seed", "3", "--out", str(d / "b.pt")]) == 0
    assert load_identified(d / "b.pt")[1]["randomise"] is True
    # --refine-steps: the same window, the latent then refined on it (a different latent)
    assert main(["identify", "--model", str(ckpt), "--data", str(data), "--episode", "2", "--steps", "5",
                 "--refine-steps", "3", "--out", str(d / "c.pt")]) == 0
    refined, meta = load_identified(d / "c.pt")
    assert meta["refine_steps"] == 3 and not torch.equal(refined.static.nodes, latent.static.nodes)


@pytest.mark.parametrize("extra, message", [
    (["--steps", "50"], "exceeds the episode"),
    (["--episode", "9"], "--episode 9"),
])
def test_identify_bad_input_is_one_clear_line(trained, extra, message, capsys):
    d, data, ckpt = trained
    assert main(["identify", "--model", str(ckpt), "--data", str(data), "--out", str(d / "x.pt"), *extra]) != 0
    assert message in capsys.readouterr().err


def test_plan_identifies_then_plans(trained, capsys):
    """`gncontrol plan --identify-steps N`: identify once in the real env, then plan with the latent."""
    import json

    d, _, ckpt = trained
    out = d / "plan"
    assert main(["plan", "--task", "pendulum-swingup", "--reward", "pendulum-swingup-smooth", "--model", str(ckpt),
                 "--identify-steps", "6", "--refine-steps", "2",
                 "--planner", "gradient", "--steps", "4", "--horizon", "2", "--iterations", "1", "--restarts", "2",
                 "--action-repeat", "1", "--out", str(out), "--no-video"]) == 0
    assert "identified pendulum-swingup from 6 steps" in capsys.readouterr().out
    assert main(["plan", "--model", str(ckpt), "--refine-steps", "2", "--out", str(out)]) == 2
    assert "--identify-steps" in capsys.readouterr().err
    assert len(json.loads((out / "summary.json").read_text())["returns"]) == 1


def test_gradient_planning_on_a_flat_reward_is_a_clear_error(trained, capsys):
    d, _, ckpt = trained
    assert main(["plan", "--task", "pendulum-swingup", "--model", str(ckpt), "--identify-steps", "3",
                 "--planner", "gradient", "--steps", "2", "--horizon", "2", "--iterations", "1",
                 "--out", str(d / "plan2"), "--no-video"]) == 2
    assert "does not depend differentiably on the actions" in capsys.readouterr().err
