"""MPC agent with online model learning (the model-based RL loop of mbrl-lib / PETS style).

    1. collect `random_episodes` episodes of random (OU) controls in the real env;
    2. train a GN forward model on them (`train_steps`);
    3. repeat `iterations` times: run one MPC episode in the real env (CEM or gradient planner
       through the CURRENT model, the task's reward), add the episode to the data, fine-tune
       the model (`finetune_steps`) on all data pooled (`mix="pooled"`, every transition
       equally likely) or on batches split evenly between random and agent data (`mix="even"`).

Iteration 0's episode is planned with the model trained on random data alone; every later
one with a model that has also seen the states the agent's own behaviour reaches (for
cartpole-swingup: the pole up, which random controls rarely reach). Every episode starts
from the same seeded initial state (seed + 1000), so iterations compare like with like. Each
episode is both the agent's experience and its evaluation, so `IterationResult.env_steps`
counts ALL real environment steps used up to and including that episode (random data included).

    results = run_online_mpc(MPCAgentConfig(task="cartpole-swingup"), writer=SummaryWriter(...))
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from agents.model_learning import append_episode, empty_like, fit_model, new_model, random_data
from gncontrol.body_state import STATE_SIZE
from gncontrol.errors import InputError

__all__ = ["MPCAgentConfig", "IterationResult", "make_planner", "run_online_mpc"]


@dataclasses.dataclass
class MPCAgentConfig:
    """Data, model, fine-tuning and planner settings (defaults: a few minutes on cartpole-swingup)."""

    task: str = "cartpole-swingup"
    random_episodes: int = 20
    mix: str = "pooled"  # pooled: one buffer of all episodes | even: half of each batch from agent episodes
    episode_steps: int = 200  # control steps per episode, random and MPC alike
    iterations: int = 4
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
    seed: int = 0


@dataclasses.dataclass
class IterationResult:
    """One agent iteration: the real episode's return and the real env steps used so far."""

    iteration: int
    env_steps: int
    episode_return: float
    model_loss: float  # mean 1-step training loss of the fine-tuning that preceded the episode
    seconds: float


def make_planner(config: MPCAgentConfig, task: Any, device: torch.device | str | None = None) -> Any:
    """The agent's planner (CEM or gradient MPC) with the config's horizon and budget."""
    import planners

    lo, hi = task.action_low, task.action_high
    if config.planner == "cem":
        return planners.CEMPlanner(lo, hi, horizon=config.horizon, population=config.population,
                                   elites=config.elites, iterations=config.plan_iterations,
                                   action_repeat=config.action_repeat, seed=config.seed, device=device)
    if config.planner == "gradient":
        return planners.GradientPlanner(lo, hi, horizon=config.horizon, iterations=config.plan_iterations,
                                        action_repeat=config.action_repeat, seed=config.seed, device=device)
    raise InputError(f"unknown planner {config.planner!r}; expected 'cem' or 'gradient'")


def run_online_mpc(config: MPCAgentConfig, device: torch.device | str | None = None, writer: Any = None,
                   progress: bool = False, log: Any = None) -> list[IterationResult]:
    """Runs the loop of the module doc; returns one IterationResult per MPC episode.

    `writer` (TensorBoard SummaryWriter) gets mpc_agent/return against env steps and the model
    loss; `log(str)` (e.g. print) gets one line per iteration.
    """
    from envs.tasks import get_task
    from envs.true_model import TaskEnv
    from planners import run_episode

    if config.mix not in ("pooled", "even"):
        raise InputError(f"mix must be 'pooled' or 'even', got {config.mix!r}")
    if config.iterations < 1:
        raise InputError(f"iterations must be >= 1, got {config.iterations}")
    task = get_task(config.task)
    t0 = time.perf_counter()
    data = random_data(config.task, config.random_episodes, config.episode_steps, seed=config.seed)
    agent_data = empty_like(data, name=f"{config.task}-agent")
    env_steps = data.num_episodes * data.episode_length
    model = new_model(data, latent=config.latent, hidden=config.hidden, seed=config.seed, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    losses = fit_model(model, [data], config.train_steps, config.batch_size, seed=config.seed, optimiser=opt)
    params = task.graph().graph_system(device)
    results: list[IterationResult] = []
    for it in range(config.iterations):
        if it > 0:
            for g in opt.param_groups:
                g["lr"] = config.lr * 0.5
            if config.mix == "even":
                sets = [data, agent_data]
            else:
                sets = [data]
                for k in range(agent_data.num_episodes):
                    sets[0] = append_episode(sets[0], agent_data.states[k], agent_data.actions[k])
            losses = fit_model(model, sets, config.finetune_steps, config.batch_size,
                               seed=config.seed + it, optimiser=opt)
        env = TaskEnv(task, seed=config.seed + 1000, device=device)
        planner = make_planner(config, task, device)
        ep = run_episode(env, planner, model, task.reward, params, max_steps=config.episode_steps,
                         progress=progress, tag=f"mpc_agent/iter{it}")
        env_steps += ep.steps
        if ep.steps == config.episode_steps:
            agent_data = append_episode(agent_data, ep.state_array()[..., :STATE_SIZE], ep.actions, data)
        loss = sum(losses[-100:]) / max(1, len(losses[-100:]))
        res = IterationResult(it, env_steps, ep.episode_return, loss, time.perf_counter() - t0)
        results.append(res)
        if writer is not None:
            writer.add_scalar(f"mpc_agent/{config.task}/return", ep.episode_return, env_steps)
            writer.add_scalar(f"mpc_agent/{config.task}/model_loss", loss, env_steps)
        if log is not None:
            log(f"mpc_agent {config.task} iter {it}: env steps {env_steps}, return {ep.episode_return:.1f}, "
                f"model loss {loss:.4f}, {res.seconds:.0f} s")
    return results
