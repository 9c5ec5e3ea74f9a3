"""Per-system loss weights for a forward model trained on several systems at once.

A mixed batch (gncontrol.forward.transitions.sample_batch: the same number of graphs from each
system) is normalised with statistics pooled over all systems, so in the loss a pendulum (2 nodes,
small deltas) weighs a fraction of a walker (8 nodes, large deltas): the multi-system GN was 2-40x
worse than each single-system GN on the small systems (benchmarks/RESULTS.md). With balancing, each
system's squared errors are divided by the variance of ITS normalised deltas (per feature, floored
at 1% of that system's mean variance, so a feature that hardly moves is not blown up) and by its
share of the batch's nodes: every system then contributes as its own single-system model's loss
would, with the same pooled normalisers at inference (nothing changes outside training).

    weights = system_weights(model, train_sets, batch_size)   # [N_rows, 13], the batch's row layout
    loss = model.loss(b.state, b.action, b.next_nodes, b.system, noise, weights)
"""

from __future__ import annotations

import torch

from gncontrol.body_state import STATE_SIZE
from gncontrol.errors import InputError
from gncontrol.forward.transitions import SystemTrajectories, sample_batch

__all__ = ["system_weights", "FLOOR"]

FLOOR = 0.01  # a feature's variance counts as at least this fraction of its system's mean variance


@torch.no_grad()
def system_weights(model: torch.nn.Module, systems: list[SystemTrajectories], batch_size: int, *,
                   samples: int = 1024, seed: int = 0) -> torch.Tensor:
    """[N_rows, 13] weights of a `sample_batch(systems, batch_size)` batch's nodes (mean 1) for `model.loss`.

    Measured on `samples` random transitions per system, in the model's fitted delta normalisation.
    """
    if batch_size < len(systems):
        raise InputError(f"batch_size {batch_size} must hold at least one graph of each of {len(systems)} systems")
    gen = torch.Generator().manual_seed(seed)
    per = [batch_size // len(systems) + (k < batch_size % len(systems)) for k in range(len(systems))]
    rows = [b * s.num_nodes for s, b in zip(systems, per)]
    total = sum(rows)
    parts = []
    for sys_, r in zip(systems, rows):
        b = sample_batch([sys_], samples, gen)
        delta = model.norm_delta(b.next_nodes[:, :STATE_SIZE] - b.state.nodes[:, :STATE_SIZE])
        var = delta.var(0)
        var = torch.maximum(var, FLOOR * var.mean().clamp(min=1e-12))
        share = total / (len(systems) * r)  # the system's nodes count as 1 / len(systems) of the batch
        parts.append((share / var).expand(r, STATE_SIZE))
    weights = torch.cat(parts)
    return weights / weights.mean()
