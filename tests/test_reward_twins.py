"""Hand-written torch reward twins of dm_control suite tasks equal `env.task.get_reward(physics)` on real states.

Each twin runs in its real env with random actions, from a reset state and from a state where the
(sparse) reward fires, and is compared to 1e-4 in float64 and float32 and through the dynamic Graph.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _real_episode import real_episode

from envs.tasks import get_task


def _still(physics):
    physics.named.data.qvel[:] = 0.0


def _point_mass_on_target(physics):
    physics.named.data.qpos[:] = 0.0  # the mass on the target (0.01 away, inside its 0.015 radius)
    _still(physics)
    physics.named.data.qvel["root_x"] = 0.3  # then out through the reward's margin


def _ball_in_cup(physics):
    physics.forward()
    d = physics.named.data.site_xpos["target", ["x", "z"]] - physics.named.data.xpos["ball", ["x", "z"]]
    physics.named.data.qpos["ball_x"] += d[0]  # the ball above the target zone, dropping into it: 0 -> 1
    physics.named.data.qpos["ball_z"] += d[1] + 0.06
    _still(physics)
    physics.named.data.qvel["ball_z"] = -1.0


def _finger_spinning(physics):
    physics.named.data.qvel[:] = 0.0
    physics.named.data.qvel["hinge"] = -17.0  # faster than the -15 rad/s the reward asks, slowing past it: 1 -> 0


def _finger_tip_leaving_target(physics, hinge_velocity: float):
    physics.forward()
    physics.named.model.site_pos["target", ["x", "z"]] = physics.named.data.site_xpos["tip", ["x", "z"]]
    _still(physics)
    physics.named.data.qvel["hinge"] = hinge_velocity  # the tip turns away: the reward goes 1 -> 0


def _finger_tip_leaving_easy_target(physics):
    _finger_tip_leaving_target(physics, -25.0)  # out of the 0.07 radius after a few steps


def _finger_tip_leaving_hard_target(physics):
    _finger_tip_leaving_target(physics, -13.0)  # the 0.03 radius: slower, or it is left within one step


def _fish_upright(physics):
    physics.named.data.qpos["root"][3:7] = [1.0, 0.0, 0.0, 0.0]
    _still(physics)


def _quadruped_walking(physics):
    physics.named.data.qpos["root"][3:7] = [1.0, 0.0, 0.0, 0.0]
    physics.named.data.qvel[:] = 0.0
    physics.named.data.qvel["root"][0] = 0.4  # forward, inside the walk reward's margin


CASES = [("point_mass-easy", None), ("point_mass-easy", _point_mass_on_target),
         ("point_mass-hard", _point_mass_on_target), ("ball_in_cup-catch", None),
         ("ball_in_cup-catch", _ball_in_cup), ("finger-spin", None), ("finger-spin", _finger_spinning),
         ("finger-turn_easy", None), ("finger-turn_easy", _finger_tip_leaving_easy_target),
         ("finger-turn_hard", _finger_tip_leaving_hard_target), ("fish-upright", None), ("fish-upright", _fish_upright),
         ("quadruped-walk", None), ("quadruped-walk", _quadruped_walking), ("quadruped-run", None),
         ("quadruped-run", _quadruped_walking)]
SPARSE = {"ball_in_cup-catch", "finger-spin", "finger-turn_easy", "finger-turn_hard"}
FIRES = {"point_mass-easy", "point_mass-hard", "ball_in_cup-catch", "finger-spin", "finger-turn_easy",
         "finger-turn_hard", "fish-upright", "quadruped-walk"}


@pytest.mark.parametrize("name,hook", CASES, ids=[f"{n}-{h.__name__ if h else 'reset'}" for n, h in CASES])
def test_twin_equals_env_reward(name, hook):
    steps = 10 if hook is not None else 30
    task, s, a, r_env = real_episode(get_task(f"dmc:{name}"), seed=1, steps=steps, hook=hook)
    if hook is not None and name in FIRES:
        assert r_env.max() > 0.3, r_env  # the states do reach the reward
        if name in SPARSE:
            assert r_env.min() == 0.0, r_env  # and leave it: both sides of the indicator
    assert np.abs(task.reward(s, a).numpy() - r_env).max() < 1e-4
    assert np.abs(task.reward(s.float(), a.float()).numpy() - r_env).max() < 1e-4
    graph_state = task.graph().dynamic_graph(s, a)
    assert np.abs(task.reward(graph_state, a).numpy() - r_env).max() < 1e-4


@pytest.mark.parametrize("name,builder", [("point_mass-easy", "point_mass"), ("ball_in_cup-catch", "ball_in_cup"),
                                          ("finger-spin", "finger_spin"), ("finger-turn_hard", "finger_turn"),
                                          ("fish-upright", "fish_upright"), ("quadruped-run", "quadruped")])
def test_dm_control_names_pick_up_the_twin(name, builder):
    assert get_task(name).reward_builder == get_task(f"dmc:{name}").reward_builder == builder
    assert get_task(f"dmc:{name}").env_reward


def test_finger_turn_target_is_read_in_x_z_and_sparse_rewards_backpropagate():
    task = get_task("finger-turn_easy")
    env = task.make_env(seed=3)
    env.reset()
    target = task.read_target(env.physics)
    assert target == pytest.approx(tuple(env.physics.named.model.site_pos["target", ["x", "z"]]))
    s = torch.as_tensor(task.graph().body_states(env.physics))[None].requires_grad_(True)
    r = task.with_target(target).reward(s, torch.zeros(1, task.action_dim, dtype=torch.float64))
    r.sum().backward()  # an indicator, yet on the autograd graph: zero, finite gradient
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() == 0
