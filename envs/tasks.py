"""The task registry: dm_control systems with differentiable torch rewards on body states.

`get_task(name, **kwargs) -> Task`; `list_tasks()`. A Task bundles the environment
factory, the system's graph (`task.graph()` -> MujocoGraph), action bounds, episode length,
control timing, and `task.reward(state, action) -> [B]` (torch, differentiable; state a
dynamic Graph with nodes [B*N, 13] or a [B, N, 13] tensor). On true states the reward
equals the environment's own (tested to 1e-4) for every task with `env_reward=True`;
alternative rewards on the same body (cheetah-run-backward, cheetah-jump, the smooth
variants of sparse rewards) have no environment twin.

Targets: swimmer, reacher and finger-turn draw a random target each episode; `get_task('swimmer6',
target=(x, y))` (or `task.with_target(xy)`) rewards reaching any given target, and
`task.read_target(physics)` reads an episode's target from the env after reset (finger's
target is its (x, z): finger moves in the x-z plane).

Any other system (`get_task` resolves these names; every command's `--task` takes them):
- `dmc:DOMAIN-TASK`: any dm_control suite task (`dmc:hopper-hop`; `dmc:swimmer-swimmerN` for
  any N >= 3), with the env's own reward; the torch reward where a registered task has one;
- `gym:ENV_ID`: a Gymnasium MuJoCo env's model at its frame skip, episode length and reset noise,
  rewarded (in the env and for planners) by Gymnasium's reward terms in torch (envs.gym_rewards);
- `xml:PATH`: a user's MJCF file (generic task: envs.any_model).
A reward for planning is `get_task(name, reward=fn_or_spec)`, `fn(state [B, N, 13], action
[B, A]) -> [B]` or its `module:function` / `file.py:function` name (`--reward` on the command
line; envs.user_rewards). `register_task(name, env, reward)` adds a named task from Python.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from typing import Any

import mujoco
import numpy as np
import torch

from envs.mujoco_graph import MujocoGraph, states_from_graph
from envs.rewards import build_reward
from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph

__all__ = ["Task", "get_task", "list_tasks", "register_task", "same_system", "system_names", "SCHEMES"]

SCHEMES = {"dmc": "dmc:DOMAIN-TASK, a dm_control suite task (dmc:hopper-hop, dmc:swimmer-swimmer8)",
           "gym": "gym:ENV_ID, a Gymnasium MuJoCo env's model (gym:Hopper-v5)",
           "xml": "xml:PATH, a MuJoCo MJCF file (xml:models/arm.xml)"}

_NO_LIMIT = 1e6  # an action bound this large means "no limit" (dm_control's lqr uses 1e10)

# prototype envs / graphs per task (name, reward) (read-only use: bounds, timing, model constants)
_PROTO_ENVS: dict[tuple, Any] = {}
_PROTO_GRAPHS: dict[tuple, MujocoGraph] = {}


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
    reward_builder: str | None  # a REWARD_BUILDERS name, or None (reward_fn, or no torch reward)
    reward_kwargs: dict = dataclasses.field(default_factory=dict)
    env_reward: bool = True
    target_kind: str | None = None  # "geom:<name>" / "site:<name>[:xz]" when the env draws a target per episode
    reward_fn: Callable | None = None  # a user's reward(state [B, N, 13], action [B, A]) -> [B]
    reward_spec: str | None = None  # where reward_fn came from ("module:function"), for the record
    _cache: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def has_reward(self) -> bool:
        """True when the task has a torch reward a planner can use (built in or the user's)."""
        return self.reward_fn is not None or self.reward_builder is not None

    # ----------------------------------------------------------------- environment
    def make_env(self, seed: int | None = None, **env_kwargs: Any) -> Any:
        """A fresh dm_control Environment (seeded task randomness)."""
        return self.env_factory(seed=seed, **env_kwargs)

    def _proto(self) -> Any:
        if "env" not in self._cache:
            key = (self.name, self.reward_spec)
            if key not in _PROTO_ENVS:  # shared by all Task instances of this name: one compile
                _PROTO_ENVS[key] = self.make_env(seed=0)
            self._cache["env"] = _PROTO_ENVS[key]
        return self._cache["env"]

    def graph(self) -> MujocoGraph:
        """The system's MujocoGraph (nominal model; built once per task name and cached)."""
        if "graph" not in self._cache:
            key = (self.name, self.reward_spec)
            if "env" in self._cache and self._cache["env"] is not _PROTO_ENVS.get(key):
                self._cache["graph"] = MujocoGraph.from_physics(self._cache["env"].physics)
            else:
                if key not in _PROTO_GRAPHS:
                    _PROTO_GRAPHS[key] = MujocoGraph.from_physics(self._proto().physics)
                self._cache["graph"] = _PROTO_GRAPHS[key]
        return self._cache["graph"]

    @property
    def action_low(self) -> np.ndarray:
        """[A] lower action bounds (-1 where the env has none: random controls and planners need a range).

        "None" includes dm_control's stand-in for no limit, +-1e10 (lqr): any bound beyond 1e6.
        """
        low = np.asarray(self._proto().action_spec().minimum, dtype=np.float64)
        return np.where(np.abs(low) < _NO_LIMIT, low, -1.0)

    @property
    def action_high(self) -> np.ndarray:
        """[A] upper action bounds (+1 where the env has none, e.g. dm_control's lqr)."""
        high = np.asarray(self._proto().action_spec().maximum, dtype=np.float64)
        return np.where(np.abs(high) < _NO_LIMIT, high, 1.0)

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
            self._cache["reward"] = self._build_reward()
            self._cache["action_dim"] = self.action_dim
        b = _num_states(state, self.graph().num_nodes)
        a = self._cache["action_dim"]
        shape = tuple(action.shape) if isinstance(action, torch.Tensor) else None
        if shape != (b, a):
            got = f"shape {shape}" if shape is not None else type(action).__name__
            raise InputError(f"{self.name} reward: action must be [B, A] = [{b}, {a}] (B = the {b} states, "
                             f"A = the task's action_dim {a}), got {got}")
        return self._cache["reward"](state, action)

    def check_has_reward(self) -> None:
        """Refuses (one InputError line naming --reward and --reward-model) a task a planner cannot score."""
        if not self.has_reward:
            raise InputError(f"task {self.name} has no torch reward for a planner: give one with --reward "
                             "module:function (or file.py:function), reward(state [B, N, 13], action [B, A]) -> "
                             "[B], or a learned one with --reward-model (gncontrol train-reward)")

    def _build_reward(self) -> Callable:
        self.check_has_reward()
        if self.reward_fn is not None:
            n, fn = self.graph().num_nodes, self.reward_fn
            return lambda state, action: fn(states_from_graph(state, n), action)
        return build_reward(self.reward_builder, self.graph(), **self.reward_kwargs)

    def with_reward(self, reward: Callable | str, *, in_env: bool = True, spec: str | None = None) -> Task:
        """The same system with the user's torch reward (a function or its `module:function` name).

        `in_env=False` keeps the environment's own reward (a learned reward model plans; the
        episode's return is still the env's).
        """
        from envs.user_rewards import checked_reward, load_reward

        spec = spec or (reward if isinstance(reward, str) else getattr(reward, "__qualname__", repr(reward)))
        fn = load_reward(reward) if isinstance(reward, str) else reward
        fn = checked_reward(fn, self.graph(), spec)
        factory, generic = self.env_factory, in_env and bool(getattr(self.env_factory, "accepts_reward", False))
        if generic:  # a generic model's env rewards with the user's function, so returns are measured in it
            source = getattr(factory, "model_source", None)
            factory = functools.partial(factory, reward_fn=fn)
            factory.accepts_reward, factory.model_source = True, source  # type: ignore[attr-defined]
        return dataclasses.replace(self, env_factory=factory, reward_builder=None, reward_kwargs={},
                                   env_reward=generic, reward_fn=fn, reward_spec=spec,
                                   _cache={k: v for k, v in self._cache.items()
                                           if not in_env and k in ("env", "graph")})

    def with_target(self, target: Any) -> Task:
        """The same task rewarding reaching `target` (x, y; x, z for finger-turn) instead of the default one."""
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
        """The target (x, y; finger-turn: x, z) this task's reward uses, or None (the default / no target)."""
        return self.reward_kwargs.get("target")

    def read_target(self, physics: Any) -> tuple[float, float] | None:
        """The episode's target (x, y; x, z for an ":xz" kind) from a dm_control physics after reset (None if none).

        `target_kind` is "geom:<name>" or "site:<name>", with ":xz" for a planar x-z system (finger).
        """
        if self.target_kind is None:
            return None
        kind, name, *plane = self.target_kind.split(":")
        m = physics.model.ptr
        pos = m.site(name).pos if kind == "site" else m.geom(name).pos
        second = 2 if plane == ["xz"] else 1
        return float(pos[0]), float(pos[second])


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
        Task("hopper-stand", p(_suite_env, "hopper", "stand"), "hopper", {"hopping": False}),
        Task("hopper-hop", p(_suite_env, "hopper", "hop"), "hopper", {"hopping": True}),
        Task("reacher-easy", p(_suite_env, "reacher", "easy"), "reacher", {"target_size": 0.05},
             target_kind="geom:target"),
        Task("reacher-easy-smooth", p(_suite_env, "reacher", "easy"), "reacher",
             {"target_size": 0.05, "smooth": True}, env_reward=False, target_kind="geom:target"),
        Task("point_mass-easy", p(_suite_env, "point_mass", "easy"), "point_mass"),
        Task("point_mass-hard", p(_suite_env, "point_mass", "hard"), "point_mass"),
        Task("ball_in_cup-catch", p(_suite_env, "ball_in_cup", "catch"), "ball_in_cup"),
        Task("finger-spin", p(_suite_env, "finger", "spin"), "finger_spin"),
        Task("finger-spin-smooth", p(_suite_env, "finger", "spin"), "finger_spin", {"smooth": True},
             env_reward=False),
        Task("finger-turn_easy", p(_suite_env, "finger", "turn_easy"), "finger_turn", {"target_size": 0.07},
             target_kind="site:target:xz"),
        Task("finger-turn_hard", p(_suite_env, "finger", "turn_hard"), "finger_turn", {"target_size": 0.03},
             target_kind="site:target:xz"),
        Task("fish-upright", p(_suite_env, "fish", "upright"), "fish_upright"),
        Task("quadruped-walk", p(_suite_env, "quadruped", "walk"), "quadruped", {"desired_speed": 0.5}),
        Task("quadruped-run", p(_suite_env, "quadruped", "run"), "quadruped", {"desired_speed": 5.0}),
    ]
    for n in range(3, 16):
        tasks.append(Task(f"swimmer{n}", p(_swimmer_env, n), "swimmer", target_kind="geom:target"))
    return {t.name: t for t in tasks}


_TASKS = _registry()


def list_tasks() -> list[str]:
    """Names of all registered tasks (the schemes in SCHEMES name any other system)."""
    return sorted(_TASKS)


def register_task(name: str, env: Any, reward: Callable | str | None = None, *,
                  settings: Any = None, replace: bool = False) -> Task:
    """Registers a task under `name` for every later `get_task(name)` (and so every command).

    `env`: an MJCF path, an MjSpec or MjModel (the generic task of envs.any_model, with
    `settings` an AnyModelSettings), or a factory `env(seed=None) -> dm_control Environment`.
    `reward`: reward(state [B, N, 13], action [B, A]) -> [B] in torch, or its
    `module:function` name; None leaves the task without a planning reward (collect and train
    need none).
    """
    if not name or ":" in name:
        raise InputError(f"task name {name!r}: give a non-empty name without ':' (':' marks the dmc/gym/xml schemes)")
    if name in _TASKS and not replace:
        raise InputError(f"task {name!r} is already registered; pass replace=True to replace it")
    factory = env if callable(env) and not _is_model_source(env) else _generic_factory(env, settings)
    task = Task(name, factory, None, env_reward=False)
    if reward is not None:
        task = task.with_reward(reward)
    _TASKS[name] = task
    for cache in (_PROTO_ENVS, _PROTO_GRAPHS):
        for key in [k for k in cache if k[0] == name]:
            del cache[key]
    return task


def get_task(name: str, target: Any = None, reward: Callable | str | None = None) -> Task:
    """A fresh Task by name or scheme (SCHEMES); optionally a given target (swimmer/reacher) or reward."""
    if name in _TASKS:
        t = _TASKS[name]
        task = dataclasses.replace(t, reward_kwargs=dict(t.reward_kwargs), _cache={})
    elif name.partition(":")[0] in SCHEMES:
        task = dataclasses.replace(_scheme_task(name), _cache={})
    else:
        raise InputError(f"unknown task {name!r}; known tasks: {', '.join(list_tasks())}; or a scheme: "
                         + "; ".join(SCHEMES.values()))
    if reward is not None:
        task = task.with_reward(reward)
    return task.with_target(target) if target is not None else task


def _is_model_source(env: Any) -> bool:
    return isinstance(env, (str, bytes, mujoco.MjSpec, mujoco.MjModel)) or hasattr(env, "__fspath__")


def _generic_factory(source: Any, settings: Any = None, xml_source: str | None = None) -> Callable[..., Any]:
    """An env factory (seed=, reward_fn=) of the generic task around a model source (envs.any_model)."""
    from envs.any_model import AnyModelSettings, any_model_env, model_from_source

    factory = functools.partial(any_model_env, model_from_source(source), settings or AnyModelSettings())
    factory.accepts_reward = True  # type: ignore[attr-defined]
    # where the true model (envs.true_model) recompiles it from: an MJCF path or an MjSpec (an MjModel has none)
    factory.model_source = xml_source if xml_source is not None else (  # type: ignore[attr-defined]
        str(source) if isinstance(source, (str, os.PathLike)) else source if isinstance(source, mujoco.MjSpec)
        else False)
    return factory


@functools.cache
def _scheme_task(name: str) -> Task:
    scheme, _, rest = name.partition(":")
    if scheme == "dmc":
        return _dmc_task(name, rest)
    if scheme == "gym":
        from envs.any_model import gym_settings
        from envs.gym_rewards import GYM_REWARDS, gym_reward_name

        model, settings, xml_path = gym_settings(rest)
        task = Task(name, _generic_factory(model, settings, xml_path), None)
        reward = gym_reward_name(rest)
        if reward is None:
            return task
        return task.with_reward(GYM_REWARDS[reward](task.graph()), spec=f"envs.gym_rewards:{reward}")
    from pathlib import Path

    if not Path(rest).is_file():
        raise InputError(f"task {name!r}: MJCF file {rest!r} not found")
    return Task(name, _generic_factory(rest), None)


def _dmc_task(name: str, rest: str) -> Task:
    """A dm_control suite task; the registered torch reward of the same domain and task where there is one."""
    from dm_control import suite

    domain, _, task_name = rest.partition("-")
    domains = sorted({d for d, _ in suite.ALL_TASKS})
    if domain == "swimmer" and task_name.startswith("swimmer") and task_name[7:].isdigit():
        n = int(task_name[7:])
        if n < 3:
            raise InputError(f"task {name!r}: a swimmer needs >= 3 links, got {n}")
        known = _TASKS.get(f"swimmer{n}")
        if known is not None:
            return dataclasses.replace(known, name=name, _cache={})
        return Task(name, functools.partial(_swimmer_env, n), "swimmer", target_kind="geom:target")
    if domain not in domains:
        raise InputError(f"task {name!r}: unknown dm_control domain {domain!r}; domains: {', '.join(domains)}")
    tasks = sorted(t for d, t in suite.ALL_TASKS if d == domain)
    if task_name not in tasks:
        raise InputError(f"task {name!r}: domain {domain} has tasks {', '.join(tasks)}; got {task_name!r}")
    known = _TASKS.get(f"{domain}-{task_name}")
    if known is not None:
        return dataclasses.replace(known, name=name, _cache={})
    return Task(name, functools.partial(_suite_env, domain, task_name), None)


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
