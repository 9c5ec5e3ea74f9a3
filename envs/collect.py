"""Trajectory collection: random or policy controls, physics stepped directly, parallel, resumable.

Why not `env.step`: dm_control's Python reward and observation path dominates its step
time (platform.md); we step the MuJoCo physics exactly as dm_control does (mj_step2,
mj_step, mj_step1: the same trajectories bit for bit), read body states with the
adapter, and compute all rewards of an episode at once with the task's torch reward
(equal to the env's). The env is used only to reset (its task draws the initial state
and target).

Determinism: episode i's randomness (env initial state, controls, parameters) comes from
`np.random.SeedSequence([seed, i])`, so the data do not depend on the number of worker
processes. Episodes are written in order, appended to the file atomically every few
seconds and on interruption (Ctrl-C, which prints how many were written and how `--append`
continues), so no finished episode is lost. Each episode's provenance (controller, seed,
randomise, the collect options) is kept per episode, so an `--append` with other options is
described too.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import mujoco
import numpy as np
import torch

from gncontrol.errors import InputError, check_at_least_one
from gncontrol.forward.datasets import Trajectories, compact, load_trajectories, write_trajectories

__all__ = ["CONTROLLERS", "collect_episode", "collect", "uniform_controls", "ou_controls", "record_episode"]

Policy = Callable[[np.ndarray, int], np.ndarray]  # (body states [N, 13], t) -> action [A]


def uniform_controls(rng: np.random.Generator, steps: int, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """[T, A] independent uniform controls within the bounds."""
    return rng.uniform(low, high, size=(steps, low.shape[0]))


def ou_controls(rng: np.random.Generator, steps: int, low: np.ndarray, high: np.ndarray,
                theta: float = 0.15, sigma: float = 0.3) -> np.ndarray:
    """[T, A] temporally correlated controls: Ornstein-Uhlenbeck in [-1, 1], clipped, scaled to bounds."""
    x = np.zeros(low.shape[0])
    out = np.empty((steps, low.shape[0]))
    noise = rng.standard_normal((steps, low.shape[0]))
    for t in range(steps):
        x = np.clip((1 - theta) * x + sigma * noise[t], -1.0, 1.0)
        out[t] = x
    return low + (out + 1) / 2 * (high - low)


CONTROLLERS: dict[str, Callable[..., np.ndarray]] = {"uniform": uniform_controls, "ou": ou_controls}

_WORKER_CACHE: dict[str, Any] = {}


def _setup(task_name: str, reward: str | None = None) -> dict[str, Any]:
    """Per-process cache of the task (with the user's `reward` spec, if any), its env, graph and nominal parameters."""
    key = task_name if reward is None else f"{task_name}\t{reward}"
    if key not in _WORKER_CACHE:
        from envs.mujoco_graph import MujocoGraph
        from envs.randomisation import Nominal
        from envs.tasks import get_task

        task = get_task(task_name, reward=reward)
        env = task.make_env(seed=0)
        task._cache["env"] = env  # the task's bounds/timing read from this env: no second compile
        m = env.physics.model.ptr
        # the task's reward graph on a frozen copy of the nominal model (this env's is mutated)
        task._cache["graph"] = MujocoGraph(copy.deepcopy(m))
        # the graph of THIS env's model, so static features reflect randomised parameters
        _WORKER_CACHE[key] = {"task": task, "env": env, "nominal": Nominal.of(m),
                                    "graph": MujocoGraph(m), "nominal_model": copy.deepcopy(m),
                                    "scaled": False}
    return _WORKER_CACHE[key]


def collect_episode(task_name: str, seed: int, episode: int, steps: int, controller: str = "uniform",
                    randomise: bool = False, policy: Policy | None = None, reward: str | None = None,
                    hold: int = 1, with_rewards: bool = True) -> dict[str, Any]:
    """One episode: states [T+1, N, 13], actions [T, A], rewards [T], static arrays, metadata.

    `hold` k > 1: each random control is held for k control steps (the controller draws one per
    block), the data a forward model at the decision time step trains on (`train --control-steps`).

    `reward`: a user's reward spec (`module:function`) for the task. A task without a torch
    reward (a dm_control task with no twin here) records the environment's own reward of
    each step instead. `with_rewards=False` leaves torch rewards to the caller (worker
    processes do no torch work).
    """
    from envs.randomisation import apply_parameters, ranges_for, sample_parameters

    c = _setup(task_name, reward)
    task, env = c["task"], c["env"]
    physics = env.physics
    ss = np.random.SeedSequence([seed, episode])
    env_seed, ctrl_ss, param_ss = ss.spawn(3)
    params = None
    base = None
    if randomise:
        rng = np.random.default_rng(param_ss)
        ranges = ranges_for(task_name)
        params = sample_parameters(rng, c["nominal_model"], ranges)
        base = _length_scaled(task_name, rng, ranges, params)
    if base is not None or c["scaled"]:  # swap in the length-scaled (or back the nominal) model
        from dm_control.mujoco import wrapper

        from envs.mujoco_graph import MujocoGraph
        from envs.randomisation import Nominal

        model = copy.deepcopy(base if base is not None else c["nominal_model"])
        physics._reload_from_model(wrapper.MjModel(model))
        c["scaled"] = base is not None
        c["nominal"], c["graph"] = Nominal.of(physics.model.ptr), MujocoGraph(physics.model.ptr)
    m, d = physics.model.ptr, physics.data.ptr
    graph = c["graph"]
    apply_parameters(m, d, c["nominal"], params)
    env.task._random = np.random.RandomState(int(env_seed.generate_state(1)[0]))
    env.reset()
    target = task.read_target(physics)
    low, high = task.action_low, task.action_high
    if policy is None:
        if controller not in CONTROLLERS:
            raise InputError(f"unknown controller {controller!r}; known: {', '.join(CONTROLLERS)}")
        blocks = -(-steps // hold)
        actions = np.repeat(CONTROLLERS[controller](np.random.default_rng(ctrl_ss), blocks, low, high), hold,
                            axis=0)[:steps]
    else:
        actions = np.empty((steps, task.action_dim))
    n_sub = task.physics_steps_per_control
    rk4 = m.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
    # per step only copy four raw arrays; convert the whole episode at once afterwards
    n = graph.num_nodes
    xpos, xquat = np.empty((steps + 1, n, 3)), np.empty((steps + 1, n, 4))
    cvel, scom = np.empty((steps + 1, n, 6)), np.empty((steps + 1, n, 3))
    xpos[0], xquat[0], cvel[0], scom[0] = d.xpos, d.xquat, d.cvel, d.subtree_com
    env_rewards = None if task.has_reward else np.empty(steps)  # no torch twin: the env's own reward per step
    for t in range(steps):
        if policy is not None:
            now = graph.body_states_from_arrays(xpos[t], xquat[t], cvel[t], scom[t])
            actions[t] = np.clip(policy(now, t), low, high)
        d.ctrl[:] = actions[t]
        if rk4:
            mujoco.mj_step(m, d, n_sub)
        else:  # dm_control's legacy step: finish the step, step on, then sync positions/velocities
            mujoco.mj_step2(m, d)
            if n_sub > 1:
                mujoco.mj_step(m, d, n_sub - 1)
        mujoco.mj_step1(m, d)
        xpos[t + 1], xquat[t + 1], cvel[t + 1], scom[t + 1] = d.xpos, d.xquat, d.cvel, d.subtree_com
        if env_rewards is not None:
            env_rewards[t] = float(env.task.get_reward(physics) or 0.0)
    states = graph.body_states_from_arrays(xpos, xquat, cvel, scom)
    nodes, edges, globals_ = graph.static_arrays()
    apply_parameters(m, d, c["nominal"], None)
    ep = {"states": states, "actions": actions, "rewards": env_rewards, "static_nodes": nodes,
          "static_edges": edges, "static_globals": globals_, "parameters": params,
          "target": target, "episode": episode, "task": task_name, "reward_spec": reward}
    return add_rewards(ep) if with_rewards and ep["rewards"] is None else ep


def _length_scaled(task_name: str, rng: np.random.Generator, ranges: dict, params: dict) -> Any:
    """Draws length scales into params["length_scale"]; the compiled scaled model (None if no lengths)."""
    from envs.randomisation import length_model, sample_lengths

    c = _setup(task_name)
    lengths = sample_lengths(rng, c["nominal_model"], ranges)
    if lengths is None:
        return None
    params["length_scale"] = lengths
    return length_model(task_name, tuple(lengths))


def _episode_reward_fn(ep: dict[str, Any]) -> Any:
    """The reward of the episode's own model (randomised lengths and masses), or the task's."""
    from envs.rewards import build_reward

    c = _setup(ep["task"], ep.get("reward_spec"))
    task = c["task"]
    if task.reward_fn is not None:  # a user's reward reads the body states only: the same on any parameters
        return task.reward
    kwargs = dict(task.reward_kwargs)
    if ep["target"] is not None:
        kwargs["target"] = ep["target"]
    if ep["parameters"] is None:
        return (task.with_target(ep["target"]) if ep["target"] is not None else task).reward
    from envs.mujoco_graph import MujocoGraph
    from envs.randomisation import Nominal, apply_parameters, length_model

    scales = ep["parameters"].get("length_scale")
    m = copy.deepcopy(length_model(ep["task"], tuple(scales)) if scales else c["nominal_model"])
    apply_parameters(m, mujoco.MjData(m), Nominal.of(m), ep["parameters"])
    return build_reward(task.reward_builder, MujocoGraph(m), **kwargs)


def add_rewards(ep: dict[str, Any]) -> dict[str, Any]:
    """Fills ep["rewards"] [T] with the torch reward of (states[1:], actions) of the episode's model."""
    reward = _episode_reward_fn(ep)
    with torch.no_grad():
        ep["rewards"] = reward(torch.from_numpy(ep["states"][1:]), torch.from_numpy(ep["actions"])).numpy()
    return ep


def record_episode(out: str | os.PathLike, task_name: str, states: np.ndarray, actions: np.ndarray,
                   seed: int, episode: int, controller: str, target: Any = None) -> Trajectories:
    """Appends one episode driven from outside (e.g. an MPC planner) to the HDF5 file `out`.

    states [T+1, N, 13] body states of the nominal system, actions [T, A]; rewards are the
    task's torch reward, as for collected data, so `gncontrol train --data` takes the file
    beside random-control data (e.g. expert episodes of a true-model planner).
    """
    c = _setup(task_name)
    graph = c["task"].graph()  # the nominal system (c["graph"] may hold a length-scaled one)
    nodes, edges, globals_ = graph.static_arrays()
    n = graph.num_nodes
    states, actions = np.asarray(states, dtype=np.float64), np.asarray(actions, dtype=np.float64)
    if states.ndim != 3 or states.shape[1:] != (n, 13) or actions.shape != (len(states) - 1, c["task"].action_dim):
        raise InputError(f"an episode of {task_name} needs states [T+1, {n}, 13] and actions [T, "
                         f"{c['task'].action_dim}], got {states.shape} and {actions.shape}")
    ep = add_rewards({"states": states, "actions": actions, "rewards": None, "static_nodes": nodes,
                      "static_edges": edges, "static_globals": globals_, "parameters": None, "target": target,
                      "episode": episode, "task": task_name})
    data = _to_trajectories([ep], task_name, seed, controller, randomise=False,
                            command={"function": "envs.collect.record_episode"})
    write_trajectories(out, data, append=os.path.exists(out))
    return data


def _episode_job(args: tuple) -> dict[str, Any]:
    return collect_episode(*args, with_rewards=False)


def _to_trajectories(eps: list[dict[str, Any]], task_name: str, seed: int, controller: str,
                     randomise: bool, command: dict[str, Any] | None = None,
                     reward: str | None = None) -> Trajectories:
    """The episodes as Trajectories; `command`: the options that made them (their provenance)."""
    c = _setup(task_name, reward)
    graph, task = c["graph"], c["task"]
    stack = lambda k: np.stack([e[k] for e in eps])  # noqa: E731
    meta = {"task": task_name, "seed": seed, "controller": controller, "randomise": randomise,
            "timestep": float(graph.model.opt.timestep), "control_timestep": task.control_timestep,
            "physics_steps_per_control": task.physics_steps_per_control,
            "rewards": ("env" if not task.has_reward else f"torch:{task.reward_spec or task.reward_builder}"),
            "state_layout":
            "pos3,quat_wxyz4,linvel3,angvel3 per body; node 0 = world",
            "parameters": [e["parameters"] for e in eps], "targets": [e["target"] for e in eps],
            "episode_seeds": [[seed, e["episode"]] for e in eps],
            "provenance": [{"controller": controller, "seed": seed, "randomise": randomise, "episode": e["episode"],
                            "command": command} for e in eps]}
    return Trajectories(stack("states"), stack("actions"), stack("rewards"), stack("static_nodes"),
                        stack("static_edges"), stack("static_globals"), graph.senders.copy(),
                        graph.receivers.copy(), graph.edge_actuator.copy(), meta)


def collect(task_name: str, episodes: int, steps: int | None = None, controller: str = "uniform",
            seed: int = 0, workers: int = 1, out: str | os.PathLike | None = None,
            randomise: bool = False, policy: Policy | None = None, append: bool = False,
            flush_seconds: float = 10.0, progress: bool = True, reward: str | None = None,
            hold: int = 1) -> Trajectories | None:
    """Collects `episodes` episodes of `steps` control steps (default: the task's episode length),
    random controls held for `hold` control steps each (collect_episode).

    With `out`, episodes are appended to the HDF5 file every `flush_seconds` and on
    interruption (no finished episode lost); `append=True` continues an existing file
    (episode indices, hence seeds, continue after its episodes). Returns the Trajectories
    collected in this call (None if nothing was collected).
    """
    task = _setup(task_name, reward)["task"]  # validates the name (and reward) early, with what is known
    if episodes < 1:
        raise InputError(f"episodes must be >= 1, got {episodes}")
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    check_at_least_one(hold=hold)
    if hold > 1 and policy is not None:
        raise InputError("hold holds random controls; a policy chooses its own actions")
    if controller not in CONTROLLERS:
        raise InputError(f"unknown controller {controller!r}; known: {', '.join(CONTROLLERS)}")
    steps = task.episode_length if steps is None else int(steps)
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    start = 0
    if out is not None and os.path.exists(out):
        if not append:
            raise InputError(f"{out} exists; pass append=True (--append) to add episodes to it")
        old = load_trajectories(out)
        if old.metadata.get("task") != task_name or old.episode_length != steps:
            raise InputError(f"{out} holds task {old.metadata.get('task')!r} with {old.episode_length} "
                             f"steps; cannot append {task_name!r} with {steps}")
        start = old.num_episodes
    jobs = [(task_name, seed, start + i, steps, controller, randomise, policy, reward, hold) for i in range(episodes)]
    command = {"task": task_name, "reward": reward, "episodes": episodes, "steps": steps, "controller": controller,
               "seed": seed, "randomise": randomise, "append": bool(append), "first_episode": start}
    if hold > 1:
        command["hold"] = hold
    if policy is not None:
        command["policy"] = getattr(policy, "__qualname__", type(policy).__name__)
    done: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    written = 0
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal pending, last_flush, written
        if out is not None and pending:
            write_trajectories(out, _to_trajectories(pending, task_name, seed, controller, randomise, command,
                                                     reward), append=True)
            written += len(pending)
        pending, last_flush = [], time.monotonic()

    from tqdm import tqdm

    bar = tqdm(total=episodes, unit="ep", desc=f"collect {task_name}", disable=not progress)
    try:
        try:
            for ep in _run_jobs(jobs, workers):
                if ep["rewards"] is None:
                    add_rewards(ep)
                done.append(ep)
                pending.append(ep)
                bar.update(1)
                if time.monotonic() - last_flush > flush_seconds:
                    flush()
        finally:  # on Ctrl-C or an error: keep every finished episode (an atomic append: the file stays valid)
            flush()
            bar.close()
    except KeyboardInterrupt:
        if out is not None:
            print(f"interrupted: {written} of {episodes} episodes written to {out} ({start + written} in the file); "
                  f"the same command with --append --episodes {episodes - written} continues", file=sys.stderr,
                  flush=True)
        raise
    if out is not None:
        compact(out)  # one canonical write: same seed -> byte-identical file, whatever the workers
    return _to_trajectories(done, task_name, seed, controller, randomise, reward=reward) if done else None


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which keeps the finished episodes and stops the pool."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_jobs(jobs: list[tuple], workers: int) -> Iterator[dict[str, Any]]:
    """Episodes in job order (rewards left to the caller), from this process or `workers` processes.

    Workers are forked where the platform allows (no re-import: start-up in milliseconds);
    they run only MuJoCo and numpy, never torch, so forking after torch is safe. Elsewhere
    they are spawned.
    """
    if workers == 1:
        for job in jobs:
            yield collect_episode(*job, with_rewards=False)
        return
    import multiprocessing as mp

    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(workers, initializer=_ignore_sigint) as pool:
        yield from pool.imap(_episode_job, jobs)
