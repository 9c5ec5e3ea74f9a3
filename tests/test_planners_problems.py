"""Tiny analytic control problems written in torch, shared by the planner tests.

PointMass: a 2-D double integrator, state [B, 4] = (x, y, vx, vy), action [B, 2] in [-1, 1],
reward -(distance to target)^2 - 0.01 |a|^2. GraphPointMass: the same system with a
single-node Graph state. Pendulum: torque-limited swing-up, state [B, 2] = (angle from
hanging, angular velocity), reward (1 - cos angle) / 2 (1 when upright).
"""

from __future__ import annotations

import math

import torch

from gncontrol.gn.graphs import Graph

TARGET = torch.tensor([1.0, -0.5])


class PointMass:
    """Differentiable 2-D double integrator (dt 0.1), a DynamicsModel on tensors [B, 4]."""

    differentiable = True

    def __init__(self, dt: float = 0.1):
        self.dt = dt
        self.calls = 0  # transitions computed (batch size summed over step calls)

    def step(self, state, action, params=None):
        self.calls += state.shape[0]
        if action.shape != (state.shape[0], 2):
            raise ValueError("bad action shape")
        vel = state[:, 2:] + self.dt * action
        pos = state[:, :2] + self.dt * vel
        return torch.cat([pos, vel], dim=1)


def point_reward(state, action):
    """[B] reward of reaching TARGET with small actions."""
    return -((state[:, :2] - TARGET) ** 2).sum(-1) - 0.01 * (action ** 2).sum(-1)


def graph_state(x: torch.Tensor) -> Graph:
    """A single-node Graph per row of x [B, 4] (nodes [B, 4], no edges, empty globals)."""
    b = x.shape[0]
    return Graph(nodes=x, edges=torch.zeros(0, 1), globals=torch.zeros(b, 0),
                 senders=torch.zeros(0, dtype=torch.long), receivers=torch.zeros(0, dtype=torch.long),
                 n_node=torch.ones(b, dtype=torch.long), n_edge=torch.zeros(b, dtype=torch.long))


class GraphPointMass(PointMass):
    """PointMass whose state is a Graph (one node per system)."""

    def step(self, state, action, params=None):
        return state.replace(nodes=super().step(state.nodes, action))


def graph_point_reward(state, action):
    """point_reward on a Graph state."""
    return point_reward(state.nodes, action)


class Pendulum:
    """Torque-limited pendulum (dt 0.05); the torque alone cannot lift it: it must swing."""

    differentiable = True

    def __init__(self, dt: float = 0.05, max_torque: float = 0.5):
        self.dt, self.max_torque = dt, max_torque
        self.calls = 0

    def step(self, state, action, params=None):
        self.calls += state.shape[0]
        th, om = state[:, 0], state[:, 1]
        om = om + self.dt * (-9.81 * torch.sin(th) + self.max_torque * 9.81 * action[:, 0] - 0.1 * om)
        th = th + self.dt * om
        return torch.stack([th, om], dim=1)


def pendulum_reward(state, action):
    """[B] uprightness in [0, 1]."""
    return (1 - torch.cos(state[:, 0])) / 2


class TensorEnv:
    """A 'real' environment stepping a torch model on one state (the MPC loop's Env)."""

    def __init__(self, model, reward_fn, x0: torch.Tensor, horizon: int):
        self.model, self.reward_fn, self.x0, self.horizon = model, reward_fn, x0, horizon

    def reset(self):
        self.t, self.x = 0, self.x0.clone()
        return self.x

    def step(self, action):
        a = action.reshape(1, -1)
        self.x = self.model.step(self.x.reshape(1, -1), a)[0]
        self.t += 1
        return self.x, float(self.reward_fn(self.x.reshape(1, -1), a)), self.t >= self.horizon


def test_point_mass_is_a_double_integrator():
    m = PointMass()
    x = m.step(torch.zeros(3, 4), torch.ones(3, 2))
    assert torch.allclose(x, torch.tensor([[0.01, 0.01, 0.1, 0.1]] * 3))
    assert m.calls == 3


def test_pendulum_cannot_lift_itself_with_constant_torque():
    p = Pendulum()
    x = torch.zeros(1, 2)
    top = 0.0
    for _ in range(200):
        x = p.step(x, torch.ones(1, 1))
        top = max(top, float(pendulum_reward(x, None)))
    assert top < 0.5
    assert math.isfinite(float(x.sum()))
