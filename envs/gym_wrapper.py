"""Any registered task as a Gymnasium env, with flat or graph observations.

`TaskEnv("cartpole-swingup", observation="flat")`: observation = body states [N*13]
(float64); `observation="graph"`: a Dict with "nodes" [N, 13] (body states) and "edges"
[E, 1] (the last action at each edge, 0 after reset). Rewards are the task's torch reward
(equal to dm_control's); the physics is stepped as dm_control does (same trajectories).
Episodes end by truncation after the task's episode length. Seeding `reset(seed=...)`
seeds the task's initial-state (and target) draw, so resets are reproducible.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import torch

from envs.mujoco_graph import STATE_SIZE
from envs.tasks import Task, get_task
from gncontrol.errors import InputError

__all__ = ["TaskEnv"]


class TaskEnv(gym.Env):
    """Gymnasium env of a task (see module doc); `info` carries the target and the step count."""

    metadata = {"render_modes": []}

    def __init__(self, task: str | Task, observation: str = "flat", episode_length: int | None = None) -> None:
        """Wraps `task` (a name or Task); `observation` is "flat" or "graph"."""
        if observation not in ("flat", "graph"):
            raise InputError(f"observation must be 'flat' or 'graph', got {observation!r}")
        self.task = get_task(task) if isinstance(task, str) else task
        self._env = self.task.make_env(seed=0)
        self.task._cache.setdefault("env", self._env)
        self.graph = self.task.graph()
        self.observation_mode = observation
        self.episode_length = episode_length or self.task.episode_length
        n, e = self.graph.num_nodes, self.graph.num_edges
        if observation == "flat":
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (n * STATE_SIZE,), np.float64)
        else:
            self.observation_space = gym.spaces.Dict({
                "nodes": gym.spaces.Box(-np.inf, np.inf, (n, STATE_SIZE), np.float64),
                "edges": gym.spaces.Box(-np.inf, np.inf, (e, 1), np.float64),
            })
        self.action_space = gym.spaces.Box(self.task.action_low.astype(np.float32),
                                           self.task.action_high.astype(np.float32), dtype=np.float32)
        self._reward_task = self.task
        self._t = 0
        self._last_action = np.zeros(self.graph.action_dim)

    def _obs(self) -> Any:
        states = self.graph.body_states(self._env.physics)
        if self.observation_mode == "flat":
            return states.reshape(-1)
        edges = self.graph.incidence @ self._last_action
        return {"nodes": states, "edges": edges.reshape(-1, 1)}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        """Draws a new initial state (and target) from the task, seeded by `seed`."""
        super().reset(seed=seed)
        self._env.task._random = np.random.RandomState(int(self.np_random.integers(2**31 - 1)))
        self._env.reset()
        target = self.task.read_target(self._env.physics)
        self._reward_task = self.task.with_target(target) if target is not None else self.task
        self._t = 0
        self._last_action = np.zeros(self.graph.action_dim)
        return self._obs(), {"target": target, "t": 0}

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict]:
        """Applies `action` [A] for one control step; reward from the task's torch reward."""
        a = np.clip(np.asarray(action, dtype=np.float64), self.task.action_low, self.task.action_high)
        physics = self._env.physics
        m, d = physics.model.ptr, physics.data.ptr
        d.ctrl[:] = a
        n_sub = self.task.physics_steps_per_control
        if m.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4:
            mujoco.mj_step(m, d, n_sub)
        else:
            mujoco.mj_step2(m, d)
            if n_sub > 1:
                mujoco.mj_step(m, d, n_sub - 1)
        mujoco.mj_step1(m, d)
        self._t += 1
        self._last_action = a
        states = torch.from_numpy(self.graph.body_states(d))[None]
        with torch.no_grad():
            reward = float(self._reward_task.reward(states, torch.from_numpy(a)[None])[0])
        truncated = self._t >= self.episode_length
        return self._obs(), reward, False, truncated, {"t": self._t}
