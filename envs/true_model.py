"""The TRUE MuJoCo simulator behind the dynamics-model interface, and a dm_control task as
the MPC loop's real environment.

`TrueModel.step(state, action[B, A]) -> state` and `TrueModel.rollout(state, actions[B, T, A])`
step copies of the physics with `mujoco.rollout` (C, multi-threaded): each control step
holds the action for the task's `n_sub_steps` MuJoCo steps, as dm_control does. So every
planner also runs on the true model, the honest upper bound for learned models
(`differentiable = False`: sampling planners and MCTS only).

State: the adapter's dynamic Graph (nodes [B*N, 13] body states, edges [B*E, 1] the action
that led there) whose globals [B, S] carry the FULL MuJoCo physics state
(mjSTATE_FULLPHYSICS, float64), so the true model can resume exactly from any state it
returned. Rewards read only the nodes, so a task's reward works unchanged on these states.

Body states come from frame sensors (position, quaternion, linear and angular velocity of
every body frame) added to a copy of the model compiled from the same XML, read in C
during the rollout: no Python per simulated state. `TrueModel.from_task` builds that copy
for dm_control suite domains and SwimmerN.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import mujoco
import mujoco.rollout
import numpy as np
import torch

from envs.mujoco_graph import STATE_SIZE, MujocoGraph
from envs.rendering import render_frame
from envs.specs import compile_spec
from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph

__all__ = ["TrueModel", "TaskEnv", "add_body_sensors", "task_model_spec"]

_FULL = int(mujoco.mjtState.mjSTATE_FULLPHYSICS)
_SENSORS = (mujoco.mjtSensor.mjSENS_FRAMEPOS, mujoco.mjtSensor.mjSENS_FRAMEQUAT,
            mujoco.mjtSensor.mjSENS_FRAMELINVEL, mujoco.mjtSensor.mjSENS_FRAMEANGVEL)


def add_body_sensors(spec: mujoco.MjSpec) -> mujoco.MjSpec:
    """Adds 13 frame sensors (pos 3, quat 4, linvel 3, angvel 3) per non-world body frame, in body order."""
    for i, body in enumerate(spec.bodies):
        if i == 0:
            continue
        if not body.name:
            body.name = f"_true_model_body{i}"
        for kind in _SENSORS:
            spec.add_sensor(type=kind, objtype=mujoco.mjtObj.mjOBJ_XBODY, objname=body.name)
    return spec


def task_model_spec(task: Any) -> mujoco.MjSpec:
    """The MjSpec of a registered task's nominal model, from dm_control's own XML and assets."""
    factory = task.env_factory
    source = getattr(factory, "model_source", None)  # a gym: / xml: / registered model (envs.tasks)
    if isinstance(source, mujoco.MjSpec):
        return source.copy()
    if isinstance(source, str):
        return mujoco.MjSpec.from_file(source)
    if not isinstance(factory, functools.partial) or not factory.args or source is not None:
        raise InputError(f"cannot find the model XML of task {task.name} (the true model recompiles it with body "
                         "sensors): give the model as an MJCF file or an MjSpec")
    from dm_control import suite

    if factory.func.__name__ == "_swimmer_env":
        from dm_control.suite import swimmer

        xml, assets = swimmer.get_model_and_assets(int(factory.args[0]))
    else:
        domain = getattr(suite, str(factory.args[0]), None)
        if domain is None or not hasattr(domain, "get_model_and_assets"):
            raise InputError(f"cannot find the model XML of task {task.name}")
        try:
            xml, assets = domain.get_model_and_assets()
        except TypeError:  # a generated model (lqr takes sizes and a random state): no fixed XML to recompile
            raise InputError(f"cannot find the model XML of task {task.name}: dm_control generates it") from None
    include = {k[2:] if k.startswith("./") else k: v for k, v in assets.items()}
    return mujoco.MjSpec.from_string(xml if isinstance(xml, str) else xml.decode(), include=include)


class TrueModel:
    """The MuJoCo simulator as a (non-differentiable) batched dynamics model on graph states."""

    differentiable = False

    def __init__(self, graph: MujocoGraph, sensor_model: mujoco.MjModel, n_sub_steps: int = 1,
                 nthread: int = 1, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32):
        """`sensor_model`: the task's model plus `add_body_sensors` (same physics as `graph.model`)."""
        m = graph.model
        if (sensor_model.nq, sensor_model.nv, sensor_model.nu, sensor_model.nbody) != (m.nq, m.nv, m.nu, m.nbody):
            raise InputError("sensor_model does not match the graph's model (nq, nv, nu, nbody differ)")
        n_added = 13 * (m.nbody - 1)
        if sensor_model.nsensordata < n_added:
            raise InputError("sensor_model lacks the body frame sensors (use add_body_sensors)")
        self.graph, self.model = graph, sensor_model
        self.n_sub_steps, self.nthread = int(n_sub_steps), int(nthread)
        self.device, self.dtype = device, dtype
        self.sensor_offset = sensor_model.nsensordata - n_added
        self.state_size = mujoco.mj_stateSize(sensor_model, _FULL)
        self._datas = [mujoco.MjData(sensor_model) for _ in range(self.nthread)]
        self._pool = mujoco.rollout.Rollout(nthread=self.nthread) if self.nthread > 1 else None
        self.transitions = 0  # simulated control steps (batch size summed), for equal-budget comparisons

    @staticmethod
    def from_task(task: Any, nthread: int = 1, device: torch.device | str | None = None) -> TrueModel:
        """The true model of a registered task (nominal parameters)."""
        spec = add_body_sensors(task_model_spec(task))
        try:
            model = compile_spec(spec)
        except ValueError as e:  # e.g. meshes the recompiled XML cannot find (dm_control's dog)
            raise InputError(f"cannot recompile the model of task {task.name} with body sensors: "
                             f"{str(e).strip().splitlines()[0]}") from None
        graph = task.graph()
        # the compiled copy must be the same physics as the env's model
        if not np.allclose(model.body_mass, graph.model.body_mass) or model.opt.timestep != graph.model.opt.timestep:
            raise InputError(f"the recompiled model of {task.name} differs from the environment's")
        return TrueModel(graph, model, task.physics_steps_per_control, nthread, device)

    # --------------------------------------------------------------------- states
    def state_from_physics(self, physics: Any, action: torch.Tensor | None = None) -> Graph:
        """A one-graph state (body states + full physics state in globals) of a physics / MjData now."""
        d = physics.data if hasattr(physics, "data") and hasattr(physics, "model") else physics
        d = getattr(d, "ptr", d)
        m = self.graph.model
        full = np.empty(self.state_size)
        mujoco.mj_getState(m, d, full, _FULL)
        body = torch.as_tensor(self.graph.body_states(d), dtype=self.dtype, device=self.device)[None]
        act = torch.zeros(1, self.graph.action_dim, dtype=self.dtype, device=self.device) if action is None \
            else action.reshape(1, -1).to(self.dtype)
        g = self.graph.dynamic_graph(body, act)
        return g.replace(globals=torch.as_tensor(full[None], dtype=torch.float64, device=g.device))

    def _physics_states(self, state: Graph) -> np.ndarray:
        if not isinstance(state, Graph) or state.globals.shape[1] != self.state_size:
            raise InputError("TrueModel needs states it made (state_from_physics / step): globals must hold "
                             f"the {self.state_size}-number physics state")
        return state.globals.detach().cpu().numpy().astype(np.float64)

    # ------------------------------------------------------------------- dynamics
    def rollout(self, state: Graph, actions: torch.Tensor, params: Any = None) -> list[Graph]:
        """States after each of T control steps [B, T, A] from B states (one batched C rollout)."""
        if actions.dim() != 3 or actions.shape[2] != self.graph.action_dim:
            raise InputError(f"actions must be [B, T, {self.graph.action_dim}], got {tuple(actions.shape)}")
        b, t, _ = actions.shape
        x0 = self._physics_states(state)
        if x0.shape[0] != b:
            raise InputError(f"state holds {x0.shape[0]} states but actions hold {b} sequences")
        k = self.n_sub_steps
        ctrl = np.repeat(actions.detach().cpu().numpy().astype(np.float64), k, axis=1)
        # one extra step: sensors are computed at the start of a step, so sensordata[i] is state i
        ctrl = np.concatenate([ctrl, np.zeros((b, 1, ctrl.shape[2]))], axis=1)
        runner = self._pool.rollout if self._pool is not None else mujoco.rollout.rollout
        phys, sens = runner(self.model, self._datas, x0, ctrl)
        self.transitions += b * t
        idx = np.arange(1, t + 1) * k
        n = self.graph.num_nodes
        body = np.zeros((b, t, n, STATE_SIZE))
        body[:, :, 0, 3] = 1.0  # the world node: origin, identity quaternion, at rest
        off = self.sensor_offset
        body[:, :, 1:] = sens[:, idx, off:off + 13 * (n - 1)].reshape(b, t, n - 1, STATE_SIZE)
        body_t = torch.as_tensor(body, dtype=self.dtype, device=self.device)
        phys_t = torch.as_tensor(phys[:, idx - 1], dtype=torch.float64, device=self.device)
        acts = actions.to(device=body_t.device, dtype=self.dtype)
        out = []
        for i in range(t):
            g = self.graph.dynamic_graph(body_t[:, i], acts[:, i])
            out.append(g.replace(globals=phys_t[:, i]))
        return out

    def step(self, state: Graph, action: torch.Tensor, params: Any = None) -> Graph:
        """Next states after one control step with actions [B, A]."""
        if action.dim() != 2:
            raise InputError(f"action must be [B, A], got {tuple(action.shape)}")
        return self.rollout(state, action[:, None], params)[0]


class TaskEnv:
    """A registered dm_control task as the MPC loop's real environment (planners.mpc.Env).

    States are `TrueModel` states (body-state graph + physics state) when a true model is
    given, else the adapter's plain dynamic graph (for learned models).
    """

    def __init__(self, task: Any, seed: int | None = 0, true_model: TrueModel | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32):
        self.task, self.env = task, task.make_env(seed=seed)
        self.graph = task.graph()
        self.true_model, self.device, self.dtype = true_model, device, dtype

    def _state(self, action: torch.Tensor | None = None) -> Graph:
        phys = self.env.physics
        if self.true_model is not None:
            return self.true_model.state_from_physics(phys, action)
        body = torch.as_tensor(self.graph.body_states(phys), dtype=self.dtype, device=self.device)[None]
        act = torch.zeros(1, self.graph.action_dim, dtype=self.dtype, device=self.device) if action is None \
            else action.reshape(1, -1).to(device=self.device, dtype=self.dtype)
        return self.graph.dynamic_graph(body, act)

    def episode_reward(self, reward_task: Any = None) -> Callable:
        """`reward_task`'s reward (default: this env's task) aimed at the target of the episode the env is in.

        Why: reacher, finger-turn and the swimmers draw a new target at every reset; a planner given the
        task's plain `reward` aimed at the model file's default target while the env scored another (true-model
        CEM returned 0 on reacher-easy). The target is read from the env's physics at each call (cheap) and
        the retargeted reward built once per target.
        """
        reward_task = self.task if reward_task is None else reward_task
        if reward_task.target_kind is None or self.task.target_kind is None or reward_task.reward_fn is not None:
            return reward_task.reward  # no target, or the user's own function (it knows its target)
        built: dict = {}

        def reward(state: Any, action: torch.Tensor) -> torch.Tensor:
            target = self.task.read_target(self.env.physics)
            fn = built.get(target)
            if fn is None:
                built.clear()
                fn = built[target] = reward_task.with_target(target).reward
            return fn(state, action)
        return reward

    def reset(self) -> Graph:
        """Starts an episode (the task's random initial state); returns the state."""
        self.env.reset()
        return self._state()

    def step(self, action: torch.Tensor) -> tuple[Graph, float, bool]:
        """One control step of the real environment: (state, the env's own reward, done)."""
        ts = self.env.step(action.detach().cpu().numpy().astype(np.float64))
        return self._state(action), float(ts.reward or 0.0), bool(ts.last())

    def render(self, size: int = 64) -> np.ndarray | None:
        """An RGB frame [size, size, 3] of the current state (for videos); None when no OpenGL backend works."""
        return render_frame(self.env.physics, size, camera_id=0)
