"""Gradient shooting's optimiser state and iteration: Adam ascent on R plans, with nothing read back to the host.

`PlanAscent` holds the optimised variable (the plans, unsquashed when squash is "tanh"), Adam, each restart's last
plan with a finite objective and the per-iteration history as tensors. `step()` is pure tensor work on them: no
`.item()`, no boolean indexing, no host-to-device copy, so the same code runs eagerly (planners.gradient's
`gradient_shooting`) or recorded once in a CUDA graph and replayed (planners.graph_capture), and a GPU never
waits for the host between iterations. `start(init)` resets everything in place for a new plan; `result()`
reads the outcome once.

Shapes: plans [R, H, A]; with a robust objective, noise [M, H, A] (copy 0 zero) and R * M rollouts per call.
"""

from __future__ import annotations

import torch

from gncontrol.errors import InputError
from planners.base import Bounds, Objective

__all__ = ["PlanAscent", "draw_action_noise", "action_rate_penalty"]


def action_rate_penalty(plans: torch.Tensor, bounds: Bounds) -> torch.Tensor:
    """[R] sum over decisions of the squared change between consecutive actions of plans [R, H, A],
    in half-ranges of the action box (0 for a constant plan, at most 4 (H-1) A)."""
    step = (plans[:, 1:] - plans[:, :-1]) / bounds.half_range
    return step.pow(2).sum(dim=(1, 2))


def draw_action_noise(bounds: Bounds, action_noise: float, noise_samples: int, shape: tuple[int, int],
                      generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
                      ) -> torch.Tensor | None:
    """[M, H, A] Gaussian action noise of std `action_noise` half-ranges with copy 0 zero (the robust objective's
    common random numbers), or None when there is no noise (M = 1): then nothing is drawn."""
    if action_noise <= 0 or noise_samples <= 1:
        return None
    noise = action_noise * bounds.half_range * torch.randn(noise_samples, *shape, bounds.dim, generator=generator,
                                                           device=device, dtype=dtype)
    noise[0] = 0.0
    return noise


class PlanAscent:
    """Adam ascent on R plans of `objective` (plans [P, H, A] -> returns [P]) with host-free iterations.

    The ascended value is the objective's return (the mean over the M noisy copies when `noise` [M, H, A] is
    given) minus `smoothness` x action_rate_penalty. A restart whose objective is non-finite gets a zero gradient
    and keeps its last finite plan in `good`. `capturable` makes Adam's step counter a device tensor (CUDA only),
    as a CUDA graph needs.
    """

    def __init__(self, objective: Objective, bounds: Bounds, shape: tuple[int, int, int], *, lr: float,
                 squash: str, smoothness: float, noise: torch.Tensor | None, iterations: int,
                 device: torch.device, dtype: torch.dtype, capturable: bool = False):
        self.objective, self.bounds, self.squash, self.smoothness = objective, bounds, squash, smoothness
        self.noise = noise
        self.restarts, self.copies = shape[0], (1 if noise is None else noise.shape[0])
        self.var = torch.zeros(shape, device=device, dtype=dtype, requires_grad=True)
        self.opt = torch.optim.Adam([self.var], lr=lr, capturable=capturable)
        self.good = torch.zeros(shape, device=device, dtype=dtype)
        self.history = torch.zeros(max(iterations, 1), device=device, dtype=dtype)
        self.count = torch.zeros(1, device=device, dtype=torch.long)  # iterations done since `start`

    def actions(self) -> torch.Tensor:
        """[R, H, A] the current plans, inside the box."""
        return self.bounds.squash(self.var) if self.squash == "tanh" else self.var

    def ascended(self, plans: torch.Tensor) -> torch.Tensor:
        """[R] the value ascended for plans [R, H, A] (module doc)."""
        r, m, noise = self.restarts, self.copies, self.noise
        copies = self.bounds.clip(plans[:, None] + noise).flatten(0, 1) if noise is not None else plans
        ret = self.objective(copies).reshape(r, m).mean(1)
        if torch.is_grad_enabled() and not ret.requires_grad:
            raise InputError("the predicted return does not depend differentiably on the actions (a "
                             "sparse or thresholded reward?): use a smooth reward or a sampling planner")
        return ret - self.smoothness * action_rate_penalty(plans, self.bounds) if self.smoothness else ret

    def start(self, init: torch.Tensor) -> None:
        """Resets the ascent in place to start from plans init [R, H, A] (already in the box): the variable,
        Adam's moments and step count, the finite-plan memory and the history."""
        with torch.no_grad():
            self.var.copy_(self.bounds.unsquash(init) if self.squash == "tanh" else init)
            self.good.copy_(init)
            self.history.zero_()
            self.count.zero_()
            for state in self.opt.state.values():
                for value in state.values():
                    if isinstance(value, torch.Tensor):
                        value.zero_()

    def step(self) -> None:
        """One Adam step on every restart (forward, backward, update), reading nothing back to the host."""
        with torch.enable_grad():
            plans = self.actions()
            ret = self.ascended(plans)
        finite = torch.isfinite(ret)
        with torch.no_grad():
            self.good.copy_(torch.where(finite[:, None, None], plans.detach(), self.good))
            n = finite.sum()
            mean = torch.where(finite, ret.detach(), 0.0).sum() / n.clamp(min=1)
            mean = torch.where(n > 0, mean, -float("inf"))
            self.history.index_copy_(0, self.count.clamp(max=self.history.shape[0] - 1), mean.reshape(1))
            self.count += 1
        self.var.grad = None
        # restarts are independent: summing keeps per-plan gradients; a diverged restart contributes nothing
        (-torch.where(finite, ret, 0.0).sum()).backward()
        if self.var.grad is not None:  # a diverged restart's gradient is NaN: leave that plan where it is
            self.var.grad.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        self.opt.step()
        if self.squash == "clip":
            with torch.no_grad():
                self.var.copy_(self.bounds.clip(self.var))

    def result(self, iterations: int) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
        """(plans [R, H, A], their values [R], history: the mean finite value before each of the `iterations`
        steps). A restart whose final plan diverges falls back to its last finite plan."""
        with torch.no_grad():
            final = self.actions().detach().clone()
            ret = self.ascended(final)
            diverged = ~torch.isfinite(ret)
            if bool(diverged.any()):
                final[diverged] = self.good[diverged]
                ret = self.ascended(final)
        return final, ret, self.history[:iterations].tolist()
