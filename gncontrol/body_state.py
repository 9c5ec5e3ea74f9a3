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

__all__ = ["STATE_SIZE", "QUANTITIES", "POSITION_MODES", "ANCHOR_EDGE_COLUMNS", "anchored_graphs", "apply_delta",
           "input_positions", "relative_positions", "check_state"]


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


POSITION_MODES = ("relative", "absolute", "legacy", "per-system")
# Static edge columns that, all set on an edge from the world node, make a graph's dynamics depend on
# where it is: a limited slide joint hanging a body from the world (cartpole's rail stops). They are
# "type_slide" and "limited" of envs.mujoco_graph.STATIC_EDGE_FEATURES (tests/test_translation_invariance
# checks the indices).
ANCHOR_EDGE_COLUMNS = (2, 11)


def _world_nodes(node_graph: torch.Tensor) -> torch.Tensor:
    """[N] bool: the first node of each graph (the world body, by the MuJoCo graph convention)."""
    first = torch.ones_like(node_graph, dtype=torch.bool)
    first[1:] = node_graph[1:] != node_graph[:-1]
    return first


def relative_positions(nodes: torch.Tensor, node_graph: torch.Tensor, num_graphs: int,
                       mode: str = "relative") -> torch.Tensor:
    """Body states [N, 13] with x, y made translation invariant (mode "relative").

    Why: a cheetah or swimmer far from the origin moves like one near it, so the model should
    not see where it is; z stays absolute (gravity and the floor).

    Node 0 of every graph is the world body (the MuJoCo graph convention). "relative": x, y of
    every other body minus the mean x, y of the graph's non-world bodies, and the world node's
    x, y set to 0: shifting the whole system by any d leaves the input unchanged. Use
    "absolute" for systems whose dynamics depend on where they are (walls, rails with limits:
    cartpole's slider stops at +-1.8 m). "legacy" is the centring of checkpoints written
    before 2026-12 (mean over all nodes, the world included: NOT invariant), kept so those
    models predict as they were trained.
    """
    if mode not in POSITION_MODES or mode == "per-system":
        raise InputError(f"position mode must be one of {POSITION_MODES[:3]} here (per-system: input_positions), "
                         f"got {mode!r}")
    if mode == "absolute":
        return nodes[:, :STATE_SIZE]
    xy = nodes[:, :2]
    if mode == "legacy":
        weight = xy.new_ones(xy.shape[0])
    else:
        weight = (~_world_nodes(node_graph)).to(xy.dtype)
    total = xy.new_zeros(num_graphs, 2).index_add_(0, node_graph, xy * weight[:, None])
    count = xy.new_zeros(num_graphs).index_add_(0, node_graph, weight)
    centre = (total / count.clamp(min=1).unsqueeze(-1)).index_select(0, node_graph)
    rel = xy - centre
    if mode == "relative":
        rel = rel * weight[:, None]  # the world node: x, y = 0
    return torch.cat([rel, nodes[:, 2:STATE_SIZE]], dim=-1)


def anchored_graphs(static) -> torch.Tensor:
    """[B] bool: which of the static Graph's B graphs have an edge from their world node (node 0) with every
    ANCHOR_EDGE_COLUMNS flag set, i.e. dynamics that depend on absolute x, y (see position_mode in
    envs.mujoco_graph, the same rule for one system)."""
    ng = static.node_graph_index()
    flag = _world_nodes(ng)[static.senders]
    for c in ANCHOR_EDGE_COLUMNS:
        flag = flag & (static.edges[:, c] > 0.5)
    hits = torch.zeros(static.num_graphs, dtype=torch.long, device=ng.device)
    return hits.index_add_(0, ng[static.senders], flag.long()) > 0


def input_positions(nodes: torch.Tensor, static, mode: str) -> torch.Tensor:
    """Body states [N, 13] of the graphs of `static` (a static Graph with the same nodes) as a model's input:
    `relative_positions` in `mode`, or, for "per-system", absolute x, y in the graphs `anchored_graphs`
    marks and relative ones elsewhere (one model for systems of both kinds, e.g. cartpole with cheetah)."""
    ng, b = static.node_graph_index(), static.num_graphs
    if mode != "per-system":
        return relative_positions(nodes, ng, b, mode)
    absolute = anchored_graphs(static).index_select(0, ng)[:, None]
    return torch.where(absolute, nodes[:, :STATE_SIZE], relative_positions(nodes, ng, b, "relative"))
