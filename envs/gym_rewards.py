"""Gymnasium MuJoCo rewards in torch on body states, so `gym:ENV_ID` tasks can be planned on.

Each builder takes the system's `MujocoGraph` and returns `reward(state, action) -> [B]` with
`state` a dynamic Graph or [B, N, 13] body states and `action` [B, A], differentiable torch.
The terms and weights are Gymnasium v5's defaults (gymnasium/envs/mujoco/*_v5.py, `_get_rew`),
read on the state AFTER the step, with three differences a body-state reward cannot avoid:

- forward velocity: Gymnasium's finite difference of the root position over the frame skip is the
  instantaneous velocity at the end of the step here (the torso origin's, or the mass centre's for
  Humanoid);
- contact costs (Ant, Humanoid, HumanoidStandup's impact cost) are left out: contact forces are
  not in a body state;
- "healthy" rewards are paid while healthy (Gymnasium's v5 `healthy_reward` times the indicator);
  the generic env does not end the episode when unhealthy, so a fallen body earns nothing more
  instead of stopping. Hopper's joint-range part of "healthy" (|state| < 100) is left out.

`GYM_REWARDS` maps an env id's base name (Hopper for Hopper-v5 / Hopper-v4, `gym_reward_name`) to its
builder; `envs.tasks` attaches the built reward to a `gym:` task.
tests/test_gym_rewards.py compares every one with Gymnasium's own rewards on real episodes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import torch

from envs.mujoco_graph import MujocoGraph, quat_to_mat, states_from_graph
from envs.rewards import RewardFn, _on_state_graph

__all__ = ["GYM_REWARDS", "gym_reward_name"]


def _ctrl_cost(action: torch.Tensor, weight: float, like: torch.Tensor) -> torch.Tensor:
    return weight * action.to(like.dtype).square().sum(-1)


def _pitch(states: torch.Tensor, body: int) -> torch.Tensor:
    """[B] rotation angle about the world y axis of a body that only turns about y (planar walkers)."""
    rot = quat_to_mat(states[:, body, 3:7])
    return torch.atan2(rot[:, 0, 2], rot[:, 0, 0])


def locomotion(g: MujocoGraph, *, forward_weight: float, ctrl_weight: float, healthy_reward: float = 0.0,
               z_range: tuple[float, float] | None = None, angle_range: tuple[float, float] | None = None,
               mass_centre: bool = False) -> RewardFn:
    """forward_weight * x-velocity + healthy_reward * healthy - ctrl_weight * |a|^2 (HalfCheetah, Swimmer,
    Hopper, Walker2d, Ant, Humanoid). x-velocity: the torso origin's, or the mass centre's."""
    torso = g.body_id("torso")

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        vx = g.subtree_com_velocity(s, torso)[:, 0] if mass_centre else s[:, torso, 7]
        r = forward_weight * vx - _ctrl_cost(action, ctrl_weight, vx)
        if healthy_reward:
            ok = torch.ones_like(vx, dtype=torch.bool)
            if z_range is not None:
                z = s[:, torso, 2]
                ok = ok & (z > z_range[0]) & (z < z_range[1])
            if angle_range is not None:
                a = _pitch(s, torso)
                ok = ok & (a > angle_range[0]) & (a < angle_range[1])
            r = r + healthy_reward * _on_state_graph(ok, vx)
        return r
    return reward


def standup(g: MujocoGraph) -> RewardFn:
    """HumanoidStandup: torso height / MuJoCo timestep - 0.1 |a|^2 + 1 (impact cost left out)."""
    torso, dt = g.body_id("torso"), float(g.model.opt.timestep)

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        z = s[:, torso, 2]
        return z / dt - _ctrl_cost(action, 0.1, z) + 1.0
    return reward


def inverted_pendulum(g: MujocoGraph) -> RewardFn:
    """InvertedPendulum: 1 while the pole's angle is within 0.2 rad of upright, else 0."""
    pole = g.body_id("pole")

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        a = _pitch(s, pole)
        return _on_state_graph(a.abs() <= 0.2, a)
    return reward


def inverted_double_pendulum(g: MujocoGraph) -> RewardFn:
    """InvertedDoublePendulum: 10 while the tip is above 1 - 0.01 x_tip^2 - (z_tip - 2)^2
    - 1e-3 w1^2 - 5e-3 (w2 - w1)^2 (the hinges' velocities)."""
    m = g.model
    site = int(m.site("tip").id)
    body, offset = int(m.site_bodyid[site]), np.array(m.site_pos[site], dtype=float)
    pole = g.body_id("pole")

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        tip = g.point_positions(s, body, offset)
        x, y = tip[:, 0], tip[:, 2]
        w1, w2 = s[:, pole, 11], s[:, body, 11] - s[:, pole, 11]
        alive = 10.0 * _on_state_graph(y > 1.0, y)
        return alive - 0.01 * x ** 2 - (y - 2) ** 2 - 1e-3 * w1 ** 2 - 5e-3 * w2 ** 2
    return reward


def _distance(s: torch.Tensor, a: int, b: int) -> torch.Tensor:
    return (s[:, a, :3] - s[:, b, :3]).norm(dim=-1)


def reacher(g: MujocoGraph) -> RewardFn:
    """Reacher: -|fingertip - target| - |a|^2 (body origins, as Gymnasium's get_body_com)."""
    tip, target = g.body_id("fingertip"), g.body_id("target")

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        d = _distance(s, tip, target)
        return -d - _ctrl_cost(action, 1.0, d)
    return reward


def pusher(g: MujocoGraph) -> RewardFn:
    """Pusher: -|object - goal| - 0.5 |object - arm tips| - 0.1 |a|^2."""
    obj, tips, goal = g.body_id("object"), g.body_id("tips_arm"), g.body_id("goal")

    def reward(state, action):
        s = states_from_graph(state, g.num_nodes)
        d = _distance(s, obj, goal)
        return -d - 0.5 * _distance(s, obj, tips) - _ctrl_cost(action, 0.1, d)
    return reward


def _builder(fn: Callable[..., RewardFn], **options) -> Callable[[MujocoGraph], RewardFn]:
    return lambda g: fn(g, **options)


GYM_REWARDS: dict[str, Callable[[MujocoGraph], RewardFn]] = {
    "HalfCheetah": _builder(locomotion, forward_weight=1.0, ctrl_weight=0.1),
    "Swimmer": _builder(locomotion, forward_weight=1.0, ctrl_weight=1e-4),
    "Hopper": _builder(locomotion, forward_weight=1.0, ctrl_weight=1e-3, healthy_reward=1.0,
                       z_range=(0.7, float("inf")), angle_range=(-0.2, 0.2)),
    "Walker2d": _builder(locomotion, forward_weight=1.0, ctrl_weight=1e-3, healthy_reward=1.0,
                         z_range=(0.8, 2.0), angle_range=(-1.0, 1.0)),
    "Ant": _builder(locomotion, forward_weight=1.0, ctrl_weight=0.5, healthy_reward=1.0, z_range=(0.2, 1.0)),
    "Humanoid": _builder(locomotion, forward_weight=1.25, ctrl_weight=0.1, healthy_reward=5.0, z_range=(1.0, 2.0),
                         mass_centre=True),
    "HumanoidStandup": standup,
    "InvertedPendulum": inverted_pendulum,
    "InvertedDoublePendulum": inverted_double_pendulum,
    "Reacher": reacher,
    "Pusher": pusher,
}


def gym_reward_name(env_id: str) -> str | None:
    """The GYM_REWARDS key of a Gymnasium env id ('Hopper' for 'Hopper-v5'), or None if it has no reward here."""
    base = re.sub(r"-v\d+$", "", env_id)
    return base if base in GYM_REWARDS else None

