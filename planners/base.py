"""Shared pieces of every planner: the planner protocol, action bounds, state replication,
and the batched predicted return of action sequences under a dynamics model.

Conventions (all planners):
    state      a `Graph` of ONE system (num_graphs == 1) or a tensor [D] / [1, D]; planners
               replicate it B times themselves (`replicate`).
    actions    [B, H, A] planned (decision) actions; with `action_repeat` k each one is applied
               for k model steps, so a plan covers H * k model steps.
    reward_fn  `reward(next_state, action[B, A]) -> [B]`: the reward of the transition
               (state, action) -> next_state, evaluated on the state reached, as dm_control
               computes its reward after the physics step.
    returns    [B] = sum_t discount**t * r_t over the H * k model steps.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from gncontrol.dynamics import DynamicsModel, State
from gncontrol.dynamics import rollout as model_rollout
from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph, tile
from gncontrol.gn.graphs import batch as batch_graphs

RewardFn = Callable[[State, torch.Tensor], torch.Tensor]

__all__ = [
    "Planner",
    "RewardFn",
    "Bounds",
    "replicate",
    "num_states",
    "repeat_actions",
    "predicted_return",
    "model_time_step",
    "Objective",
    "make_objective",
    "frozen_parameters",
    "shift_plan",
    "finite_or_worst",
    "note_non_finite",
]


@runtime_checkable
class Planner(Protocol):
    """A receding-horizon planner: `plan` returns the first action [A] of its best plan."""

    action_repeat: int

    def plan(self, model: DynamicsModel, reward_fn: RewardFn, state: State,
             params: Any = None) -> torch.Tensor:
        """The action [A] to apply now from `state` (a single state), under `model`."""
        ...

    def reset(self) -> None:
        """Forgets any warm-start plan (call at the start of every episode)."""
        ...


class Bounds:
    """Box action bounds low/high [A] with helpers to clip, sample and squash into the box."""

    def __init__(self, low: torch.Tensor | Any, high: torch.Tensor | Any,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32):
        low, high = (x if isinstance(x, torch.Tensor) else np.array(x, dtype=np.float64) for x in (low, high))
        low = torch.as_tensor(low, dtype=dtype, device=device).reshape(-1)
        high = torch.as_tensor(high, dtype=dtype, device=device).reshape(-1)
        if low.shape != high.shape:
            raise InputError(f"action low {tuple(low.shape)} and high {tuple(high.shape)} differ in shape")
        if not torch.isfinite(low).all() or not torch.isfinite(high).all():
            raise InputError("action bounds must be finite")
        if (high <= low).any():
            raise InputError("every action high bound must be greater than its low bound")
        self.low, self.high = low, high

    @property
    def dim(self) -> int:
        """A, the action dimension."""
        return int(self.low.shape[0])

    @property
    def center(self) -> torch.Tensor:
        """[A] middle of the box."""
        return (self.low + self.high) / 2

    @property
    def half_range(self) -> torch.Tensor:
        """[A] half the width of the box."""
        return (self.high - self.low) / 2

    def clip(self, a: torch.Tensor) -> torch.Tensor:
        """Projects actions [..., A] into the box."""
        return torch.maximum(torch.minimum(a, self.high), self.low)

    def squash(self, u: torch.Tensor) -> torch.Tensor:
        """Maps unbounded u [..., A] into the box by tanh (differentiable everywhere)."""
        return self.center + self.half_range * torch.tanh(u)

    def unsquash(self, a: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
        """Inverse of `squash` for actions [..., A] inside the box (clamped off the edges)."""
        x = ((a - self.center) / self.half_range).clamp(-1 + eps, 1 - eps)
        return torch.atanh(x)

    def uniform(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
        """Uniform samples of shape [*shape, A] inside the box."""
        u = torch.rand(*shape, self.dim, generator=generator, device=self.low.device, dtype=self.low.dtype)
        return self.low + (self.high - self.low) * u

    def discrete(self, actions: Any) -> torch.Tensor | None:
        """A discrete action set [K, A] checked against the bounds' width and clipped into them (None stays None)."""
        if actions is None:
            return None
        d = torch.as_tensor(actions, dtype=self.low.dtype, device=self.low.device)
        d = d.reshape(d.shape[0], -1)
        if d.shape[1] != self.dim:
            raise InputError(f"discrete_actions must be [K, A={self.dim}], got {tuple(d.shape)}")
        return self.clip(d)

    def to(self, device: torch.device | str | None) -> Bounds:
        """The same bounds on another device."""
        return Bounds(self.low, self.high, device=device, dtype=self.low.dtype)


def num_states(state: State) -> int:
    """B, the number of states in a batched state (Graph graphs or tensor rows)."""
    if isinstance(state, Graph):
        return state.num_graphs
    return 1 if state.dim() == 1 else int(state.shape[0])


def replicate(x: Any, copies: int) -> Any:
    """B copies of a single state or parameter set; None and already-batched values pass through.

    A Graph of one graph is tiled (`gncontrol.gn.graphs.tile`); a tensor [D] or [1, ...] is
    expanded to [copies, ...]. Anything else (e.g. per-edge NRI probabilities) is returned
    unchanged, as such parameters are shared by every copy.
    """
    if x is None:
        return None
    if isinstance(x, Graph):
        if x.num_graphs == copies:
            return x
        return tile(x, copies) if x.num_graphs == 1 else x
    if isinstance(x, torch.Tensor):
        if x.dim() == 1:
            return x.unsqueeze(0).expand(copies, -1)
        if x.shape[0] == 1 and copies != 1:
            return x.expand(copies, *x.shape[1:])
        return x
    return x


def repeat_actions(actions: torch.Tensor, action_repeat: int) -> torch.Tensor:
    """[B, H, A] decision actions -> [B, H * k, A] model-step actions (each held k steps)."""
    if action_repeat < 1:
        raise InputError(f"action_repeat must be >= 1, got {action_repeat}")
    if action_repeat == 1:
        return actions
    return actions.repeat_interleave(action_repeat, dim=1)


def model_time_step(model: DynamicsModel, action_repeat: int) -> tuple[int, int]:
    """(model steps per decision, control steps per model step) of `model` under `action_repeat`.

    A forward model at the decision time step (`model.control_steps` k > 1, trained on k-step
    transitions: `gncontrol train --control-steps k`) covers k control steps per step, so a
    decision held for `action_repeat` control steps takes action_repeat / k model steps.
    """
    k = int(getattr(model, "control_steps", 1))
    if k < 1 or action_repeat % k:
        raise InputError(f"the model steps {k} control steps at once; action_repeat {action_repeat} must be a "
                         "multiple of that")
    return action_repeat // k, k


def predicted_return(model: DynamicsModel, reward_fn: RewardFn, state: State, actions: torch.Tensor,
                     params: Any = None, discount: float = 1.0, action_repeat: int = 1,
                     terminal_weight: float = 0.0, *, host_checks: bool = True) -> torch.Tensor:
    """[B] discounted sum of rewards of B action sequences [B, H, A] rolled out from `state`.

    `terminal_weight` w > 0 adds w x the (discounted) reward of the last step: a cost-to-go
    beyond the horizon that assumes the final state's reward lasts w more steps.
    A model at the decision time step (`model_time_step`: k control steps per model step)
    counts each model step's reward k times, discounted by discount**k per model step.

    `state` may be a single state (replicated B times) or already a batch of B states.
    Uses `gncontrol.dynamics.rollout`, so models with a fused `rollout` (e.g. the true
    simulator's batched C rollouts) are used at full speed. Differentiable when the model is.
    An ensemble with `per_member_returns` (gncontrol.ensemble) gives the mean of its members'
    returns, each member rolled out on its own predictions. `host_checks` False: no value is read
    back to the host (`finite_or_worst`), so a CUDA graph can capture the call.
    """
    check_terminal_weight(terminal_weight)
    if getattr(model, "per_member_returns", False):
        return torch.stack([predicted_return(m, reward_fn, state, actions, params, discount, action_repeat,
                                             terminal_weight, host_checks=host_checks)
                            for m in model.members]).mean(0)
    if actions.dim() != 3:
        raise InputError(f"actions must be [B, H, A], got shape {tuple(actions.shape)}")
    b = actions.shape[0]
    state = replicate(state, b)
    if num_states(state) != b:
        raise InputError(f"state holds {num_states(state)} states but actions hold {b} sequences")
    per_decision, k = model_time_step(model, action_repeat)
    steps = repeat_actions(actions, per_decision)
    states = model_rollout(model, state, steps, replicate(params, b))
    t = len(states)
    # one reward call on all T * B states (time-major), far cheaper than T small calls
    if isinstance(states[0], Graph):
        every = batch_graphs(states)
    else:
        every = torch.cat([s if s.dim() > 1 else s[None] for s in states], dim=0)
    r = reward_fn(every, steps.transpose(0, 1).reshape(t * b, -1))
    if r.shape != (t * b,):
        raise InputError(f"reward_fn must return one reward per state ([B]), got shape {tuple(r.shape)} "
                         f"for {t * b} states")
    weights = discount ** (k * torch.arange(t, dtype=actions.dtype, device=actions.device))
    weights[-1] += terminal_weight * weights[-1] / k  # w more CONTROL steps of the last reward
    weights = weights * k
    return finite_or_worst((weights[:, None] * r.to(actions.dtype).reshape(t, b)).sum(0), host_checks=host_checks)


Objective = Callable[[torch.Tensor], torch.Tensor]  # plans [P, H, A] -> predicted returns [P]


@contextlib.contextmanager
def frozen_parameters(model: Any) -> Iterator[None]:
    """Inside the block the model's parameters record no gradient (restored after).

    Why: a planner differentiates its return with respect to the PLAN; without this every gradient-MPC
    iteration also computed (and accumulated into `.grad`) the gradient of every model weight, about a
    third of the backward's matmuls. The graph built inside still reaches the actions and start state.
    """
    params = [p for p in (model.parameters() if isinstance(model, torch.nn.Module) else ()) if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def make_objective(model: DynamicsModel, reward_fn: RewardFn, state: State, *, params: Any = None,
                   discount: float = 1.0, action_repeat: int = 1, terminal_weight: float = 0.0,
                   host_checks: bool = True) -> Objective:
    """The planning objective `objective(plans [P, H, A]) -> returns [P]` from one start state.

    Why: the optimisers (CEM, MPPI, random shooting, gradient shooting) see only this function,
    never the model, the reward or the state (as mbrl-lib's optimisers do), so one optimiser
    serves any model and any objective (a learned reward, an ensemble, a test function). The
    start state (and params) replicated to P is cached per P; `predicted_return` gives the
    value (non-finite returns are -inf). Differentiable when the model is; the function's
    `differentiable` attribute says so. `host_checks` False: the objective reads nothing back to
    the host (planners.graph_capture records it in a CUDA graph).
    """
    check_terminal_weight(terminal_weight)
    if action_repeat < 1:
        raise InputError(f"action_repeat must be >= 1, got {action_repeat}")
    cache: dict[int, tuple[Any, Any]] = {}

    def objective(plans: torch.Tensor) -> torch.Tensor:
        b = int(plans.shape[0]) if plans.dim() == 3 else -1
        if b not in cache and b > 0:
            cache.clear()  # one population size at a time: keep no stale replicas
            cache[b] = (replicate(state, b), replicate(params, b))
        s, p = cache.get(b, (state, params))
        with frozen_parameters(model):
            return predicted_return(model, reward_fn, s, plans, p, discount, action_repeat, terminal_weight,
                                    host_checks=host_checks)

    objective.differentiable = bool(getattr(model, "differentiable", False))  # type: ignore[attr-defined]
    return objective


_warned = {"non_finite": False}


def note_non_finite(bad: int, total: int) -> None:
    """Says once per process (stderr) that `bad` of `total` planned rollouts were non-finite and are never chosen."""
    if bad and not _warned["non_finite"]:
        _warned["non_finite"] = True
        print(f"note: {bad} of {total} planned rollouts gave a non-finite return (a diverged model "
              "rollout?); they are ranked last and never chosen", file=sys.stderr)


def finite_or_worst(returns: torch.Tensor, *, host_checks: bool = True) -> torch.Tensor:
    """returns [B] with every NaN / +-inf replaced by -inf, so no planner ever chooses such a plan.

    Why: topk, argmax and softmax rank NaN above every number, so one diverged rollout of a
    learned model would become CEM's elite, random shooting's pick or poison MPPI's weights.
    Says so once per process (`note_non_finite`). Differentiable where finite (torch.where).
    host_checks False: the same values without reading anything on the host (no note), for a CUDA graph.
    """
    finite = torch.isfinite(returns)
    if not host_checks:
        return torch.where(finite, returns, -float("inf"))
    if bool(finite.all()):
        return returns
    note_non_finite(int((~finite).sum()), returns.numel())
    return torch.where(finite, returns, torch.full_like(returns, -float("inf")))


def check_terminal_weight(terminal_weight: float) -> None:
    """Refuses a negative cost-to-go weight (`predicted_return`'s terminal_weight)."""
    if terminal_weight < 0:
        raise InputError(f"terminal_weight must be >= 0, got {terminal_weight}")


def shift_plan(plan: torch.Tensor, steps: int = 1, fill: torch.Tensor | None = None) -> torch.Tensor:
    """Warm start: drops the first `steps` actions of a plan [..., H, A] and pads the end.

    The pad repeats the last action, or uses `fill` [A] when given (e.g. the box centre).
    """
    if steps <= 0:
        return plan
    h = plan.shape[-2]
    steps = min(steps, h)
    kept = plan[..., steps:, :]
    last = plan[..., -1:, :] if fill is None else fill.expand_as(plan[..., -1:, :])
    pad = last.expand(*plan.shape[:-2], steps, plan.shape[-1])
    return torch.cat([kept, pad], dim=-2)
