"""Random shooting: evaluate N uniform random action sequences in one batch, keep the best.

The simplest sampling planner and the baseline the others are measured against at an
equal number of model calls.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from gncontrol.dynamics import DynamicsModel, State
from gncontrol.errors import InputError
from planners.base import Bounds, Objective, RewardFn, make_objective
from planners.config import ConfiguredPlanner, check_at_least_one, check_discount

__all__ = ["RandomShootingConfig", "RandomShootingPlanner", "random_shooting_optimize"]


@torch.no_grad()
def random_shooting_optimize(objective: Objective, bounds: Bounds, *, samples: int, horizon: int,
                             generator: torch.Generator | None = None,
                             discrete_actions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Best of `samples` uniform plans on `objective`: (plan [H, A], its predicted return []).

    Actions are uniform in the box, or uniform over the rows of `discrete_actions [K, A]`.
    """
    if samples < 1 or horizon < 1:
        raise InputError("samples and horizon must be >= 1")
    if discrete_actions is None:
        plans = bounds.uniform((samples, horizon), generator=generator)
    else:
        idx = torch.randint(0, discrete_actions.shape[0], (samples, horizon), generator=generator,
                            device=discrete_actions.device)
        plans = discrete_actions[idx]
    returns = objective(plans)
    best = int(torch.argmax(returns))
    return plans[best], returns[best]


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomShootingConfig:
    """Random shooting's settings. Budget per control step: samples plans of horizon x
    action_repeat model steps."""

    horizon: int = 20
    samples: int = 1000
    action_repeat: int = 1
    discount: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_at_least_one(horizon=self.horizon, samples=self.samples, action_repeat=self.action_repeat)
        check_discount(self.discount)


class RandomShootingPlanner(ConfiguredPlanner):
    """Receding-horizon random shooting: N uniform plans of H decisions per control step
    (continuous in the box, or over a discrete action set `discrete_actions` [K, A])."""

    config_class = RandomShootingConfig

    def __init__(self, action_low: Any, action_high: Any, config: RandomShootingConfig | None = None, *,
                 discrete_actions: Any = None, device: torch.device | str | None = None, **overrides: Any):
        super().__init__(action_low, action_high, config, device=device, **overrides)
        self.discrete_actions = self.bounds.discrete(discrete_actions)

    def plan(self, model: DynamicsModel, reward_fn: RewardFn, state: State,
             params: Any = None) -> torch.Tensor:
        """The first action [A] of the best random plan from a single state."""
        c = self.config
        objective = make_objective(model, reward_fn, state, params=params, discount=c.discount,
                                   action_repeat=c.action_repeat)
        plan, ret = random_shooting_optimize(objective, self.bounds, samples=c.samples, horizon=c.horizon,
                                             generator=self._gen, discrete_actions=self.discrete_actions)
        self.plan_, self.last_return = plan, float(ret)
        return plan[0].clone()
