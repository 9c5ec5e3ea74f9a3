"""Gradient shooting MPC: Adam on an action sequence, backpropagating the predicted return
through a differentiable dynamics model (Sanchez-Gonzalez et al. 2018, "Control").

Several restarts are optimised in ONE batched pass (the state is tiled R times); actions stay
in the box by tanh squashing or by projection after each step; the previous plan, shifted by
one decision, warm-starts restart 0 at the next control step. An optional action-rate penalty
(`smoothness` x the sum of squared changes between consecutive decisions, in half-ranges of the
box) is subtracted from the objective, the usual MPC regulariser for smooth control (on cartpole
it did not reduce how much the plans exploit a learned model's errors: docs/planners.md).
An optional robust objective (`action_noise` > 0) scores each plan by its mean return over
`noise_samples` copies with Gaussian action noise (common random numbers: one noise draw per
call, shared by every restart and iteration, the first copy noise-free), so the optimiser
prefers plans whose return survives small deviations instead of narrow optima of a learned
model's errors (CEM gets the same from averaging its elites).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from gncontrol.dynamics import DynamicsModel, State
from gncontrol.errors import InputError
from planners.base import Bounds, Objective, RewardFn, make_objective, shift_plan
from planners.config import (
    ConfiguredPlanner,
    check_at_least_one,
    check_choice,
    check_discount,
    check_non_negative,
)
from planners.graph_capture import CapturedShooting, capture_key
from planners.plan_ascent import PlanAscent, action_rate_penalty, draw_action_noise

__all__ = ["GradientConfig", "GradientPlanner", "gradient_shooting", "action_rate_penalty"]

SQUASH_MODES = ("tanh", "clip")


def gradient_shooting(objective: Objective, init: torch.Tensor, bounds: Bounds, *, iterations: int = 50,
                      lr: float = 0.1, squash: str = "tanh", smoothness: float = 0.0, action_noise: float = 0.0,
                      noise_samples: int = 1, generator: torch.Generator | None = None,
                      ) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """Optimises R initial plans init [R, H, A] by Adam ascent on `objective` (planners.base.make_objective).

    The ascended value is the objective's predicted return minus `smoothness` * action_rate_penalty(plan); with
    `action_noise` = s > 0 the return is the mean over `noise_samples` = M copies of the plan
    perturbed by N(0, s half-ranges) and clipped to the box (copy 0 unperturbed; the noise
    [M, H, A] is drawn once from `generator`, common to all restarts and iterations).
    Returns (plans [R, H, A] after optimisation, objectives [R] of those plans, history: the
    mean finite objective before each step; len == iterations). Pure: no planner state.
    A restart whose objective turns non-finite (a diverged model rollout) gets a zero gradient
    and ends at its last plan with a finite objective (its return is -inf if it never had one).
    """
    if squash not in SQUASH_MODES:
        raise InputError(f"squash must be one of {SQUASH_MODES}, got {squash!r}")
    if init.dim() != 3 or init.shape[-1] != bounds.dim:
        raise InputError(f"init must be [R, H, A={bounds.dim}], got shape {tuple(init.shape)}")
    if iterations < 0:
        raise InputError(f"iterations must be >= 0, got {iterations}")
    if smoothness < 0:
        raise InputError(f"smoothness must be >= 0, got {smoothness}")
    check_action_noise(action_noise, noise_samples)
    noise = draw_action_noise(bounds, action_noise, noise_samples, tuple(init.shape[1:2]), generator, init.device,
                              init.dtype)
    ascent = PlanAscent(objective, bounds, tuple(init.shape), lr=lr, squash=squash, smoothness=smoothness,
                        noise=noise, iterations=iterations, device=init.device, dtype=init.dtype)
    ascent.start(bounds.clip(init.detach()))
    for _ in range(iterations):
        ascent.step()
    return ascent.result(iterations)


def check_action_noise(action_noise: float, noise_samples: int) -> None:
    """Refuses a negative noise scale or fewer than one noise sample (robust objective settings)."""
    if action_noise < 0 or noise_samples < 1:
        raise InputError(f"action_noise must be >= 0 and noise_samples >= 1, got {action_noise} and {noise_samples}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class GradientConfig:
    """Gradient MPC's settings (see GradientPlanner). Budget per control step: restarts x
    iterations forward+backward passes of horizon x action_repeat model steps (x noise_samples)."""

    horizon: int = 20
    iterations: int = 50
    lr: float = 0.1  # Adam's step on the (squashed) actions
    restarts: int = 4
    squash: str = "tanh"  # "tanh" or "clip" (projection after each step)
    action_repeat: int = 1
    discount: float = 1.0
    init_noise: float = 0.5  # random restarts: uniform plans scaled by this around the box centre
    warm_start: bool = True
    seed: int = 0
    smoothness: float = 0.0
    warm_restarts: int = 0
    warm_noise: float = 0.2
    action_noise: float = 0.0
    noise_samples: int = 1
    terminal_weight: float = 0.0
    # True: the iteration is recorded once as a CUDA graph and replayed (planners.graph_capture); off a GPU the
    # same host-free iteration runs eagerly on static buffers (the same plans as False)
    cuda_graph: bool = False

    def __post_init__(self) -> None:
        check_at_least_one(horizon=self.horizon, iterations=self.iterations, restarts=self.restarts,
                           action_repeat=self.action_repeat, noise_samples=self.noise_samples)
        if not 0 <= self.warm_restarts < self.restarts:
            raise InputError(f"warm_restarts must be in [0, restarts={self.restarts}), got {self.warm_restarts}")
        check_non_negative(lr=self.lr, init_noise=self.init_noise, smoothness=self.smoothness,
                           warm_noise=self.warm_noise, action_noise=self.action_noise,
                           terminal_weight=self.terminal_weight)
        check_choice("squash", self.squash, SQUASH_MODES)
        check_discount(self.discount)


class GradientPlanner(ConfiguredPlanner):
    """Receding-horizon gradient MPC with batched restarts and a shifted warm start.

    horizon H decisions (each held `action_repeat` model steps); `restarts` R plans optimised
    together; restart 0 is the warm start (box centre on the first call), the others are
    uniform random plans scaled by `init_noise` around the centre, except that `warm_restarts`
    of them start from the warm start plus Gaussian noise of std `warm_noise` half-ranges (local
    exploration around the current plan, as CEM samples around its mean). `smoothness` > 0
    subtracts that multiple of `action_rate_penalty` from the objective (and the reported return);
    `action_noise` > 0 makes the objective the mean return over `noise_samples` perturbed copies
    (`gradient_shooting`), at `noise_samples` times the model calls; `terminal_weight` > 0 adds a
    cost-to-go (`predicted_return`).
    """

    config_class = GradientConfig

    def reset(self) -> None:
        """Forgets the warm-start plan (plan_ [H, A], the best plan of the last call) and reseeds the restart noise."""
        super().reset()
        self.history: list[float] = []

    def initial_plans(self) -> torch.Tensor:
        """[R, H, A] starting plans: warm start (shifted previous plan) then random restarts."""
        b, c = self.bounds, self.config
        noise = b.uniform((c.restarts, c.horizon), generator=self._gen) - b.center
        plans = b.center + c.init_noise * noise
        if c.warm_start and self.plan_ is not None:
            plans[0] = shift_plan(self.plan_, 1)
            k = c.warm_restarts
            if k:
                noise = torch.randn(k, *plans.shape[1:], generator=self._gen, device=b.low.device, dtype=b.low.dtype)
                plans[1:1 + k] = b.clip(plans[0] + c.warm_noise * b.half_range * noise)
        else:
            plans[0] = b.center
        return plans

    def plan(self, model: DynamicsModel, reward_fn: RewardFn, state: State,
             params: Any = None) -> torch.Tensor:
        """The first action [A] of the best of R optimised plans from a single state."""
        if not getattr(model, "differentiable", False):
            raise InputError("the gradient planner needs a differentiable model "
                             "(model.differentiable is False)")
        c = self.config
        if c.cuda_graph:
            plans, returns, history = self._captured_plans(model, reward_fn, state, params)
        else:
            objective = make_objective(model, reward_fn, state, params=params, discount=c.discount,
                                       action_repeat=c.action_repeat, terminal_weight=c.terminal_weight)
            plans, returns, history = gradient_shooting(
                objective, self.initial_plans(), self.bounds, iterations=c.iterations, lr=c.lr, squash=c.squash,
                smoothness=c.smoothness, action_noise=c.action_noise, noise_samples=c.noise_samples,
                generator=self._gen)
        best = int(torch.argmax(returns))
        self.plan_ = plans[best]
        self.last_return = float(returns[best])
        self.history = history
        return self.plan_[0].clone()

    def _captured_plans(self, model: DynamicsModel, reward_fn: RewardFn, state: State,
                        params: Any) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
        """`gradient_shooting`'s result through the planner's CapturedShooting, recorded again when its key
        changes (new weights, shapes or reward)."""
        c, b = self.config, self.bounds
        init = b.clip(self.initial_plans())
        noise = draw_action_noise(b, c.action_noise, c.noise_samples, (c.horizon,), self._gen, b.low.device,
                                  b.low.dtype)
        copies = 1 if noise is None else c.noise_samples
        key = capture_key(model, reward_fn, state, params, (c.restarts, c.horizon, copies))
        captured = getattr(self, "_captured", None)
        if captured is None or captured.key != key:
            captured = self._captured = CapturedShooting(
                model, reward_fn, state, params, b, tuple(init.shape), iterations=c.iterations, lr=c.lr,
                squash=c.squash, smoothness=c.smoothness, noise=noise, discount=c.discount,
                action_repeat=c.action_repeat, terminal_weight=c.terminal_weight, key=key)
        return captured.run(state, params, init, noise)
