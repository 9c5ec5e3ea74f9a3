"""Collector: same trajectories as env.step, determinism, interruption safety, randomisation, CLI."""

from __future__ import annotations

import numpy as np
import pytest

from envs.collect import collect, collect_episode, ou_controls
from envs.mujoco_graph import MujocoGraph
from envs.randomisation import Nominal, apply_parameters, sample_parameters
from envs.tasks import get_task
from gncontrol.cli import main as cli_main
from gncontrol.forward.datasets import load_trajectories


@pytest.mark.parametrize("name", ["cartpole-swingup", "swimmer6"])
def test_direct_stepping_equals_env_step(name):
    ep = collect_episode(name, seed=3, episode=0, steps=40, controller="ou")
    task = get_task(name)
    env = task.make_env(seed=0)
    env_seed = np.random.SeedSequence([3, 0]).spawn(3)[0]
    env.task._random = np.random.RandomState(int(env_seed.generate_state(1)[0]))
    env.reset()
    g = task.graph()
    states, rewards = [g.body_states(env.physics)], []
    for a in ep["actions"]:
        ts = env.step(a)
        states.append(g.body_states(env.physics))
        rewards.append(ts.reward)
    assert np.array_equal(np.array(states), ep["states"])  # bit for bit
    assert np.abs(np.array(rewards) - ep["rewards"]).max() < 1e-4


def test_same_seed_same_bytes_and_append(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    collect("pendulum-swingup", 3, steps=20, seed=7, out=a, progress=False)
    collect("pendulum-swingup", 3, steps=20, seed=7, out=b, progress=False)
    assert a.read_bytes() == b.read_bytes()
    c = collect("pendulum-swingup", 3, steps=20, seed=8, progress=False)
    assert not np.array_equal(c.states, load_trajectories(a).states)
    with pytest.raises(ValueError, match="exists"):
        collect("pendulum-swingup", 1, steps=20, seed=7, out=a, progress=False)
    collect("pendulum-swingup", 2, steps=20, seed=7, out=a, append=True, progress=False)
    d = load_trajectories(a)
    assert d.num_episodes == 5
    assert [s[1] for s in d.metadata["episode_seeds"]] == [0, 1, 2, 3, 4]
    assert len(np.unique(d.states[:, 0, 1, 3])) == 5  # appended episodes start elsewhere (pole angle)


def test_two_workers_give_identical_data(tmp_path):
    one = collect("cartpole-swingup", 3, steps=15, seed=2, workers=1, out=tmp_path / "1.h5", progress=False)
    two = collect("cartpole-swingup", 3, steps=15, seed=2, workers=2, out=tmp_path / "2.h5", progress=False)
    assert np.array_equal(one.states, two.states)
    assert (tmp_path / "1.h5").read_bytes() == (tmp_path / "2.h5").read_bytes()


def test_interrupted_collection_keeps_finished_episodes(tmp_path):
    calls = {"n": 0}

    def policy(state, t):
        calls["n"] += 1
        if calls["n"] > 2 * 10 + 5:  # interrupt in the middle of the third episode
            raise KeyboardInterrupt
        return np.zeros(1)

    out = tmp_path / "i.h5"
    with pytest.raises(KeyboardInterrupt):
        collect("pendulum-swingup", 5, steps=10, seed=0, out=out, policy=policy, progress=False,
                flush_seconds=1e9)
    assert load_trajectories(out).num_episodes == 2


def test_randomisation_changes_parameters_and_static_graph():
    task = get_task("cheetah-run")
    env = task.make_env(seed=0)
    m, d = env.physics.model.ptr, env.physics.data.ptr
    nominal = Nominal.of(m)
    params = sample_parameters(np.random.default_rng(0), m, {"mass": (0.5, 1.5), "gear": (0.5, 0.6)})
    apply_parameters(m, d, nominal, params)
    graph = MujocoGraph(m)
    nodes, edges, _ = graph.static_arrays()
    assert np.allclose(nodes[:, 0], nominal.body_mass * np.array(params["mass_scale"]))
    gear = edges[graph.edge_actuator >= 0, 19]
    assert np.all(gear < nominal.actuator_gear[:, 0] * 0.61)
    apply_parameters(m, d, nominal, None)
    assert np.allclose(m.body_mass, nominal.body_mass)
    ep1 = collect_episode("cheetah-run", seed=1, episode=0, steps=30, randomise=True)
    ep0 = collect_episode("cheetah-run", seed=1, episode=0, steps=30, randomise=False)
    assert ep1["parameters"] is not None and ep0["parameters"] is None
    assert not np.allclose(ep1["static_nodes"][:, 0], ep0["static_nodes"][:, 0])
    assert np.array_equal(ep1["actions"], ep0["actions"])  # same controls, different physics
    assert not np.allclose(ep1["states"][-1], ep0["states"][-1])


def test_ou_controls_are_correlated_and_bounded():
    rng = np.random.default_rng(0)
    u = ou_controls(rng, 2000, np.array([-2.0]), np.array([1.0]))[:, 0]
    assert u.min() >= -2 and u.max() <= 1
    assert np.corrcoef(u[:-1], u[1:])[0, 1] > 0.7


def test_cli_collect(tmp_path, capsys):
    out = tmp_path / "c.h5"
    rc = cli_main(["collect", "--task", "acrobot-swingup", "--episodes", "2", "--steps", "5", "--controller",
                   "ou", "--seed", "1", "--out", str(out), "--randomise", "--no-progress"])
    assert rc == 0
    d = load_trajectories(out)
    assert d.states.shape == (2, 6, 3, 13) and d.metadata["controller"] == "ou"
    assert d.metadata["randomise"] and len(d.metadata["parameters"]) == 2
    assert cli_main(["collect", "--task", "nope", "--episodes", "1", "--out", str(tmp_path / "n.h5")]) == 2
    assert "known tasks" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["cheetah-run", "swimmer6", "acrobot-swingup"])
def test_randomised_episode_equals_env_with_that_model(name):
    """Lengths (MjSpec recompile), masses, damping, gear: data and rewards equal dm_control's."""
    import copy

    from dm_control.mujoco import wrapper

    from envs.randomisation import length_model

    ep = collect_episode(name, seed=4, episode=2, steps=30, randomise=True)
    params = ep["parameters"]
    assert len(params["length_scale"]) == ep["static_nodes"].shape[0]
    task = get_task(name)
    env = task.make_env(seed=0)
    model = copy.deepcopy(length_model(name, tuple(params["length_scale"])))
    env.physics._reload_from_model(wrapper.MjModel(model))
    m, d = env.physics.model.ptr, env.physics.data.ptr
    apply_parameters(m, d, Nominal.of(m), params)
    assert np.allclose(MujocoGraph(m).static_arrays()[0], ep["static_nodes"])  # static graph reflects them
    nominal_nodes = get_task(name).graph().static_arrays()[0]
    assert not np.allclose(nominal_nodes[:, 4:7], ep["static_nodes"][:, 4:7])  # body offsets changed
    env.task._random = np.random.RandomState(
        int(np.random.SeedSequence([4, 2]).spawn(3)[0].generate_state(1)[0]))
    env.reset()
    g = MujocoGraph(m)
    states, rewards = [g.body_states(d)], []
    for a in ep["actions"]:
        ts = env.step(a)
        states.append(g.body_states(d))
        rewards.append(ts.reward)
    assert np.array_equal(np.array(states), ep["states"])
    assert np.abs(np.array(rewards) - ep["rewards"]).max() < 1e-4
    # the next, unrandomised episode in this process runs the nominal model again
    plain = collect_episode(name, seed=4, episode=2, steps=5, randomise=False)
    assert np.allclose(plain["static_nodes"], nominal_nodes)


def test_pendulum_and_cartpole_keep_gear_fixed_other_domains_randomise_it():
    """Gear random with mass would make pendulum mass unidentifiable (only gear/inertia matters)."""
    from envs.randomisation import ranges_for

    for name in ("pendulum-swingup", "cartpole-swingup"):
        ep = collect_episode(name, seed=2, episode=1, steps=5, randomise=True)
        p = ep["parameters"]
        assert ranges_for(name)["gear"] == (1.0, 1.0) and np.all(np.array(p["gear_scale"]) == 1.0)
        assert np.all(np.array(p["mass_scale"][1:]) != 1.0) and np.all(np.array(p["damping_scale"]) != 1.0)
        nominal = get_task(name).graph().static_arrays()
        act = get_task(name).graph().edge_actuator >= 0
        assert np.allclose(ep["static_edges"][act, 19], nominal[1][act, 19])  # gear feature unchanged
        assert not np.allclose(ep["static_nodes"][:, 0], nominal[0][:, 0])  # masses changed
    m = get_task("swimmer6").make_env(seed=0).physics.model.ptr
    gear = sample_parameters(np.random.default_rng(0), m, ranges_for("swimmer6"))["gear_scale"]
    assert np.all(np.array(gear) != 1.0)


@pytest.mark.parametrize("name, inertia_from_geom", [("pendulum-swingup", False), ("cartpole-swingup", True)])
def test_pole_length_scale_moves_com_and_inertia(name, inertia_from_geom):
    """MjSpec recompile: a pole s x longer has its CoM s x further out and ~s^2 the hinge inertia."""
    from envs.randomisation import has_length, length_model

    pole = 1 if name.startswith("pendulum") else 2
    base = length_model(name, tuple(1.0 for _ in range(pole + 1)))
    for s in (0.8, 1.3):
        m = length_model(name, tuple([1.0] * pole + [s]))
        assert m.body_mass[pole] == pytest.approx(base.body_mass[pole])  # mass is its own parameter
        assert m.body_ipos[pole, 2] == pytest.approx(s * base.body_ipos[pole, 2])

        def hinge_inertia(model):
            return model.body_inertia[pole, 1] + model.body_mass[pole] * model.body_ipos[pole, 2] ** 2

        assert hinge_inertia(m) / hinge_inertia(base) == pytest.approx(s**2, rel=0.05)
        ratio = m.body_inertia[pole, 1] / base.body_inertia[pole, 1]
        # a capsule's own inertia grows with its length; the pendulum's sphere bob keeps its own
        assert ratio == (pytest.approx(s**2, rel=0.1) if inertia_from_geom else pytest.approx(1.0))
    # cartpole's cart has nothing off its origin: no length scale (it would change nothing)
    assert list(has_length(base)) == ([False, True] if pole == 1 else [False, False, True])
    ep = collect_episode(name, seed=5, episode=0, steps=3, randomise=True)
    lengths = ep["parameters"]["length_scale"]
    assert lengths[pole] != 1.0 and all(v == 1.0 for v in lengths[:pole])


def test_override_ranges_changes_one_domain_and_rejects_bad_ranges(monkeypatch):
    """A benchmark's --mass-range: the domain's mass range changes, the others and other domains stay."""
    from envs import randomisation
    from envs.randomisation import override_ranges, ranges_for

    monkeypatch.setattr(randomisation, "RANGES", {k: dict(v) for k, v in randomisation.RANGES.items()})
    before = dict(ranges_for("cartpole-swingup"))
    override_ranges("cartpole-balance", mass=(0.5, 3.0))
    after = ranges_for("cartpole-swingup")
    assert after["mass"] == (0.5, 3.0) and {k: v for k, v in after.items() if k != "mass"} == {
        k: v for k, v in before.items() if k != "mass"}
    assert ranges_for("pendulum-swingup")["mass"] == (0.5, 1.5)
    m = get_task("cartpole-swingup").make_env(seed=0).physics.model.ptr
    scales = np.array([sample_parameters(np.random.default_rng(seed), m, after)["mass_scale"][1:]
                       for seed in range(5)])
    assert scales.min() >= 0.5 and scales.max() <= 3.0 and scales.max() > 1.25  # drawn from the new range
    override_ranges("cartpole-swingup", mass=(0.75, 1.25), **{"mass[2]": (2.0, 3.0)})  # the pole only
    one = np.array([sample_parameters(np.random.default_rng(seed), m, ranges_for("cartpole-swingup"))["mass_scale"]
                    for seed in range(5)])
    assert np.all((one[:, 1] >= 0.75) & (one[:, 1] <= 1.25)) and np.all((one[:, 2] >= 2.0) & (one[:, 2] <= 3.0))
    with pytest.raises(ValueError, match="unknown range"):
        override_ranges("cartpole-swingup", weight=(1, 2))
    with pytest.raises(ValueError, match="unknown range"):
        override_ranges("cartpole-swingup", **{"mass[0]": (1, 2)})  # the world body's mass is not a parameter
    with pytest.raises(ValueError, match="bad mass range"):
        override_ranges("cartpole-swingup", mass=(2.0, 1.0))
