"""The one dynamics-model interface shared by every model, learned or true.

A state is either a `Graph` (per-body dynamic graph of a MuJoCo system; B graphs) or a
tensor [B, D] (particle / phase-space models). Actions are [B, A]. `params` are optional
inferred (or true) system parameters: a static `Graph` for GN models, edge-type
probabilities for NRI, None where a model has none.

Planners and agents see only this interface plus a task's reward, so the true simulator
implements it too (non-differentiably): "planner on the true model" is the honest upper
bound for "planner on a learned model".
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph

State = Graph | torch.Tensor

__all__ = ["DynamicsModel", "State", "rollout"]


@runtime_checkable
class DynamicsModel(Protocol):
    """Anything with `step(state, action, params) -> next state` (batched)."""

    differentiable: bool

    def step(self, state: State, action: torch.Tensor, params: Any = None) -> State:
        """Next state for each of the B states, given actions [B, A]."""
        ...


def rollout(model: DynamicsModel, state: State, actions: torch.Tensor,
            params: Any = None) -> list[State]:
    """States after each of the T actions [B, T, A]: a list of T states (initial excluded).

    Why a free function: every model gets the same open-loop rollout (the predicted
    state is fed back), and a model with a faster fused rollout can still define its own
    `rollout` method, which this function prefers.
    """
    if hasattr(model, "rollout"):
        return model.rollout(state, actions, params)
    if actions.dim() != 3:
        raise InputError(f"actions must be [B, T, A], got shape {tuple(actions.shape)}")
    states = []
    for t in range(actions.shape[1]):
        state = model.step(state, actions[:, t], params)
        states.append(state)
    return states

