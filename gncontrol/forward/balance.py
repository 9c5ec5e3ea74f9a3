"""Per-system loss weights for a forward model trained on several systems at once.

A mixed batch (gncontrol.forward.transitions.sample_batch: the same number of graphs from each
system) is normalised with statistics pooled over all systems, so in the loss a pendulum (2 nodes,
small deltas) weighs a fraction of a walker (8 nodes, large deltas): the multi-system GN was 2-40x
worse than each single-system GN on the small systems (benchmarks/RESULTS.md). With balancing, each
system's squared errors are divided by the mean variance of ITS normalised deltas (one number per
system, over the features that vary) and by its share of the batch's nodes, so every system's
constant-prediction loss is the same, with the same pooled normalisers at inference (nothing changes
outside training). One number per system, not per feature: per-feature weights (tried first) put
100x the weight on the features a system never moves (a planar body's y, its quaternion), whose
variance is near zero, and trained those instead.

    weights = system_weights(model, train_sets, batch_size)   # [N_rows, 13], the batch's row layout
    loss = model.loss(b.state, b.action, b.next_nodes, b.system, noise, weights)
"""

from __future__ import annotations

import torch

from gncontrol.body_state import STATE_SIZE
from gncontrol.errors import InputError
from gncontrol.forward.transitions import SystemTrajectories, sample_batch

__all__ = ["system_weights"]


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
    moving = model.norm_delta.varies > 0
    parts = []
    for sys_, r in zip(systems, rows):
        b = sample_batch([sys_], samples, gen)
        delta = model.norm_delta(b.next_nodes[:, :STATE_SIZE] - b.state.nodes[:, :STATE_SIZE])
        var = float(delta.var(0)[moving].mean().clamp(min=1e-12)) if bool(moving.any()) else 1.0
        share = total / (len(systems) * r)  # the system's nodes count as 1 / len(systems) of the batch
        parts.append(torch.full((r, STATE_SIZE), share / var))
    weights = torch.cat(parts)
    return weights / weights.mean()
