"""envs.held_out_system: one randomised system as the planner's real env, true model and static graph, the
same system `collect --randomise` records; a mid-episode parameter change; system-ID models at k steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.held_out_system import HeldOutSystem, sample_systems


def test_held_out_system_is_the_system_collect_records():
    """For one collected randomised episode's parameters: the same masses, lengths and static graph, and the
    env replays the episode's recorded states under its actions."""
    from envs.collect import collect_episode

    ep = collect_episode("cartpole-swingup", seed=3, episode=1, steps=20, randomise=True)
    system = HeldOutSystem("cartpole-swingup", ep["parameters"])
    nodes, edges, globals_ = system.graph.static_arrays()
    np.testing.assert_allclose(nodes, ep["static_nodes"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(edges, ep["static_edges"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(globals_, ep["static_globals"], rtol=1e-6, atol=1e-9)
    assert not np.allclose(system.model.body_mass, HeldOutSystem("cartpole-swingup").model.body_mass)
    # the true model of the system steps as its env does
    true = system.true_model()
    env = system.env(seed=0, true_model=true)
    state = env.reset()
    action = torch.tensor([0.7])
    predicted = true.step(state, action[None])
    real, _, _ = env.step(action)
    torch.testing.assert_close(predicted.nodes, real.nodes)


def test_set_parameters_changes_masses_mid_episode_and_keeps_the_state():
    """A heavier cart keeps its position and velocity at the change, then accelerates less under one force."""
    params = sample_systems("cartpole-swingup", 1, seed=0)[0]
    heavier = {k: list(v) for k, v in params.items()}
    heavier["mass_scale"][1] *= 3.0
    runs = []
    for change in (False, True):
        system = HeldOutSystem("cartpole-swingup", params)
        env = system.env(seed=1)
        env.reset()
        for _ in range(5):
            env.step(torch.tensor([1.0]))
        before = env.env.physics.data.qvel.copy()
        if change:
            system.set_parameters(env, heavier)
            np.testing.assert_array_equal(env.env.physics.data.qvel, before)
            assert env.env.physics.model.body_mass[1] == pytest.approx(3.0 * HeldOutSystem(
                "cartpole-swingup", params).model.body_mass[1])
        for _ in range(5):
            env.step(torch.tensor([1.0]))
        runs.append(env.env.physics.data.qvel[0] - before[0])
    assert 0 < runs[1] < 0.6 * runs[0]
    with pytest.raises(ValueError, match="keeps the link lengths"):
        system.set_parameters(env, {**heavier, "length_scale": [1.0, 1.0, 2.0]})


def test_reward_of_another_task_on_the_same_bodies():
    """A held-out pendulum plans with the smooth reward of pendulum-swingup-smooth on its own bodies (not the
    sparse task reward); a reward task on other bodies is one InputError line."""
    from gncontrol.errors import InputError

    params = {"mass_scale": [1.0, 1.0], "damping_scale": [1.0], "gear_scale": [1.0], "length_scale": [1.0, 1.4]}
    system = HeldOutSystem("pendulum-swingup", params)
    state = system.env(seed=1).reset()
    action = torch.zeros(1, 1)
    smooth = system.reward("pendulum-swingup-smooth")(state, action)
    sparse = system.reward()(state, action)
    assert smooth.shape == sparse.shape == (1,)
    assert not torch.allclose(smooth, sparse)
    with pytest.raises(InputError, match="cartpole-swingup is on another system"):
        system.reward("cartpole-swingup")


def test_sample_systems_is_seeded_and_in_range():
    """The same seed draws the same systems; scales lie in the task's ranges."""
    from envs.randomisation import ranges_for

    a, b = sample_systems("pendulum-swingup", 3, seed=5), sample_systems("pendulum-swingup", 3, seed=5)
    assert a == b and a != sample_systems("pendulum-swingup", 3, seed=6)
    lo, hi = ranges_for("pendulum-swingup")["mass"]
    assert all(lo <= m <= hi for p in a for m in p["mass_scale"][1:])


def test_system_id_model_at_the_decision_time_step(tmp_path):
    """train-sysid --control-steps 2 saves a model of 2 control steps per step; identified, it plans with
    action repeat 2 (planners.base.model_time_step) and `plan --identify-steps` holds its controls 2 steps."""
    from gncontrol.cli import main
    from gncontrol.sysid.model import IdentifiedModel, identify
    from gncontrol.sysid.training import load_system_id_model
    from planners.base import model_time_step

    data = tmp_path / "pend.h5"
    assert main(["collect", "--task", "pendulum-swingup", "--episodes", "4", "--steps", "24", "--randomise",
                 "--hold", "2", "--out", str(data), "--no-progress"]) == 0
    out = tmp_path / "run"
    assert main(["train-sysid", "--data", str(data), "--out", str(out), "--steps", "3", "--window", "4",
                 "--control-steps", "2", "--targets-per-window", "2", "--batch-size", "4", "--latent", "8",
                 "--hidden", "8", "--encoder-hidden", "8", "--latent-sizes", "4", "4", "4",
                 "--val-fraction", "0.25"]) == 0
    model, record = load_system_id_model(out / "model.pt")
    assert record["model_config"]["control_steps"] == 2 and model.control_steps == 2
    from envs.tasks import get_task
    from gncontrol.cli.plan import identify_in_env

    sysid, latent = identify_in_env(str(out / "model.pt"), get_task("pendulum-swingup"), 8, seed=0, device="cpu")
    bound = IdentifiedModel(sysid, latent)
    assert model_time_step(bound, 4) == (2, 2)
    with pytest.raises(ValueError, match="multiple"):
        model_time_step(bound, 3)
    assert latent.static.nodes.shape[-1] == 4 and identify is not None
