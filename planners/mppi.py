"""Model-predictive path integral (MPPI) planner: perturb a nominal action sequence with
Gaussian noise, weight the batched rollouts by exp(return / temperature), average.

The nominal plan, shifted by one decision, warm-starts the next control step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from gncontrol.dynamics import DynamicsModel, State
from gncontrol.errors import InputError
from planners.base import Bounds, Objective, RewardFn, make_objective, shift_plan
from planners.config import ConfiguredPlanner, check_at_least_one, check_discount, check_non_negative

__all__ = ["MPPIConfig", "MPPIPlanner", "mppi_optimize"]


@torch.no_grad()
def mppi_optimize(objective: Objective, bounds: Bounds, mean: torch.Tensor, noise_std: torch.Tensor, *,
                  samples: int = 500, iterations: int = 1, temperature: float = 1.0,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MPPI updates of the nominal plan mean [H, A] with per-dimension noise std [A] on `objective`.

    Returns (new mean [H, A], best sampled plan [H, A], its return []). Weights are
    softmax(returns / temperature); sample 0 is the noise-free nominal plan.
    """
    if temperature <= 0:
        raise InputError(f"temperature must be > 0, got {temperature}")
    if mean.dim() != 2 or mean.shape[-1] != bounds.dim:
        raise InputError(f"mean must be [H, A={bounds.dim}], got shape {tuple(mean.shape)}")
    best_plan, best_ret = mean.clone(), torch.tensor(-float("inf"), device=mean.device)
    for _ in range(iterations):
        eps = torch.randn(samples, *mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        eps[0] = 0
        plans = bounds.clip(mean + noise_std * eps)
        returns = objective(plans)
        if not bool(torch.isfinite(returns).any()):
            continue  # every rollout diverged (all -inf, finite_or_worst): keep the nominal plan
        w = torch.softmax(returns / temperature, dim=0)  # -inf returns get weight 0
        mean = (w[:, None, None] * plans).sum(0)
        i = int(torch.argmax(returns))
        if returns[i] > best_ret:
            best_ret, best_plan = returns[i].clone(), plans[i].clone()
    return mean, best_plan, best_ret


@dataclasses.dataclass(frozen=True, kw_only=True)
class MPPIConfig:
    """MPPI's settings. Budget per control step: samples x iterations plans of horizon x
    action_repeat model steps; noise_std is a fraction of the half range of the box."""

    horizon: int = 20
    samples: int = 500
    iterations: int = 1
    noise_std: float = 0.5
    temperature: float = 1.0
    action_repeat: int = 1
    discount: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_at_least_one(horizon=self.horizon, samples=self.samples, iterations=self.iterations,
                           action_repeat=self.action_repeat)
        check_non_negative(noise_std=self.noise_std, temperature=self.temperature)
        if self.temperature == 0:
            raise InputError("temperature must be > 0, got 0")
        check_discount(self.discount)


class MPPIPlanner(ConfiguredPlanner):
    """Receding-horizon MPPI: `MPPIPlanner(low, high, MPPIConfig(...))` or keyword overrides of the defaults."""

    config_class = MPPIConfig

    def reset(self) -> None:
        """Forgets the nominal plan and reseeds the sampler."""
        super().reset()
        self.mean_: torch.Tensor | None = None

    def plan(self, model: DynamicsModel, reward_fn: RewardFn, state: State,
             params: Any = None) -> torch.Tensor:
        """The first action [A] of the updated nominal plan from a single state."""
        b, c = self.bounds, self.config
        mean = (b.center.expand(c.horizon, b.dim).clone() if self.mean_ is None
                else shift_plan(self.mean_, 1, fill=b.center))
        objective = make_objective(model, reward_fn, state, params=params, discount=c.discount,
                                   action_repeat=c.action_repeat)
        mean, _, ret = mppi_optimize(objective, b, mean, c.noise_std * b.half_range, samples=c.samples,
                                     iterations=c.iterations, temperature=c.temperature, generator=self._gen)
        self.mean_ = mean
        self.plan_ = b.clip(mean)
        self.last_return = float(ret)
        return self.plan_[0].clone()
