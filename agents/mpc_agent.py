"""MPC agent with online model learning (the model-based RL loop of mbrl-lib / PETS style).

    1. collect `random_episodes` episodes of random (OU) controls in the real env;
    2. train a GN forward model on them (`train_steps`);
    3. repeat `iterations` times: run one MPC episode in the real env (CEM or gradient planner
       through the CURRENT model, the task's reward), add the episode to the data, fine-tune
       the model (`finetune_steps`) on all data pooled (`mix="pooled"`, every transition
       equally likely; agent episodes longer than the random ones are cut into pieces of the
       random episodes' length) or on batches split evenly between random and agent data
       (`mix="even"`, also used when agent episodes are shorter than the random ones); with
       `keep_better_model` the newest episode is held out of that fine-tuning, which is kept only if
       it predicts the held-out episode no worse than the model before it.

Iteration 0's episode is planned with the model trained on random data alone; every later
one with a model that has also seen the states the agent's own behaviour reaches (for
cartpole-swingup: the pole up, which random controls rarely reach). Every episode starts
from the same seeded initial state (seed + 1000), so iterations compare like with like. Each
episode is both the agent's experience and its evaluation, so `IterationResult.env_steps`
counts ALL real environment steps used up to and including that episode (random data included).

    results = run_online_mpc(MPCAgentConfig(task="cartpole-swingup"), writer=SummaryWriter(...))

With `checkpoint=PATH` the agent's whole state (model and optimiser, its own episodes, the
results so far, torch's RNG) is saved atomically after every iteration, and a run started
again with the same config and path continues after the last saved iteration, ending with the
same learning curve as an uninterrupted run (the random data is re-collected from its seed).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

import torch

from agents.model_learning import (
    append_episode,
    empty_like,
    episode_error,
    fit_model,
    new_model,
    nominal_statics,
    random_data,
)
from gncontrol.body_state import STATE_SIZE
from gncontrol.errors import InputError

__all__ = ["MPCAgentConfig", "IterationResult", "make_planner", "run_online_mpc", "curve_rows", "planned_iterations",
           "CHECKPOINT_KIND"]

CHECKPOINT_KIND = "mpc_agent"
CURVE_FIELDS = ("iteration", "env_steps", "episode_return", "model_loss", "seconds", "plan_time_per_step",
                "model_seconds", "episode_seconds")


@dataclasses.dataclass
class MPCAgentConfig:
    """Data, model, fine-tuning and planner settings (defaults: a few minutes on cartpole-swingup)."""

    task: str = "cartpole-swingup"
    random_episodes: int = 20
    # same-body tasks whose random episodes join the data, e.g. ("cartpole-balance",) for near-upright
    # starts, which random controls from the swing-up start rarely reach (random_episodes of each)
    extra_data_tasks: tuple[str, ...] = ()
    mix: str = "pooled"  # pooled: one buffer of all episodes | even: half of each batch from agent episodes
    episode_steps: int = 200  # control steps per random episode (and per MPC episode unless mpc_steps)
    mpc_steps: int = 0  # control steps per MPC episode; 0: episode_steps
    episode_seed: int | None = None  # env seed of every MPC episode; None: seed + 1000
    plan_reward: str | None = None  # plan with this registered task's reward (same body); None: the task's
    iterations: int = 4
    # > 0: a fixed budget of real env steps (random data included); the loop runs as many MPC
    # episodes as fit in it, and `iterations` is ignored
    env_step_budget: int = 0
    train_steps: int = 1500
    finetune_steps: int = 400
    batch_size: int = 64
    lr: float = 1e-3
    latent: int = 64
    hidden: tuple[int, ...] = (64,)
    planner: str = "cem"  # cem | gradient
    horizon: int = 12
    action_repeat: int = 4
    population: int = 100
    elites: int = 10
    plan_iterations: int = 3
    restarts: int = 4  # gradient planner: plans optimised together
    plan_lr: float = 0.1  # gradient planner: Adam step size
    terminal_weight: float = 0.0  # cost-to-go: this many times the last step's reward (planners.base)
    keep_elites: float = 0.0  # CEM: iCEM's share of elites kept across iterations and control steps
    noise_beta: float = 0.0  # CEM: iCEM's colored sampling noise along the horizon (0: white)
    # k > 1: a model at the decision time step (one model step per k control steps, trained on k-step
    # transitions): random controls are held k steps and action_repeat must be a multiple of k
    control_steps: int = 1
    # H > 1: train and fine-tune on the loss of the model's own H-step rollout (agents.model_learning.fit_model)
    rollout_steps: int = 1
    # True: fine-tune on every episode but the newest, then keep the fine-tuned model only if it predicts that
    # held-out episode (its rollout_steps-step loss) no worse than the model before fine-tuning did; the newest
    # episode joins the fine-tuning data one round later
    keep_better_model: bool = False
    # gradient planner: its iteration recorded as a CUDA graph and replayed (planners.graph_capture; same plans)
    cuda_graph: bool = False
    seed: int = 0


@dataclasses.dataclass
class IterationResult:
    """One agent iteration: the real episode's return and the real env steps used so far."""

    iteration: int
    env_steps: int
    episode_return: float
    model_loss: float  # mean 1-step training loss of the fine-tuning that preceded the episode
    seconds: float
    rewards: list[float] = dataclasses.field(default_factory=list)  # the episode's reward per control step
    plan_time_per_step: float = 0.0  # planning seconds per control step
    frames: list = dataclasses.field(default_factory=list)  # RGB frames, when run_online_mpc was given render
    model_seconds: float = 0.0  # wall time of the data and training (iteration 0) or fine-tuning before it
    episode_seconds: float = 0.0  # wall time of the MPC episode


def make_planner(config: MPCAgentConfig, task: Any, device: torch.device | str | None = None) -> Any:
    """The agent's planner (CEM or gradient MPC) with the config's horizon and budget (`planners.make`)."""
    import planners

    if config.planner not in ("cem", "gradient"):
        raise InputError(f"unknown planner {config.planner!r}; expected 'cem' or 'gradient'")
    return planners.make(config.planner, (task.action_low, task.action_high), horizon=config.horizon,
                         action_repeat=config.action_repeat, seed=config.seed, device=device,
                         iterations=config.plan_iterations, samples=config.population, elites=config.elites,
                         restarts=config.restarts, lr=config.plan_lr, terminal_weight=config.terminal_weight,
                         keep_elites=config.keep_elites, noise_beta=config.noise_beta, cuda_graph=config.cuda_graph)


def curve_rows(results: list[IterationResult]) -> list[dict]:
    """The learning curve as rows (one per MPC episode: env steps so far, return, model loss, times)."""
    return [{k: getattr(r, k) for k in CURVE_FIELDS} for r in results]


def planned_iterations(config: MPCAgentConfig, random_steps: int, mpc_steps: int) -> int:
    """How many MPC episodes the run holds: config.iterations, or as many as fit in env_step_budget."""
    if config.env_step_budget <= 0:
        return config.iterations
    n = (config.env_step_budget - random_steps) // mpc_steps
    if n < 1:
        raise InputError(f"env_step_budget {config.env_step_budget} leaves no room for an MPC episode of "
                         f"{mpc_steps} steps after {random_steps} random steps")
    return n


def _saved_state(config: MPCAgentConfig, it: int, env_steps: int, model: Any, opt: Any, agent_data: Any,
                 results: list[IterationResult]) -> dict:
    """The agent's whole state after iteration `it` (what an exact resume needs)."""
    return {"config": dataclasses.asdict(config), "iteration": it, "env_steps": env_steps,
            "model": model.state_dict(), "optimiser": opt.state_dict(),
            "agent_states": agent_data.states, "agent_actions": agent_data.actions,
            "results": [{**row, "rewards": list(r.rewards)} for row, r in zip(curve_rows(results), results)],
            "torch_rng": torch.get_rng_state()}


def _resumed(path: Any, config: MPCAgentConfig) -> dict | None:
    """The saved state at `path` if there is one; refuses one saved with another config."""
    from pathlib import Path

    from gncontrol.checkpoints import load_checkpoint

    if path is None or not Path(path).exists():
        return None
    state = load_checkpoint(path, CHECKPOINT_KIND)
    saved = state["config"]
    mine = dataclasses.asdict(config)
    def plain(v: Any) -> Any:
        return list(v) if isinstance(v, (tuple, list)) else v

    defaults = dataclasses.asdict(MPCAgentConfig())  # a field added since the run was saved has its default
    differ = sorted(k for k in mine if plain(saved.get(k, defaults[k])) != plain(mine[k]))
    if differ:
        raise InputError(f"{path} holds an MPC agent run with other settings ({', '.join(differ)}); "
                         "use another checkpoint path, or the same settings to resume")
    return state


def run_online_mpc(config: MPCAgentConfig, device: torch.device | str | None = None, writer: Any = None,
                   progress: bool = False, log: Any = None, render_last: Any = None,
                   on_model: Any = None, checkpoint: Any = None) -> list[IterationResult]:
    """Runs the loop of the module doc; returns one IterationResult per MPC episode.

    `writer` (TensorBoard SummaryWriter) gets mpc_agent/return against env steps and the model
    loss; `log(str)` (e.g. print) gets one line per iteration and phase. `render_last(env)`, if
    given, returns the frame callback for the last episode (planners.run_episode's `render`).
    `on_model(model, data_sets)` is called with the final model and its data (e.g. to save them).
    `checkpoint`: a path where the state is saved after each iteration and resumed from (module doc).
    """
    from envs.tasks import get_task, same_system
    from envs.true_model import TaskEnv
    from planners import run_episode

    if config.mix not in ("pooled", "even"):
        raise InputError(f"mix must be 'pooled' or 'even', got {config.mix!r}")
    if config.iterations < 1:
        raise InputError(f"iterations must be >= 1, got {config.iterations}")
    k = config.control_steps
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or config.action_repeat % k:
        raise InputError(f"control_steps must be an integer >= 1 dividing action_repeat {config.action_repeat}, "
                         f"got {k!r}")
    task = get_task(config.task)
    plan_task = get_task(config.plan_reward) if config.plan_reward else task
    for other in config.extra_data_tasks + ((config.plan_reward,) if config.plan_reward else ()):
        if not same_system(get_task(other), task):
            raise InputError(f"{other} is another system than {config.task}: extra data and the planning reward "
                             "must be for the same body")
    t0 = time.perf_counter()
    data = random_data(config.task, config.random_episodes, config.episode_steps, seed=config.seed, hold=k)
    for j, other in enumerate(config.extra_data_tasks, 1):
        extra = random_data(other, config.random_episodes, config.episode_steps, seed=config.seed + j, hold=k)
        for e in range(extra.num_episodes):
            data = append_episode(data, extra.states[e], extra.actions[e])
    env_steps = data.num_episodes * data.episode_length
    data = data.every(k)  # k-step transitions (k = 1: unchanged)
    if log is not None:
        log(f"mpc_agent {config.task}: {data.num_episodes} random episodes x {data.episode_length} steps "
            f"({config.task}{''.join(', ' + t for t in config.extra_data_tasks)}), "
            f"{time.perf_counter() - t0:.0f} s; training the GN for {config.train_steps} steps")
    mpc_steps = config.mpc_steps or config.episode_steps
    iterations = planned_iterations(config, env_steps, mpc_steps)
    model = new_model(data, latent=config.latent, hidden=config.hidden, seed=config.seed, device=device,
                      control_steps=k)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    agent_data = empty_like(data, name=f"{config.task}-agent", steps=mpc_steps // k)
    results: list[IterationResult] = []
    first = 0
    saved = _resumed(checkpoint, config)
    if saved is None:
        losses = fit_model(model, [data], config.train_steps, config.batch_size, seed=config.seed, optimiser=opt,
                           rollout_steps=config.rollout_steps)
    else:  # continue after the last saved iteration, exactly as the uninterrupted run would
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimiser"])
        model.requires_grad_(False)
        model.eval()
        agent_data = dataclasses.replace(agent_data, states=saved["agent_states"], actions=saved["agent_actions"],
                                         **nominal_statics(data, saved["agent_states"].shape[0]))
        results = [IterationResult(**r) for r in saved["results"]]
        first, env_steps = saved["iteration"] + 1, saved["env_steps"]
        torch.set_rng_state(saved["torch_rng"])
        losses = []
        if log is not None:
            log(f"mpc_agent {config.task}: resumed from {checkpoint} after iteration {saved['iteration']} "
                f"({env_steps} env steps)")
    params = task.graph().graph_system(device)
    episode_seed = config.seed + 1000 if config.episode_seed is None else config.episode_seed
    sets = [data]
    t_model = t0
    for it in range(first, iterations):
        if it > 0:
            t_model = time.perf_counter()
            for g in opt.param_groups:
                g["lr"] = config.lr * 0.5
            held_out, tuning = None, agent_data
            if config.keep_better_model and agent_data.num_episodes:
                held_out, tuning = agent_data.episodes(slice(-1, None)), agent_data.episodes(slice(0, -1))
            if config.mix == "even" or tuning.episode_length < data.episode_length:
                sets = [data] + ([tuning] if tuning.num_episodes else [])  # (pooled with shorter agent episodes)
            else:  # pooled: agent episodes cut into pieces as long as the random episodes, one buffer
                sets = [data]
                n = data.episode_length
                for e in range(tuning.num_episodes):
                    for c in range(tuning.episode_length // n):
                        sets[0] = append_episode(sets[0], tuning.states[e, c * n:(c + 1) * n + 1],
                                                 tuning.actions[e, c * n:(c + 1) * n])
            if held_out is not None:
                saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
                error_before = episode_error(model, held_out, config.rollout_steps)
            losses = fit_model(model, sets, config.finetune_steps, config.batch_size,
                               seed=config.seed + it, optimiser=opt, rollout_steps=config.rollout_steps)
            if held_out is not None:
                after = episode_error(model, held_out, config.rollout_steps)
                kept = after <= error_before
                if not kept:
                    model.load_state_dict(saved_model)
                    opt.load_state_dict(saved_opt)
                if log is not None:
                    log(f"mpc_agent {config.task} iter {it}: held-out episode error {error_before:.4f} before, "
                        f"{after:.4f} after fine-tuning: {'fine-tuned model' if kept else 'previous model'} kept")
        t_episode = time.perf_counter()
        env = TaskEnv(task, seed=episode_seed, device=device)
        planner = make_planner(config, task, device)
        last = it == config.iterations - 1
        ep = run_episode(env, planner, model, env.episode_reward(plan_task), params, max_steps=mpc_steps,
                         progress=progress, tag=f"mpc_agent/iter{it}",
                         render=render_last(env) if last and render_last is not None else None)
        env_steps += ep.steps
        if ep.steps == mpc_steps:  # at the model's time step (every(k) checks the actions were held)
            episode = append_episode(empty_like(data, steps=mpc_steps), ep.state_array()[..., :STATE_SIZE],
                                     ep.actions, data).every(k)
            agent_data = append_episode(agent_data, episode.states[0], episode.actions[0], data)
        loss = sum(losses[-100:]) / max(1, len(losses[-100:]))
        res = IterationResult(it, env_steps, ep.episode_return, loss, time.perf_counter() - t0, ep.rewards,
                              ep.plan_time_per_step, [f for f in ep.frames if f is not None],
                              t_episode - t_model, time.perf_counter() - t_episode)
        results.append(res)
        if writer is not None:
            writer.add_scalar(f"mpc_agent/{config.task}/return", ep.episode_return, env_steps)
            writer.add_scalar(f"mpc_agent/{config.task}/model_loss", loss, env_steps)
        if log is not None:
            log(f"mpc_agent {config.task} iter {it}: env steps {env_steps}, return {ep.episode_return:.1f}, "
                f"model loss {loss:.4f}, planning {ep.plan_time_per_step * 1000:.0f} ms per control step, "
                f"{res.seconds:.0f} s")
        if checkpoint is not None:
            from gncontrol.checkpoints import save_checkpoint

            save_checkpoint(checkpoint, CHECKPOINT_KIND, _saved_state(config, it, env_steps, model, opt, agent_data,
                                                                      results))
    if on_model is not None:
        on_model(model, sets if config.mix == "pooled" else [data, agent_data])
    return results

