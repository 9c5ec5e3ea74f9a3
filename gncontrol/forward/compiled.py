"""Compiled planning rollouts: a forward model's whole rollout as one torch.compile region of static shapes.

A planner rolls out the same shapes at every replanning (B sequences x T model steps of one system), the case
torch.compile serves: the region is traced once per shape and dtype and reused across replannings and
episodes. `compiled(model)` wraps a learned forward model (a GraphForwardModel: its `rollout`, on the
fast path where that applies) so that every planner, through `gncontrol.dynamics.rollout`, gets the
compiled rollout; the eager model stays the reference (tests/test_compiled.py: the same states to float
rounding) and `compiled` is a switch (`gncontrol plan --compile`).

What compiling costs and pays is measured by benchmarks/plan_speed.py (RESULTS.md, speed table): a forward-only
rollout (CEM, MPPI, random shooting) compiles in seconds; a rollout with its backward (gradient MPC) takes
minutes to compile for a short horizon, so a rollout that needs gradients runs eagerly unless the wrapper
was built with `backward=True`.

    model = compiled(load_forward_model("runs/cp/model.pt")[0])      # planners see a model as before
    states = model.rollout(state, actions, params)                  # [B, T, A] -> T states, compiled
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph

__all__ = ["CompiledRollout", "compiled", "RECOMPILE_LIMIT"]

RECOMPILE_LIMIT = 64  # compiled (model, shape) entries kept before torch runs a rollout eagerly


class CompiledRollout(nn.Module):
    """A forward model whose `rollout` runs as one compiled region (the model's own `step` stays eager).

    `backward`: also compile rollouts that need gradients (gradient MPC; minutes of compilation per shape);
    without it they run the eager rollout. `mode`: torch.compile's mode (None, "reduce-overhead", ...).
    """

    def __init__(self, model: nn.Module, *, backward: bool = False, mode: str | None = None):
        super().__init__()
        if getattr(model, "per_member_returns", False) or not callable(getattr(model, "rollout", None)):
            raise InputError(f"compile: {type(model).__name__} is not a single learned forward model with a "
                             "rollout (ensembles and the true simulator run uncompiled)")
        self.model, self.backward = model, backward
        self.control_steps = getattr(model, "control_steps", 1)
        self.differentiable = getattr(model, "differentiable", True)
        # every wrapper compiles the same code object (_states) once per model and shape; dynamo's default limit of
        # 8 entries per code object would silently run the 9th eagerly (a benchmark sweeping models and batches)
        config = torch._dynamo.config
        config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
        self._region = torch.compile(self._states, dynamic=False, mode=mode)

    def _states(self, nodes: torch.Tensor, edges: torch.Tensor, globals_: torch.Tensor, template: Graph,
                actions: torch.Tensor, params: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The compiled region: T steps from (nodes, edges, globals) -> stacked nodes [T, ...], edges, globals."""
        state = template.replace(nodes=nodes, edges=edges, globals=globals_)
        states = self.model.rollout(state, actions, params)
        return (torch.stack([s.nodes for s in states]), torch.stack([s.edges for s in states]),
                torch.stack([s.globals for s in states]))

    def rollout(self, state: Graph, actions: torch.Tensor, params: Any = None) -> list[Graph]:
        """States after each of the T actions [B, T, A] (as the model's `rollout`), compiled unless gradients
        are needed and `backward` is off."""
        if actions.dim() != 3:
            raise InputError(f"actions must be [B, T, A], got shape {tuple(actions.shape)}")
        needs_grad = torch.is_grad_enabled() and (actions.requires_grad or state.nodes.requires_grad or any(
            p.requires_grad for p in self.model.parameters()))
        if needs_grad and not self.backward:
            return self.model.rollout(state, actions, params)
        nodes, edges, globals_ = self._region(state.nodes, state.edges, state.globals, state, actions, params)
        return [state.replace(nodes=n, edges=e, globals=g) for n, e, g in zip(nodes, edges, globals_)]

    def step(self, state: Graph, action: torch.Tensor, params: Any = None) -> Graph:
        """One eager model step (a single step is not worth a compiled region)."""
        return self.model.step(state, action, params)


def compiled(model: nn.Module, *, backward: bool = False, mode: str | None = None) -> CompiledRollout:
    """`model` with its rollouts compiled for planning (see the module doc); the switch is not calling it."""
    return CompiledRollout(model, backward=backward, mode=mode)
