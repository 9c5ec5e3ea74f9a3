"""The receding-horizon MPC loop: plan from the real environment's current state with any
planner and any model, apply the first action (held `planner.action_repeat` env steps),
replan; report the episode return and the planning time per control step.

The real environment is anything with `reset() -> state` and
`step(action[A]) -> (state, reward: float, done: bool)`, where `state` is what the model
takes (a single-graph `Graph` or a tensor [D]); adapters for dm_control tasks live in envs/.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from gncontrol.dynamics import DynamicsModel, State
from gncontrol.errors import InputError
from planners.base import Planner, RewardFn

__all__ = ["Env", "EpisodeResult", "run_episode"]


class Env(Protocol):
    """A real environment seen through model states."""

    def reset(self) -> State:
        """Starts an episode; returns the initial state."""
        ...

    def step(self, action: torch.Tensor) -> tuple[State, float, bool]:
        """Applies action [A] for one control step: (next state, reward, episode done)."""
        ...


@dataclasses.dataclass
class EpisodeResult:
    """What one MPC episode did: return, per-step rewards, actions [T, A], the T+1 env states, timings."""

    episode_return: float
    rewards: list[float]
    actions: torch.Tensor  # [T, A] applied at each env step
    plan_times: list[float]  # seconds per planner call (one call per action_repeat env steps)
    action_repeat: int
    frames: list[np.ndarray] = dataclasses.field(default_factory=list)
    states: list[Any] = dataclasses.field(default_factory=list)  # env states, reset's first (T+1)

    @property
    def steps(self) -> int:
        """T, env steps taken."""
        return len(self.rewards)

    @property
    def plan_time_per_step(self) -> float:
        """Mean planning seconds per env control step (planner time / env steps)."""
        return float(sum(self.plan_times) / max(self.steps, 1))

    def state_array(self) -> torch.Tensor:
        """The env states stacked on CPU: [T+1, N, F] node features for graph states, [T+1, D] for tensors."""
        return torch.stack([(x.nodes if hasattr(x, "nodes") else x).detach().cpu() for x in self.states])

    def summary(self) -> dict[str, float]:
        """Scalars worth printing or logging."""
        return {"return": self.episode_return, "steps": float(self.steps),
                "plan_time_per_call_s": float(np.mean(self.plan_times)) if self.plan_times else 0.0,
                "plan_time_per_step_s": self.plan_time_per_step, "action_repeat": float(self.action_repeat)}


def run_episode(env: Env, planner: Planner, model: DynamicsModel, reward_fn: RewardFn, params: Any = None,
                max_steps: int | None = None, writer: Any = None,
                render: Callable[[], np.ndarray] | None = None, progress: bool = True,
                tag: str = "mpc") -> EpisodeResult:
    """Runs one MPC episode of at most `max_steps` env steps (until `done` otherwise).

    `writer` (a TensorBoard SummaryWriter) receives reward, cumulative return and planning
    time per step; `render()` (an RGB frame) is called after every env step for a video.
    A non-finite planned action is never sent to the environment: the episode stops with an InputError.
    """
    from tqdm import tqdm

    planner.reset()
    state = env.reset()
    states = [state]
    rewards: list[float] = []
    actions: list[torch.Tensor] = []
    plan_times: list[float] = []
    frames: list[np.ndarray] = []
    repeat = int(getattr(planner, "action_repeat", 1))
    bar = tqdm(total=max_steps, desc=tag, disable=not progress, leave=False)
    done, total = False, 0.0
    while not done and (max_steps is None or len(rewards) < max_steps):
        t0 = time.perf_counter()
        action = planner.plan(model, reward_fn, state, params).detach()
        plan_times.append(time.perf_counter() - t0)
        if not bool(torch.isfinite(action).all()):
            bar.close()
            raise InputError(f"the planner chose a non-finite action {action.tolist()} at control step {len(rewards)};"
                             " it was not sent to the simulator (a diverged model, or non-finite planner options)")
        for _ in range(repeat):
            state, reward, done = env.step(action)
            states.append(state)
            rewards.append(float(reward))
            actions.append(action.cpu())
            total += float(reward)
            if writer is not None:
                t = len(rewards)
                writer.add_scalar(f"{tag}/reward", float(reward), t)
                writer.add_scalar(f"{tag}/return_so_far", total, t)
                writer.add_scalar(f"{tag}/plan_time_per_step_s", plan_times[-1] / repeat, t)
            if render is not None:
                frames.append(render())
            bar.update(1)
            if done or (max_steps is not None and len(rewards) >= max_steps):
                break
    bar.close()
    if writer is not None:
        writer.add_scalar(f"{tag}/episode_return", total, 0)
    acts = torch.stack(actions) if actions else torch.zeros(0)
    return EpisodeResult(total, rewards, acts, plan_times, repeat, frames, states)
