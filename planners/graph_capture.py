"""Gradient MPC's iteration recorded once as a CUDA graph and replayed at every control step.

On a GPU a gradient-MPC iteration at a planner's batch is hundreds of small kernels whose launches, and the
host syncs between iterations, cost more than their arithmetic. `CapturedShooting` records ONE iteration
(objective forward, backward, Adam step: planners.plan_ascent) in a `torch.cuda.CUDAGraph` and replays it
`iterations` times per plan, as TD-MPC2 does for its planner (compile mode "reduce-overhead", a capturable Adam).
A graph reads fixed memory, so the start state, the parameters and the initial plans are copied into static
tensors before each plan, and the graph is recorded again only when something it baked in changes (the model's
weights, the state's or plans' shapes, the settings).

Off a GPU the same static-state, host-free iteration runs eagerly: the CPU reference that tests compare with the
ordinary path (the same plans), and that `benchmarks/plan_speed.py` measures against it on any device.
"""

from __future__ import annotations

from typing import Any

import torch

from gncontrol.dynamics import DynamicsModel, State
from gncontrol.gn.graphs import Graph
from planners.base import Bounds, RewardFn, make_objective, replicate
from planners.plan_ascent import PlanAscent

__all__ = ["CapturedShooting", "capture_key", "WARMUP_STEPS"]

WARMUP_STEPS = 3  # eager iterations on a side stream before recording (allocator, cuBLAS and Adam state settle)


def _static_copy(x: Any, copies: int) -> Any:
    """`copies` copies of a single state or parameter tensor in fresh memory a graph can read (None / other: as is):
    planners.base.replicate, whose tensor copies (expanded views) are made real."""
    x = replicate(x, copies)
    return x.clone() if isinstance(x, torch.Tensor) else x


def _refill(static: Any, x: Any) -> None:
    """Copies a new single state or parameter tensor into its static copies (made by `_static_copy`)."""
    if isinstance(static, Graph):
        for name in ("nodes", "edges", "globals"):
            dst, src = getattr(static, name), getattr(x, name)
            if dst.numel():
                dst.view(-1, *src.shape).copy_(src.unsqueeze(0).expand(dst.shape[0] // src.shape[0], *src.shape))
    elif isinstance(static, torch.Tensor):
        row = x.reshape(1, -1) if x.dim() == 1 else x
        static.copy_(row.expand_as(static))


def _layout(x: Any) -> Any:
    """What a graph bakes in about a state or parameter: shapes, dtype and device of tensors, identity of others."""
    if isinstance(x, Graph):
        return tuple((tuple(t.shape), t.dtype, str(t.device)) for t in (x.nodes, x.edges, x.globals, x.senders))
    if isinstance(x, torch.Tensor):
        return tuple(x.shape), x.dtype, str(x.device)
    return id(x)


def capture_key(model: DynamicsModel, reward_fn: RewardFn, state: State, params: Any, settings: tuple) -> tuple:
    """Everything a recorded iteration depends on besides the data copied in: the model and its weights'
    versions (an optimiser step or load_state_dict bumps them), the reward, the state's and params' layouts and
    the planner's settings. A new key means recording again."""
    weights = tuple(p._version for p in model.parameters()) if isinstance(model, torch.nn.Module) else ()
    # the reward by equality: `task.reward` is a new bound method object at every access, equal to the last
    return id(model), weights, reward_fn, _layout(state), _layout(params), settings


class CapturedShooting:
    """R plans of gradient shooting from a start state, the iteration replayed from a CUDA graph (module doc).

    shape (R, H, A); settings as `planners.gradient.gradient_shooting`'s keywords; `noise` [M, H, A] or None (the
    robust objective's copies, refilled per plan). On a CUDA device the first `run` warms up, records one
    iteration and replays it; elsewhere every iteration runs eagerly on the same static tensors.
    """

    def __init__(self, model: DynamicsModel, reward_fn: RewardFn, state: State, params: Any, bounds: Bounds,
                 shape: tuple[int, int, int], *, iterations: int, lr: float, squash: str, smoothness: float,
                 noise: torch.Tensor | None, discount: float, action_repeat: int, terminal_weight: float,
                 key: tuple = ()):
        self.key, self.iterations = key, iterations
        self._held = (model, reward_fn, params)  # alive while keyed by id (capture_key): no id is reused meanwhile
        copies = shape[0] * (1 if noise is None else noise.shape[0])
        self.state, self.params = _static_copy(state, copies), _static_copy(params, copies)
        self.noise = None if noise is None else noise.clone()
        objective = make_objective(model, reward_fn, self.state, params=self.params, discount=discount,
                                   action_repeat=action_repeat, terminal_weight=terminal_weight, host_checks=False)
        device, dtype = bounds.low.device, bounds.low.dtype
        self.on_gpu = device.type == "cuda" and torch.cuda.is_available()
        self.ascent = PlanAscent(objective, bounds, shape, lr=lr, squash=squash, smoothness=smoothness,
                                 noise=self.noise, iterations=iterations, device=device, dtype=dtype,
                                 capturable=self.on_gpu)
        self.graph: Any = None
        self.replays = 0  # iterations replayed from the graph so far (0 off a GPU)

    def run(self, state: State, params: Any, init: torch.Tensor, noise: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
        """(plans [R, H, A], values [R], history) after `iterations` steps from plans init [R, H, A] (in the box)
        and this start state; `noise` [M, H, A] this plan's noise draw when the objective is robust."""
        _refill(self.state, state)
        _refill(self.params, params)
        if noise is not None:
            self.noise.copy_(noise)
        self.ascent.start(init)
        if self.iterations == 0:
            return self.ascent.result(0)
        if not self.on_gpu:
            for _ in range(self.iterations):
                self.ascent.step()
            return self.ascent.result(self.iterations)
        if self.graph is None:
            self._record()
            self.ascent.start(init)
        for _ in range(self.iterations):
            self.graph.replay()
        self.replays += self.iterations
        return self.ascent.result(self.iterations)

    def _record(self) -> None:
        """Warm-up iterations on a side stream, then one iteration recorded as the graph (nothing runs while
        recording: the caller starts the ascent again before replaying)."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                self.ascent.step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.ascent.step()
        self.graph = graph
