"""The task registry: dm_control systems with differentiable torch rewards on body states.

`get_task(name, **kwargs) -> Task`; `list_tasks()`. A Task bundles the environment
factory, the system's graph (`task.graph()` -> MujocoGraph), action bounds, episode length,
control timing, and `task.reward(state, action) -> [B]` (torch, differentiable; state a
dynamic Graph with nodes [B*N, 13] or a [B, N, 13] tensor). On true states the reward
equals the environment's own (tested to 1e-4) for every task with `env_reward=True`;
alternative rewards on the same body (cheetah-run-backward, cheetah-jump, the smooth
variants of sparse rewards) have no environment twin.

Targets: swimmer and reacher draw a random target each episode; `get_task('swimmer6',
target=(x, y))` (or `task.with_target(xy)`) rewards reaching any given target, and
`task.read_target(physics)` reads an episode's target from the env after reset.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from envs.mujoco_graph import MujocoGraph
from envs.rewards import build_reward
from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph

__all__ = ["Task", "get_task", "list_tasks", "same_system", "system_names"]


# prototype envs / graphs per task name (read-only use: bounds, timing, model constants)
_PROTO_ENVS: dict[str, Any] = {}
_PROTO_GRAPHS: dict[str, MujocoGraph] = {}


def _suite_env(domain: str, task: str, seed: int | None = None, **env_kwargs: Any) -> Any:
    from dm_control import suite

    return suite.load(domain, task, task_kwargs={"random": seed}, environment_kwargs=env_kwargs or None)


def _swimmer_env(n_links: int, seed: int | None = None, **env_kwargs: Any) -> Any:
    from dm_control.suite import swimmer

    return swimmer.swimmer(n_links=n_links, random=seed, environment_kwargs=env_kwargs or None)


@dataclasses.dataclass
class Task:
    """One control task: env factory, graph, torch reward, bounds and timing (see module doc)."""

    name: str
    env_factory: Callable[..., Any]
    reward_builder: str
    reward_kwargs: dict = dataclasses.field(default_factory=dict)
    env_reward: bool = True
    target_kind: str | None = None  # "geom:<name>" when the env draws a target per episode
    _cache: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    # ----------------------------------------------------------------- environment
    def make_env(self, seed: int | None = None, **env_kwargs: Any) -> Any:
        """A fresh dm_control Environment (seeded task randomness)."""
        return self.env_factory(seed=seed, **env_kwargs)

    def _proto(self) -> Any:
        if "env" not in self._cache:
            if self.name not in _PROTO_ENVS:  # shared by all Task instances of this name: one compile
                _PROTO_ENVS[self.name] = self.make_env(seed=0)
            self._cache["env"] = _PROTO_ENVS[self.name]
        return self._cache["env"]

    def graph(self) -> MujocoGraph:
        """The system's MujocoGraph (nominal model; built once per task name and cached)."""
        if "graph" not in self._cache:
            if "env" in self._cache and self._cache["env"] is not _PROTO_ENVS.get(self.name):
                self._cache["graph"] = MujocoGraph.from_physics(self._cache["env"].physics)
            else:
                if self.name not in _PROTO_GRAPHS:
                    _PROTO_GRAPHS[self.name] = MujocoGraph.from_physics(self._proto().physics)
                self._cache["graph"] = _PROTO_GRAPHS[self.name]
        return self._cache["graph"]

    @property
    def action_low(self) -> np.ndarray:
        """[A] lower action bounds."""
        return np.asarray(self._proto().action_spec().minimum, dtype=np.float64)

    @property
    def action_high(self) -> np.ndarray:
        """[A] upper action bounds."""
        return np.asarray(self._proto().action_spec().maximum, dtype=np.float64)

    @property
    def action_dim(self) -> int:
        """A, the action size."""
        return int(self.action_low.shape[0])

    @property
    def episode_length(self) -> int:
        """Control steps per episode (dm_control's time limit / control timestep)."""
        return int(round(self._proto()._step_limit))

    @property
    def control_timestep(self) -> float:
        """Seconds per control step."""
        return float(self._proto().control_timestep())

    @property
    def physics_steps_per_control(self) -> int:
        """MuJoCo steps per control step (dm_control's n_sub_steps)."""
        return int(self._proto()._n_sub_steps)

    # ----------------------------------------------------------------------- reward
    def reward(self, state: Any, action: torch.Tensor) -> torch.Tensor:
        """Reward [B] of reaching `state` (dynamic Graph or [B, N, 13]) with `action` [B, A].

        A wrong action width or batch is an InputError (one line): some rewards read the action
        (cartpole's small-control factor), and a mismatched batch would pair states with other
        states' actions. Shape checks only.
        """
        if "reward" not in self._cache:
            self._cache["reward"] = build_reward(self.reward_builder, self.graph(), **self.reward_kwargs)
            self._cache["action_dim"] = self.action_dim
        b = _num_states(state, self.graph().num_nodes)
        a = self._cache["action_dim"]
        shape = tuple(action.shape) if isinstance(action, torch.Tensor) else None
        if shape != (b, a):
            got = f"shape {shape}" if shape is not None else type(action).__name__
            raise InputError(f"{self.name} reward: action must be [B, A] = [{b}, {a}] (B = the {b} states, "
                             f"A = the task's action_dim {a}), got {got}")
        return self._cache["reward"](state, action)

    def with_target(self, target: Any) -> Task:
        """The same task rewarding reaching `target` (x, y) instead of the default one."""
        if self.target_kind is None:
            raise InputError(f"task {self.name} has no target")
        t = (float(target[0]), float(target[1]))
        new = dataclasses.replace(self, reward_kwargs={**self.reward_kwargs, "target": t}, _cache={})
        if "env" in self._cache:
            new._cache["env"] = self._cache["env"]
        if "graph" in self._cache:
            new._cache["graph"] = self._cache["graph"]
        return new

    @property
    def target(self) -> tuple[float, float] | None:
        """The target (x, y) this task's reward uses, or None (the model's default / no target)."""
        return self.reward_kwargs.get("target")

    def read_target(self, physics: Any) -> tuple[float, float] | None:
        """The episode's target (x, y) from a dm_control physics after reset (None if no target)."""
        if self.target_kind is None:
            return None
        geom = self.target_kind.split(":", 1)[1]
        pos = physics.model.ptr.geom(geom).pos
        return float(pos[0]), float(pos[1])


def system_names(task: Task) -> tuple:
    """What a task's states are laid out by: its MuJoCo model's body, joint and actuator names, in order."""
    m = task.graph().model
    return (tuple(m.body(i).name for i in range(m.nbody)), tuple(m.joint(j).name for j in range(m.njnt)),
            tuple(m.actuator(a).name for a in range(m.nu)))


def same_system(a: Task, b: Task) -> bool:
    """True when two tasks simulate the same system (same bodies, joints and actuators, by name), so a reward
    or data of one applies to the other (cartpole-swingup and cartpole-balance; not acrobot, though it also
    has 3 bodies)."""
    return a.name == b.name or system_names(a) == system_names(b)


def _num_states(state: Any, num_nodes: int) -> int:
    """B of a reward's state: graphs in a Graph, rows of [B, N, 13], rows / N of flat nodes [B*N, 13]."""
    if isinstance(state, Graph):
        return state.num_graphs
    if isinstance(state, torch.Tensor) and state.dim() == 3:
        return int(state.shape[0])
    if isinstance(state, torch.Tensor) and state.dim() == 2 and state.shape[0] % num_nodes == 0:
        return int(state.shape[0]) // num_nodes
    raise InputError(f"reward state must be a dynamic Graph, [B, {num_nodes}, 13] or [B*{num_nodes}, 13], got "
                     + (f"shape {tuple(state.shape)}" if isinstance(state, torch.Tensor) else type(state).__name__))


def _registry() -> dict[str, Task]:
    p = functools.partial
    tasks = [
        Task("pendulum-swingup", p(_suite_env, "pendulum", "swingup"), "pendulum_swingup"),
        Task("pendulum-swingup-smooth", p(_suite_env, "pendulum", "swingup"), "pendulum_swingup",
             {"smooth": True}, env_reward=False),
        Task("cartpole-swingup", p(_suite_env, "cartpole", "swingup"), "cartpole"),
        Task("cartpole-balance", p(_suite_env, "cartpole", "balance"), "cartpole"),
        Task("acrobot-swingup", p(_suite_env, "acrobot", "swingup"), "acrobot_swingup"),
        Task("cheetah-run", p(_suite_env, "cheetah", "run"), "cheetah"),
        Task("cheetah-run-backward", p(_suite_env, "cheetah", "run"), "cheetah", {"direction": -1.0},
             env_reward=False),
        Task("cheetah-jump", p(_suite_env, "cheetah", "run"), "cheetah_jump", env_reward=False),
        Task("walker-walk", p(_suite_env, "walker", "walk"), "walker", {"move_speed": 1.0}),
        Task("reacher-easy", p(_suite_env, "reacher", "easy"), "reacher", {"target_size": 0.05},
             target_kind="geom:target"),
        Task("reacher-easy-smooth", p(_suite_env, "reacher", "easy"), "reacher",
             {"target_size": 0.05, "smooth": True}, env_reward=False, target_kind="geom:target"),
    ]
    for n in range(3, 16):
        tasks.append(Task(f"swimmer{n}", p(_swimmer_env, n), "swimmer", target_kind="geom:target"))
    return {t.name: t for t in tasks}


_TASKS = _registry()


def list_tasks() -> list[str]:
    """Names of all registered tasks."""
    return sorted(_TASKS)


def get_task(name: str, target: Any = None) -> Task:
    """A fresh Task by name (optionally with a given target for swimmer/reacher tasks)."""
    if name not in _TASKS:
        raise InputError(f"unknown task {name!r}; known tasks: {', '.join(list_tasks())}")
    t = _TASKS[name]
    task = dataclasses.replace(t, reward_kwargs=dict(t.reward_kwargs), _cache={})
    return task.with_target(target) if target is not None else task


def random_policy_return(task: Task, steps: int, seed: int) -> float:
    """Return of uniform random actions in the task's real environment over `steps` control steps.

    The same-run baseline for planners and agents ("how much better than acting at random").
    """
    rng = np.random.default_rng(seed)
    env = task.make_env(seed=seed)
    env.reset()
    total = 0.0
    for _ in range(steps):
        ts = env.step(rng.uniform(task.action_low, task.action_high))
        total += float(ts.reward or 0.0)
        if ts.last():
            break
    return total
