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

from gncontrol.body_state import QUATERNION, STATE_SIZE
from gncontrol.dynamics import DynamicsModel, State
from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph

__all__ = ["EnsembleModel", "ROLLOUTS", "mean_body_states"]

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
        steps = {int(getattr(m, "control_steps", 1)) for m in members}
        if len(steps) > 1:
            raise InputError(f"ensemble members step different numbers of control steps at once: {sorted(steps)}")
        self.control_steps = steps.pop()

    def step(self, state: State, action: torch.Tensor, params: Any = None) -> State:
        """Mean of the members' next states for B states and actions [B, A]."""
        nexts = [m.step(state, action, params) for m in self.members]
        if isinstance(nexts[0], Graph):
            mean = {f: torch.stack([getattr(g, f) for g in nexts]).mean(0) for f in ("edges", "globals")}
            return nexts[0].replace(nodes=mean_body_states(torch.stack([g.nodes for g in nexts])), **mean)
        return torch.stack(nexts).mean(0)


def mean_body_states(nodes: torch.Tensor) -> torch.Tensor:
    """The mean over E members of node features [E, N, F]; body quaternions kept unit length.

    A mean of unit quaternions is not a unit quaternion (and q and -q are the same rotation):
    each member's quaternion is first flipped to agree in sign with member 0's, then the mean
    is renormalised. Features past the 13 body numbers (recurrent state) are plainly averaged.
    """
    if nodes.shape[-1] < STATE_SIZE:
        return nodes.mean(0)
    q = nodes[..., QUATERNION]
    sign = torch.where((q * q[:1]).sum(-1, keepdim=True) < 0, -1.0, 1.0).to(q.dtype)
    mean_q = (q * sign).mean(0)
    mean_q = mean_q / mean_q.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    mean = nodes.mean(0)
    return torch.cat([mean[..., :QUATERNION.start], mean_q, mean[..., QUATERNION.stop:]], dim=-1)
