"""Cross-entropy method (CEM) planner: iteratively refit a diagonal Gaussian over action
sequences to the elite fraction of a batched population (as PETS / PlaNet / TD-MPC plan).

Samples are clipped into the action box; the mean, shifted by one decision, warm-starts
the next control step while the std is reset.
"""

from __future__ import annotations

import dataclasses
import functools
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

__all__ = ["CEMConfig", "CEMPlanner", "cem_optimize", "cem_search", "colored_noise"]


def colored_noise(shape: tuple[int, ...], beta: float, generator: torch.Generator | None = None,
                  device: Any = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard-normal noise [..., H, A] whose power falls as 1 / f**beta along H (beta = 0: white).

    Correlated in time, as iCEM (Pinneri et al. 2020) samples action sequences: a plan of
    low-frequency noise moves a body where white noise held for a few steps only jitters it.
    """
    *lead, h, a = shape
    if beta == 0 or h < 2:
        return torch.randn(*shape, generator=generator, device=device, dtype=dtype)
    filt = _colored_filter(h, float(beta)).to(device=device, dtype=dtype)
    white = torch.randn(*lead, h, a, generator=generator, device=device, dtype=dtype)
    return torch.einsum("ij,...ja->...ia", filt, white)


@functools.lru_cache(maxsize=32)
def _colored_filter(h: int, beta: float) -> torch.Tensor:
    """The [H, H] float64 filter that colors white noise along H (column j: the response to a unit impulse at
    step j), its rows rescaled so that every step of the result has unit variance; cached, as a planner asks
    for the same one at every iteration of every control step."""
    freqs = torch.fft.rfftfreq(h, dtype=torch.float64)
    scale = freqs.clamp(min=1.0 / h) ** (-beta / 2)  # the zero frequency weighted like the lowest one
    filt = torch.fft.irfft(torch.fft.rfft(torch.eye(h, dtype=torch.float64), dim=0) * scale[:, None], n=h, dim=0)
    return filt / filt.norm(dim=1, keepdim=True)


def kept_count(keep_elites: float, elites: int) -> int:
    """How many elites a `keep_elites` fraction keeps: at least one when the fraction is > 0, none at 0."""
    return max(1, int(keep_elites * elites)) if keep_elites > 0 else 0


@torch.no_grad()
def cem_search(objective: Objective, bounds: Bounds, mean: torch.Tensor, std: torch.Tensor, *,
               population: int = 500, elites: int = 50, iterations: int = 5, momentum: float = 0.1,
               min_std: float = 0.05, keep_elites: float = 0.0, noise_beta: float = 0.0,
               carry: torch.Tensor | None = None, generator: torch.Generator | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """`cem_optimize` that also returns the last elite set [E, H, A] and takes `carry` [K, H, A],
    plans put into the first iteration's population (e.g. the last control step's elites, shifted).

    `keep_elites` in [0, 1]: that fraction of each iteration's elites joins the next iteration's
    population (iCEM's memory); `noise_beta` > 0 samples colored noise along the horizon.
    """
    if not 1 <= elites <= population:
        raise InputError(f"need 1 <= elites <= population, got elites={elites}, population={population}")
    if mean.shape != std.shape or mean.dim() != 2 or mean.shape[-1] != bounds.dim:
        raise InputError(f"mean and std must both be [H, A={bounds.dim}], got {tuple(mean.shape)} "
                         f"and {tuple(std.shape)}")
    if carry is not None and (carry.dim() != 3 or carry.shape[1:] != mean.shape):
        raise InputError(f"carry must be [K, H, A] with [H, A] = {tuple(mean.shape)}, got {tuple(carry.shape)}")
    best_plan, best_ret = mean.clone(), torch.tensor(-float("inf"), device=mean.device)
    floor = min_std * bounds.half_range
    elite = mean.unsqueeze(0)
    n_keep = kept_count(keep_elites, elites)
    for i in range(iterations):
        eps = colored_noise((population, *mean.shape), noise_beta, generator, mean.device, mean.dtype)
        plans = bounds.clip(mean + std * eps)
        plans[0] = bounds.clip(mean)  # always re-evaluate the current mean
        kept = carry if i == 0 else (elite[:n_keep] if n_keep else None)
        if kept is not None and len(kept):
            k = min(len(kept), population - 1)
            plans[population - k:] = bounds.clip(kept[:k])
        returns = objective(plans)
        usable = int(torch.isfinite(returns).sum())  # non-finite returns are -inf (finite_or_worst)
        if usable == 0:
            continue  # every rollout diverged: keep the distribution, sample again
        top = torch.topk(returns, min(elites, usable)).indices
        elite = plans[top]
        if returns[top[0]] > best_ret:
            best_ret, best_plan = returns[top[0]].clone(), elite[0].clone()
        mean = momentum * mean + (1 - momentum) * elite.mean(0)
        std = torch.maximum(momentum * std + (1 - momentum) * elite.std(0, unbiased=False), floor)
    return mean, std, best_plan, best_ret, elite


def cem_optimize(objective: Objective, bounds: Bounds, mean: torch.Tensor, std: torch.Tensor, *,
                 population: int = 500, elites: int = 50, iterations: int = 5, momentum: float = 0.1,
                 min_std: float = 0.05, generator: torch.Generator | None = None,
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Runs CEM on `objective` (planners.base.make_objective) from mean/std [H, A]:
    returns (mean, std, best plan [H, A], best return []).

    Each iteration samples `population` plans from N(mean, std) clipped into the box,
    evaluates them in one batch, and moves mean/std towards the elites' statistics with
    weight (1 - momentum). `min_std` (as a fraction of the half range) keeps exploring.
    """
    return cem_search(objective, bounds, mean, std, population=population, elites=elites, iterations=iterations,
                      momentum=momentum, min_std=min_std, generator=generator)[:4]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CEMConfig:
    """CEM's settings. Budget per control step: population x iterations plans of horizon x
    action_repeat model steps; `select` = "mean" (apply the final mean) or "best" (best sample);
    `terminal_weight` > 0 adds a cost-to-go (planners.base.predicted_return)."""

    horizon: int = 20
    population: int = 500
    elites: int = 50
    iterations: int = 5
    init_std: float = 1.0  # initial std, in half-ranges of the box
    min_std: float = 0.05  # std floor, in half-ranges
    momentum: float = 0.1  # weight of the old mean / std in each refit
    select: str = "mean"
    action_repeat: int = 1
    discount: float = 1.0
    seed: int = 0
    terminal_weight: float = 0.0
    # iCEM (Pinneri et al. 2020): this fraction of the elites joins the next iteration's population,
    # and the last elites, shifted by one decision, the next control step's first population
    keep_elites: float = 0.0
    noise_beta: float = 0.0  # colored sampling noise along the horizon, power ~ 1 / f**beta (0: white)

    def __post_init__(self) -> None:
        check_at_least_one(horizon=self.horizon, iterations=self.iterations, action_repeat=self.action_repeat,
                           population=self.population, elites=self.elites)
        if self.elites > self.population:
            raise InputError(f"need 1 <= elites <= population, got elites={self.elites}, "
                             f"population={self.population}")
        check_non_negative(init_std=self.init_std, min_std=self.min_std, momentum=self.momentum,
                           terminal_weight=self.terminal_weight, noise_beta=self.noise_beta)
        if not 0 <= self.keep_elites <= 1:
            raise InputError(f"keep_elites must be a fraction in [0, 1], got {self.keep_elites!r}")
        check_choice("select", self.select, ("mean", "best"))
        check_discount(self.discount)


class CEMPlanner(ConfiguredPlanner):
    """Receding-horizon CEM: `CEMPlanner(low, high, CEMConfig(...))` or keyword overrides of the defaults."""

    config_class = CEMConfig

    def reset(self) -> None:
        """Forgets the warm-start mean and reseeds the sampler."""
        super().reset()
        self.mean_: torch.Tensor | None = None  # [H, A]
        self.elites_: torch.Tensor | None = None  # [E, H, A], the last control step's elites (keep_elites > 0)

    def plan(self, model: DynamicsModel, reward_fn: RewardFn, state: State,
             params: Any = None) -> torch.Tensor:
        """The first action [A] of the CEM plan from a single state."""
        b, c = self.bounds, self.config
        if self.mean_ is None:
            mean = b.center.expand(c.horizon, b.dim).clone()
        else:
            mean = shift_plan(self.mean_, 1, fill=b.center)
        std = (c.init_std * b.half_range).expand(c.horizon, b.dim).clone()
        objective = make_objective(model, reward_fn, state, params=params, discount=c.discount,
                                   action_repeat=c.action_repeat, terminal_weight=c.terminal_weight)
        carry = None
        if c.keep_elites > 0 and self.elites_ is not None:
            carry = shift_plan(self.elites_[:kept_count(c.keep_elites, c.elites)], 1, fill=b.center)
        mean, _, best, ret, elites = cem_search(
            objective, b, mean, std, population=c.population, elites=c.elites, iterations=c.iterations,
            momentum=c.momentum, min_std=c.min_std, keep_elites=c.keep_elites, noise_beta=c.noise_beta,
            carry=carry, generator=self._gen)
        self.mean_ = mean
        self.elites_ = elites
        self.plan_ = b.clip(mean) if c.select == "mean" else best
        self.last_return = float(ret)
        return self.plan_[0].clone()
