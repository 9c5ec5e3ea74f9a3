"""One parameter-randomised system of a suite task, as a planner meets it: the real env, its true
model, its true static graph and its reward (for system identification in control).

`parameters` are those `collect --randomise` draws and records per episode (envs.randomisation:
`mass_scale` [nbody], `damping_scale` [nv], `gear_scale` [nu], optional `length_scale` [nbody]).

    system = HeldOutSystem("cartpole-swingup", parameters)
    env = system.env(seed=0)                  # a TaskEnv of THIS system (planners.mpc.Env)
    true = system.true_model()                # the MuJoCo simulator of this system, for true-model CEM
    params = system.graph_system()            # its true static graph: what a GN "given the parameters" reads
    system.set_parameters(env, other)         # a mid-episode change (masses, damping, gears; same lengths)
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import mujoco
import numpy as np

from gncontrol.errors import InputError

__all__ = ["HeldOutSystem", "sample_systems"]


def sample_systems(task_name: str, count: int, seed: int) -> list[dict[str, list[float]]]:
    """`count` parameter dicts drawn from the task's ranges (envs.randomisation.RANGES) with their own seed."""
    from envs.randomisation import ranges_for, sample_lengths, sample_parameters, suite_spec
    from envs.specs import compile_spec

    nominal = compile_spec(suite_spec(task_name))
    rng = np.random.default_rng([seed, 7919])
    out = []
    for _ in range(count):
        params = sample_parameters(rng, nominal, ranges_for(task_name))
        lengths = sample_lengths(rng, nominal, ranges_for(task_name))
        if lengths is not None:
            params["length_scale"] = lengths
        out.append(params)
    return out


class HeldOutSystem:
    """A suite task's model with one set of parameter scales written in (lengths recompiled, then masses,
    damping and gears; envs.randomisation); `parameters` None: the nominal system."""

    def __init__(self, task_name: str, parameters: dict[str, list[float]] | None = None):
        from envs.tasks import get_task

        self.task, self.parameters = get_task(task_name), parameters
        self.model = self._compiled(sensors=False)

    def _compiled(self, sensors: bool) -> mujoco.MjModel:
        """The system's MjModel (with the true model's body sensors if `sensors`)."""
        from envs.randomisation import Nominal, apply_parameters, scale_lengths, suite_spec
        from envs.specs import compile_spec
        from envs.true_model import add_body_sensors

        spec = suite_spec(self.task.name)
        lengths = (self.parameters or {}).get("length_scale")
        if lengths is not None:
            scale_lengths(spec, list(lengths))
        m = compile_spec(add_body_sensors(spec) if sensors else spec)
        self.nominal = Nominal.of(m)  # sensors change no mass, damping or gear
        apply_parameters(m, mujoco.MjData(m), self.nominal, self.parameters)
        return m

    @functools.cached_property
    def graph(self) -> Any:
        """The system's MujocoGraph (static features from its own masses, lengths, damping, gears)."""
        from envs.mujoco_graph import MujocoGraph

        return MujocoGraph(self.model)

    def graph_system(self, device: Any = None) -> Any:
        """Its true static GraphSystem (one graph), the params a GN trained with true parameters plans with."""
        return self.graph.graph_system(device)

    def reward(self, task_name: str | None = None) -> Any:
        """The torch reward of the task (or of `task_name`, another task on the same bodies, e.g. a smooth
        planning reward) on this system's bodies: a reward that reads lengths reads these."""
        from envs.rewards import build_reward
        from envs.tasks import get_task

        task = self.task if task_name is None else get_task(task_name)
        if task.reward_builder is None:
            raise InputError(f"task {task.name} has no torch reward to plan with")
        if task.graph().num_nodes != self.graph.num_nodes:
            raise InputError(f"reward task {task.name} is on another system than {self.task.name}")
        return build_reward(task.reward_builder, self.graph, **task.reward_kwargs)

    def env(self, seed: int, device: Any = None, true_model: Any = None) -> Any:
        """A TaskEnv of this system: the task's dm_control env with its physics reloaded from this model."""
        from dm_control.mujoco import wrapper

        from envs.true_model import TaskEnv

        env = TaskEnv(self.task, seed=seed, true_model=true_model, device=device)
        env.env.physics._reload_from_model(wrapper.MjModel(copy.deepcopy(self.model)))
        env.graph = self.graph
        return env

    def true_model(self, device: Any = None) -> Any:
        """The MuJoCo simulator of this system as a batched dynamics model (envs.true_model.TrueModel)."""
        from envs.true_model import TrueModel

        return TrueModel(self.graph, self._compiled(sensors=True), self.task.physics_steps_per_control,
                         device=device)

    def set_parameters(self, env: Any, parameters: dict[str, list[float]]) -> None:
        """Changes the masses, damping and gears of `env`'s physics (a TaskEnv of this system) mid-episode,
        keeping its state; the system's own model and graph follow."""
        from envs.randomisation import apply_parameters

        if parameters.get("length_scale") != (self.parameters or {}).get("length_scale"):
            raise InputError("a mid-episode change keeps the link lengths: give the same length_scale")
        physics = env.env.physics
        m, d = physics.model.ptr, physics.data.ptr
        full = mujoco.mjtState.mjSTATE_FULLPHYSICS
        state = np.empty(mujoco.mj_stateSize(m, full))
        mujoco.mj_getState(m, d, state, full)
        apply_parameters(m, d, self.nominal, parameters)  # mj_setConst inside resets the state: put it back
        mujoco.mj_setState(m, d, state, full)
        mujoco.mj_forward(m, d)
        self.parameters = parameters
        self.model = self._compiled(sensors=False)
        self.__dict__.pop("graph", None)
        env.graph = self.graph
