"""Task rewards in torch equal dm_control's on states from real episodes; registry behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _real_episode import real_episode

from envs.rewards import tolerance
from envs.tasks import get_task, list_tasks

ENV_TASKS = [n for n in list_tasks() if get_task(n).env_reward]


def test_every_required_task_is_registered():
    names = set(list_tasks())
    required = {"pendulum-swingup", "cartpole-swingup", "cartpole-balance", "acrobot-swingup", "cheetah-run",
                "cheetah-run-backward", "walker-walk", "reacher-easy"} | {f"swimmer{n}" for n in range(3, 16)}
    assert required <= names
    assert len([n for n in names if n.startswith("cheetah")]) >= 3  # run, backward, one more


@pytest.mark.parametrize("name", ENV_TASKS)
def test_reward_equals_env_reward(name):
    task, s, a, r_env = real_episode(get_task(name), seed=1, steps=40)
    r64 = task.reward(s, a).numpy()
    assert np.abs(r64 - r_env).max() < 1e-4
    r32 = task.reward(s.float(), a.float()).numpy()
    assert np.abs(r32 - r_env).max() < 1e-4
    # also through the dynamic Graph the planners hand in
    graph_state = task.graph().dynamic_graph(s, a)
    assert np.abs(task.reward(graph_state, a).numpy() - r_env).max() < 1e-4


def _pendulum_up(physics):
    physics.named.data.qpos["hinge"] = 0.0  # pole up (reward 1 inside 8 degrees)
    physics.named.data.qvel["hinge"] = 0.0


def _reacher_on_target(physics):
    physics.named.data.qpos[:] = 0.0
    physics.named.data.qvel[:] = 0.0
    physics.named.model.geom_pos["target", :2] = [0.21, 0.0]  # at the fingertip when straight


def _hopper_upright_moving(physics):
    physics.named.data.qpos[:] = 0.0  # standing straight: torso - foot height above 0.6
    physics.named.data.qvel[:] = 0.0
    physics.named.data.qvel["rootx"] = 1.8  # forward, inside the hop reward's margin


@pytest.mark.parametrize("name,hook", [("pendulum-swingup", _pendulum_up), ("reacher-easy", _reacher_on_target),
                                       ("hopper-stand", _hopper_upright_moving),
                                       ("hopper-hop", _hopper_upright_moving)])
def test_sparse_rewards_match_where_they_fire(name, hook):
    task, s, a, r_env = real_episode(get_task(name), seed=2, steps=3, hook=hook)
    assert r_env.max() > 0.3  # the states do reach the sparse reward
    assert np.abs(task.reward(s, a).numpy() - r_env).max() < 1e-4


# sparse in the state (an indicator; hopper-stand's state factor too): no state gradient to test
@pytest.mark.parametrize("name", [n for n in list_tasks() if "smooth" not in n
                                  and n not in ("pendulum-swingup", "reacher-easy", "hopper-stand")])
def test_rewards_have_useful_gradients(name):
    task, s, a, _ = real_episode(get_task(name), seed=3, steps=8)
    s = s.clone().requires_grad_(True)
    a = a.clone().requires_grad_(True)
    r = task.reward(s, a)
    assert r.shape == (8,)
    r.sum().backward()
    assert torch.isfinite(s.grad).all()
    assert a.grad is None or torch.isfinite(a.grad).all()  # most rewards ignore the action


def test_smooth_variants_have_gradients_where_sparse_do_not():
    task, s, a, _ = real_episode(get_task("pendulum-swingup-smooth"), seed=4, steps=5)
    s = s.clone().requires_grad_(True)
    task.reward(s, a).sum().backward()
    assert s.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["finger-spin"])
def test_smooth_planning_rewards_bound_the_sparse_ones_and_see_further(name):
    """The -smooth twins (planning rewards; scoring stays the env's) are >= the env's reward on real states,
    in [0, 1], positive where the env's is 0, and have a state gradient."""
    sparse = get_task(name)
    task, s, a, r_env = real_episode(get_task(f"{name}-smooth"), seed=5, steps=20)
    smooth = task.reward(s, a)
    assert (smooth >= torch.as_tensor(sparse.reward(s, a)) - 1e-9).all() and (smooth <= 1 + 1e-9).all()
    assert int((smooth > 1e-3).sum()) > int((torch.as_tensor(r_env) > 1e-3).sum())
    s = s.clone().requires_grad_(True)
    task.reward(s, a).sum().backward()
    assert s.grad.abs().sum() > 0


def test_cheetah_backward_and_jump_rewards():
    fwd, back, jump = get_task("cheetah-run"), get_task("cheetah-run-backward"), get_task("cheetah-jump")
    g = fwd.graph()
    s = torch.zeros(3, g.num_nodes, 13, dtype=torch.float64)
    s[..., 3] = 1.0
    s[0, 1:, 7] = 12.0  # all bodies moving forward fast
    s[1, 1:, 7] = -12.0  # backward fast
    s[2, 1:, 9] = 3.0  # upward fast
    a = torch.zeros(3, g.action_dim, dtype=torch.float64)
    assert fwd.reward(s, a).tolist() == [1.0, 0.0, 0.0]
    assert back.reward(s, a).tolist() == [0.0, 1.0, 0.0]
    assert jump.reward(s, a).tolist() == [0.0, 0.0, 1.0]


def test_swimmer_any_target():
    t = get_task("swimmer6")
    env = t.make_env(seed=0)
    env.reset()
    g = t.graph()
    s = torch.as_tensor(g.body_states(env.physics))[None]
    nose = g.geom_position(s, "nose")[0, :2].tolist()
    a = torch.zeros(1, t.action_dim, dtype=torch.float64)
    assert get_task("swimmer6", target=nose).reward(s, a).item() == pytest.approx(1.0)
    far = get_task("swimmer6", target=(nose[0] + 3, nose[1]))
    assert far.reward(s, a).item() < 0.1
    assert far.target == (nose[0] + 3, nose[1])


def test_unknown_task_lists_known_names():
    with pytest.raises(ValueError, match="unknown task 'nope'.*cartpole-swingup"):
        get_task("nope")
    with pytest.raises(ValueError, match="has no target"):
        get_task("cheetah-run").with_target((0, 0))


def test_task_timing_and_bounds():
    t = get_task("walker-walk")
    assert (t.episode_length, t.physics_steps_per_control) == (1000, 10)
    assert t.control_timestep == pytest.approx(0.025)
    assert np.all(t.action_low == -1) and np.all(t.action_high == 1) and t.action_dim == 6


def test_tolerance_matches_dm_control():
    from dm_control.utils import rewards

    x = np.linspace(-3, 3, 41)
    for kw in [dict(bounds=(0, 1), margin=0), dict(margin=2), dict(bounds=(1, np.inf), margin=1, sigmoid="linear",
               value_at_margin=0), dict(margin=1, sigmoid="quadratic", value_at_margin=0),
               dict(bounds=(0, .1), margin=.5, sigmoid="long_tail")]:
        ours = tolerance(torch.as_tensor(x), **{k: float(v) if k == "margin" else v for k, v in kw.items()})
        assert np.allclose(ours.numpy(), rewards.tolerance(x, **kw), atol=1e-12)


def test_cartpole_factors_multiply_to_the_env_reward():
    """The four factors of cartpole's reward, each in (0, 1], multiply to dm_control's reward."""
    from envs.rewards import cartpole_factors

    task, s, a, r_env = real_episode(get_task("cartpole-swingup"), seed=2, steps=30)
    f = cartpole_factors(task.graph())(s, a)
    assert set(f) == {"upright", "centered", "small_control", "small_velocity"}
    assert all(((v > 0) & (v <= 1)).all() for v in f.values())
    product = f["upright"] * f["centered"] * f["small_control"] * f["small_velocity"]
    assert np.abs(product.numpy() - r_env).max() < 1e-4


def test_reward_builders_refuse_unknown_options():
    import pytest

    from envs.rewards import build_reward
    from envs.tasks import get_task

    graph = get_task("pendulum-swingup").graph()
    assert callable(build_reward("pendulum_swingup", graph, smooth=True))
    with pytest.raises(ValueError, match=r"no option 'smoth'.*smooth"):
        build_reward("pendulum_swingup", graph, smoth=True)
    with pytest.raises(ValueError, match="unknown reward builder"):
        build_reward("pendulum-swing", graph)
    with pytest.raises(ValueError, match="no target"):
        get_task("cartpole-swingup").with_target((1.0, 0.0))
