"""An ensemble of dynamics models behind the one dynamics-model interface.

Why: a planner that ascends the predicted return of ONE learned model finds plans that exploit
that model's errors (benchmarks/planner_model_gap.py). Members trained on the same data from
different seeds err in different places, so averaging the return over members (as PETS does)
discounts plans that only one member believes in.

Two views of the same members:
    step      the mean of the members' next states (one averaged model, for consumers that
              step a model: MCTS expansion, model-based agents);
    returns   with rollout="members" (default) `planners.base.predicted_return` sees
              `per_member_returns` and rolls out EVERY member on its own (each feeding back its
              own predictions), then averages the E returns (PETS); with rollout="mean" it rolls
              out `step`, the averaged model, once (errors averaged step by step, the objective as
              sharp as one model's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from gncontrol.dynamics import DynamicsModel, State
from gncontrol.errors import InputError
from gncontrol.graphs import Graph

__all__ = ["EnsembleModel", "ROLLOUTS"]

ROLLOUTS = ("members", "mean")


class EnsembleModel:
    """E dynamics models of the same system, used together (see module doc)."""

    def __init__(self, members: Sequence[DynamicsModel], rollout: str = "members"):
        members = list(members)
        if len(members) < 2:
            raise InputError(f"an ensemble needs at least 2 members, got {len(members)}")
        if rollout not in ROLLOUTS:
            raise InputError(f"ensemble rollout must be one of {ROLLOUTS}, got {rollout!r}")
        self.members = members
        self.per_member_returns = rollout == "members"
        self.differentiable = all(getattr(m, "differentiable", False) for m in members)

    def step(self, state: State, action: torch.Tensor, params: Any = None) -> State:
        """Mean of the members' next states for B states and actions [B, A]."""
        nexts = [m.step(state, action, params) for m in self.members]
        if isinstance(nexts[0], Graph):
            return nexts[0].replace(**{f: torch.stack([getattr(g, f) for g in nexts]).mean(0)
                                       for f in ("nodes", "edges", "globals")})
        return torch.stack(nexts).mean(0)
