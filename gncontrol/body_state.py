"""The per-body state layout of dynamic graphs and the arithmetic on it.

Each body (node) carries 13 numbers: position (3), quaternion w,x,y,z (4), linear velocity
(3), angular velocity (3). Models predict differences of these; `apply_delta` adds them back
and renormalises the quaternion so rollouts stay on the unit sphere.
"""

from __future__ import annotations

import torch

from gncontrol.errors import InputError

STATE_SIZE = 13
POSITION = slice(0, 3)
QUATERNION = slice(3, 7)
LINEAR_VELOCITY = slice(7, 10)
ANGULAR_VELOCITY = slice(10, 13)
QUANTITIES = {
    "position": POSITION,
    "orientation": QUATERNION,
    "linear_velocity": LINEAR_VELOCITY,
    "angular_velocity": ANGULAR_VELOCITY,
}

__all__ = ["STATE_SIZE", "QUANTITIES", "apply_delta", "relative_positions", "check_state"]


def check_state(nodes: torch.Tensor) -> None:
    """One-line ValueError unless nodes is [N, 13]."""
    if nodes.dim() != 2 or nodes.shape[-1] < STATE_SIZE:
        raise InputError(f"body states must be [N, {STATE_SIZE}] (pos, quat, linvel, angvel), "
                         f"got shape {tuple(nodes.shape)}")


def apply_delta(nodes: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """nodes [N, 13] + delta [N, 13], quaternion renormalised (differentiable)."""
    out = nodes[:, :STATE_SIZE] + delta
    q = out[:, QUATERNION]
    q = q / q.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    return torch.cat([out[:, POSITION], q, out[:, 7:]], dim=-1)


def relative_positions(nodes: torch.Tensor, node_graph: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Body states [N, 13] with x, y made relative to their graph's mean body x, y.

    Why: translation invariance in the horizontal plane (a cheetah or swimmer far from the
    origin moves like one near it) while z stays absolute (gravity and the floor).
    """
    xy = nodes[:, :2]
    total = xy.new_zeros(num_graphs, 2).index_add_(0, node_graph, xy)
    count = xy.new_zeros(num_graphs).index_add_(0, node_graph, xy.new_ones(xy.shape[0]))
    centre = (total / count.clamp(min=1).unsqueeze(-1)).index_select(0, node_graph)
    return torch.cat([xy - centre, nodes[:, 2:STATE_SIZE]], dim=-1)
