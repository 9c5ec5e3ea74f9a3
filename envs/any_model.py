"""A dm_control Environment for any MuJoCo model: a user's MJCF file, an MjSpec, a Gymnasium env's model.

Why dm_control's `control.Environment`: every part of the toolkit (collection, the true-model
planner, the MPC loop, rendering) already speaks it, so a model given as a file needs no code
of its own. The task around the model is generic:
- the initial state is the model's reference pose `qpos0` moved by a uniform random joint
  velocity of size `reset_noise` for one unit of time (`mj_integratePos`, so ball and free
  joints keep unit quaternions), and `qvel` is `reset_noise` times a standard normal;
- actions are the actuators' control ranges; an actuator without a range gets [-1, 1];
- the reward is the user's torch reward on the body states [1, N, 13] (`reward(state,
  action) -> [B]`), or 0 when none is given (collect and train need none; a planner does);
- the episode is `time_limit` seconds of `n_sub_steps` physics steps per control step.

`gym_settings(env_id)` reads a Gymnasium MuJoCo env's own frame skip, episode length and reset
noise, so `gym:Hopper-v5` steps at Gymnasium's control rate from Gymnasium's start states (its
reward is not reproduced here: give one, or learn one).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable
from typing import Any

import mujoco
import numpy as np

from gncontrol.errors import InputError

__all__ = ["AnyModelSettings", "any_model_env", "gym_settings", "model_from_source"]


@dataclasses.dataclass(frozen=True)
class AnyModelSettings:
    """Episode length, control rate and reset noise of a generic model task."""

    time_limit: float = 10.0  # seconds per episode
    control_timestep: float | None = None  # seconds per control step; None: ~0.01 s in whole physics steps
    reset_noise: float = 0.1  # size of the random initial joint offset and velocity


def model_from_source(source: Any) -> mujoco.MjModel:
    """A compiled MjModel from an MJCF path, an MjSpec or an MjModel (one InputError line if it fails)."""
    if isinstance(source, mujoco.MjModel):
        return source
    if isinstance(source, mujoco.MjSpec):
        return source.compile()
    path = str(source)
    try:
        return mujoco.MjModel.from_xml_path(path)
    except (ValueError, OSError) as e:  # MuJoCo's parse and file errors
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"cannot load MJCF {path!r}: {first}") from None


def gym_settings(env_id: str) -> tuple[mujoco.MjModel, AnyModelSettings, str | None]:
    """(model, settings, MJCF path) of a Gymnasium MuJoCo env: its MjModel, frame skip, episode length, reset
    noise, and the XML file it was loaded from (None if unknown)."""
    import gymnasium as gym

    try:
        env = gym.make(env_id)
    except gym.error.Error as e:
        raise InputError(f"unknown Gymnasium env {env_id!r}: {e}") from None
    u = env.unwrapped
    model = getattr(u, "model", None)
    if not isinstance(model, mujoco.MjModel):
        env.close()
        raise InputError(f"Gymnasium env {env_id!r} is not a MuJoCo env (no MjModel)")
    dt = float(model.opt.timestep) * int(getattr(u, "frame_skip", 1))
    steps = env.spec.max_episode_steps or 1000
    noise = float(getattr(u, "_reset_noise_scale", 0.1))
    model = _copy_model(model)
    path = getattr(u, "fullpath", None)
    env.close()
    return model, AnyModelSettings(time_limit=steps * dt, control_timestep=dt, reset_noise=noise), path


def _copy_model(model: mujoco.MjModel) -> mujoco.MjModel:
    import copy

    return copy.deepcopy(model)


def _task_class() -> type:
    from dm_control.suite import base

    class AnyModelTask(base.Task):
        """Random start near qpos0, actuator-range actions, the user's reward (or 0)."""

        def __init__(self, reset_noise: float, reward_fn: Callable | None, graph: Any, random: Any = None):
            super().__init__(random=random)
            self._noise, self._reward_fn, self._graph = reset_noise, reward_fn, graph

        def initialize_episode(self, physics: Any) -> None:
            m, d = physics.model.ptr, physics.data.ptr
            qpos = m.qpos0.copy()
            mujoco.mj_integratePos(m, qpos, self.random.uniform(-self._noise, self._noise, m.nv), 1.0)
            d.qpos[:] = qpos
            d.qvel[:] = self._noise * self.random.standard_normal(m.nv)
            super().initialize_episode(physics)

        def action_spec(self, physics: Any) -> Any:
            from dm_env import specs

            low, high = action_bounds(physics.model.ptr)
            return specs.BoundedArray((len(low),), np.float64, low, high, name="\t".join(
                physics.model.id2name(i, "actuator") or f"actuator{i}" for i in range(len(low))))

        def get_observation(self, physics: Any) -> collections.OrderedDict:
            return collections.OrderedDict(position=physics.data.qpos.copy(), velocity=physics.data.qvel.copy())

        def get_reward(self, physics: Any) -> float:
            if self._reward_fn is None:
                return 0.0
            import torch

            states = torch.from_numpy(self._graph.body_states(physics.data.ptr))[None]
            action = torch.from_numpy(np.array(physics.data.ctrl, dtype=np.float64))[None]
            with torch.no_grad():
                return float(self._reward_fn(states, action)[0])

    return AnyModelTask


def action_bounds(model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    """[A] low and high control bounds: each actuator's ctrlrange, [-1, 1] where it has none."""
    low, high = -np.ones(model.nu), np.ones(model.nu)
    limited = np.asarray(model.actuator_ctrllimited, dtype=bool)
    if model.nu:
        rng = np.asarray(model.actuator_ctrlrange)
        low[limited], high[limited] = rng[limited, 0], rng[limited, 1]
    return low, high


def any_model_env(model: mujoco.MjModel, settings: AnyModelSettings = AnyModelSettings(),
                  reward_fn: Callable | None = None, seed: int | None = None, **env_kwargs: Any) -> Any:
    """A dm_control Environment of `model` (copied) with the generic task (see module doc)."""
    from dm_control import mujoco as dm_mujoco
    from dm_control.mujoco import wrapper
    from dm_control.rl import control

    from envs.mujoco_graph import MujocoGraph

    physics = dm_mujoco.Physics.from_model(wrapper.MjModel(_copy_model(model)))
    if physics.model.nu == 0:
        raise InputError("the model has no actuators: nothing for a controller or planner to act with")
    dt = float(physics.model.opt.timestep)
    target = settings.control_timestep or max(dt, 0.01)
    n_sub = max(1, int(round(target / dt)))
    task = _task_class()(settings.reset_noise, reward_fn, MujocoGraph(physics.model.ptr), random=seed)
    return control.Environment(physics, task, time_limit=settings.time_limit, n_sub_steps=n_sub,
                               **env_kwargs)
