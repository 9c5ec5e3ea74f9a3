"""Fixed-topology fast path: B copies of ONE graph topology as dense tensors (what planners roll out).

A planner rolls out B copies of one system for H steps. The generic `Graph` path treats them
as B unrelated graphs: per-edge gathers and scatters over the flattened batch, the static
graph tiled B times and fed through every MLP again at every step. Here the same model, with
THE SAME nn.Module parameters, runs on dense tensors instead:

    nodes   [B, N, F]   edges [B, E, F]   globals [B, F]
    sender / receiver features   x[:, senders]  (one static index of length E, on dim 1)
    aggregation to nodes         incidence [N, E] @ [B, E, F]   (a constant matrix per topology)
    aggregation to globals       a sum over dim 1

and every feature is a list of pieces, each marked constant (the normalised static graph:
[1, ., F] for a broadcast system, or [B, ., F] for B systems of one topology) or dynamic
(the state, the action, the latents; [B, ., F]). A concat of graphs is a concat of piece
lists (free), and the first Linear of each MLP is split by input columns: the constant
pieces' contribution W_c x_c + b is computed once (per step, or once per `rollout` for all
H steps) and broadcast over B, the dynamic pieces go through one matmul with the remaining
columns W_d. Same weights, same function: outputs and gradients agree with the generic path
to rounding (tests/test_fast_path.py: 1e-5 in float32, 1e-10 in float64).

Inside a rollout (`GraphForwardModel.rollout`, which `gncontrol.dynamics.rollout` and so every
planner's `predicted_return` use), a GNForwardModel's whole rollout (per step: input normalisation, both GN
blocks, de-normalisation, apply_delta) is ONE autograd node with a hand-written backward on those memoised
splits (`fused_rollout`, `_FusedRollout`): what a small planning batch pays for is per-op and per-node
overhead, so the T steps run as a loop of `_fused_forward` calls (no autograd graph, no Graph objects per
step), the backward as a loop of `_fused_backward` calls, and the weights' gradients (when they require
them) as one matmul per weight over all T steps. The recurrent model and other layouts run block by block on
the pieces; `FUSED = False` makes the GN model do so too.

Where it applies (`topology_of`): a GraphSystem of one graph (broadcast over any number of
states), or of B graphs with the same n_node, n_edge and the same local senders / receivers /
edge->actuator pattern (as `GraphSystem.tile` / `broadcast` / `repeat` build). The check
runs once per GraphSystem object and is cached on it; everything else keeps the generic
path. `GraphForwardModel.step` and `.rollout` choose it automatically for the GN and the
recurrent GN forward models.

Switches: `with generic_path(): ...` (or `set_enabled(False)`) forces the generic path
everywhere; `model.fast_path = False` for one model; `compile_step(True)` compiles the fused step's
forward and backward (`_fused_forward`, `_fused_backward`: pure tensor code of static shapes) with
inductor, once per shape, called without torch.compile's per-call guards (gncontrol.forward.static_kernels;
`plan --compile` with the gradient planner). `stats` counts the steps taken by each path (for tests and
benchmarks).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gncontrol.body_state import STATE_SIZE, anchored_graphs, apply_delta, check_state
from gncontrol.device_constants import device_constant
from gncontrol.forward import static_kernels
from gncontrol.gn.blocks import EdgeBlock, GlobalBlock, NodeBlock
from gncontrol.gn.graphs import Graph
from gncontrol.gn.modules import GraphNetwork
from gncontrol.systems import GraphSystem

Tensor = torch.Tensor
Piece = tuple[Tensor, bool]  # (tensor, constant?)

__all__ = ["FixedTopology", "DenseGraph", "topology_of", "generic_path", "set_enabled", "enabled", "stats",
           "applicable", "step", "graph_network", "mlp_on_pieces", "compile_step", "step_compiled"]

_ENABLED = [True]
stats = {"fast": 0, "generic": 0}


def enabled() -> bool:
    """Whether the fast path may be chosen (the global switch; see also `model.fast_path`)."""
    return _ENABLED[0]


def set_enabled(flag: bool) -> None:
    """Turns the fast path on or off for every model (off: the generic Graph path everywhere)."""
    _ENABLED[0] = bool(flag)


@contextlib.contextmanager
def generic_path() -> Iterator[None]:
    """Forces the generic Graph path inside the block (tests and benchmarks compare the two)."""
    old = _ENABLED[0]
    _ENABLED[0] = False
    try:
        yield
    finally:
        _ENABLED[0] = old


# ----------------------------------------------------------------------------- topology
@dataclasses.dataclass(frozen=True, eq=False)
class FixedTopology:
    """The one topology of a GraphSystem: local [E] senders / receivers / edge->actuator (-1: none)."""

    num_graphs: int  # graphs in the system (1: it broadcasts over any number of states)
    num_nodes: int
    num_edges: int
    senders: Tensor
    receivers: Tensor
    edge_actuator: Tensor
    action_dim: int
    _consts: dict = dataclasses.field(default_factory=dict, repr=False)

    def const(self, name: str, dtype: torch.dtype, build: Callable[[], Tensor]) -> Tensor:
        """A constant tensor of this topology (incidence, centring, masks), built once per dtype."""
        key = (name, dtype)
        t = self._consts.get(key)
        if t is None:
            t = self._consts[key] = build()
        return t

    def pair_index(self) -> Tensor:
        """[2E]: receiver then sender of each edge, interleaved (one gather for both)."""
        return self.const("pair", torch.long,
                          lambda: torch.stack([self.receivers, self.senders], 1).reshape(-1))

    def in_degree(self, which: str, dtype: torch.dtype) -> Tensor:
        """[N, 1] edges ending (receivers) or starting (senders) at each node, at least 1 (mean reducer)."""
        def build() -> Tensor:
            idx = self.receivers if which == "receivers" else self.senders
            count = torch.zeros(self.num_nodes, dtype=dtype, device=idx.device)
            return count.index_add_(0, idx, torch.ones_like(idx, dtype=dtype)).clamp(min=1)[:, None]
        return self.const(f"degree_{which}", dtype, build)


def topology_of(system: GraphSystem) -> FixedTopology | None:
    """The system's single topology, or None if its graphs differ (checked once, cached on the object)."""
    cached = system.__dict__.get("_fixed_topology")
    if cached is None:
        cached = (_detect(system),)
        object.__setattr__(system, "_fixed_topology", cached)
    return cached[0]


def _detect(system: GraphSystem) -> FixedTopology | None:
    s = system.static
    b, ea, a = s.num_graphs, system.edge_actuator, system.action_dim
    if b == 0:
        return None
    if b == 1:
        return FixedTopology(1, s.nodes.shape[0], s.edges.shape[0], s.senders, s.receivers, ea, a)
    n_node, n_edge = s.n_node.tolist(), s.n_edge.tolist()
    n, e = n_node[0], n_edge[0]
    if any(x != n for x in n_node) or any(x != e for x in n_edge) or ea.shape[0] != b * e:
        return None
    ar = torch.arange(b, device=s.device)[:, None]
    snd, rcv, act = s.senders[:e], s.receivers[:e], ea[:e]
    same = (torch.equal(s.senders.view(b, e), snd + n * ar) and torch.equal(s.receivers.view(b, e), rcv + n * ar)
            and torch.equal(ea.view(b, e), torch.where(act >= 0, act + a * ar, act).expand(b, e)))
    return FixedTopology(b, n, e, snd, rcv, act, a) if same else None


# ------------------------------------------------------------------------------ pieces
@dataclasses.dataclass(frozen=True)
class DenseGraph:
    """Graph features as piece lists: nodes [b, N, f], edges [b, E, f], globals [b, f] (b = 1 or B)."""

    nodes: tuple[Piece, ...]
    edges: tuple[Piece, ...]
    globals: tuple[Piece, ...]

    def __add__(self, other: DenseGraph) -> DenseGraph:
        """Feature-wise concat (graphs.concat), without copying anything."""
        return DenseGraph(self.nodes + other.nodes, self.edges + other.edges, self.globals + other.globals)


def _cat(ts: Sequence[Tensor]) -> Tensor:
    return ts[0] if len(ts) == 1 else torch.cat(list(ts), -1)


def _columns(w: Tensor, cols: list[int]) -> Tensor:
    """w[:, cols] as a view when the columns are one run, else a gather (done once per memo)."""
    if cols == list(range(w.shape[1])):
        return w
    if cols == list(range(cols[0], cols[0] + len(cols))):
        return w[:, cols[0]:cols[0] + len(cols)]
    # the index made once (gncontrol.device_constants): the fused step's spec is rebuilt at every rollout, also
    # inside a recorded CUDA graph (planners.graph_capture), which cannot hold a host-to-device copy
    return w.index_select(1, device_constant(cols, w, torch.long))


def _plan(modules: Sequence[nn.Module]) -> list[tuple]:
    """The layers after the first as (kind, ...) with each Linear's weight transposed once (a view)."""
    ops: list[tuple] = []
    for m in modules:
        if type(m) is nn.Linear:
            ops.append(("linear", m.weight.t(), m.bias))
        elif type(m) is nn.ReLU:
            ops.append(("relu",))
        else:
            ops.append(("module", m))
    return ops


def _run(ops: Sequence[tuple], x: Tensor) -> Tensor:
    """Applies `_plan`'s layers to rows x [M, F] (addmm: one op per Linear)."""
    for op in ops:
        if op[0] == "linear":
            x = torch.mm(x, op[1]) if op[2] is None else torch.addmm(op[2], x, op[1])
        elif op[0] == "relu":
            x = torch.relu(x)
        else:
            x = op[1](x)
    return x


def mlp_on_pieces(model: nn.Module, layout: Sequence[tuple[int, bool]], const_inputs: Callable[[], list[Tensor]],
                  dyn_inputs: Sequence[Tensor], full_input: Callable[[], Tensor], memo: dict, key: Any) -> Tensor:
    """`model(cat(inputs))` with the first Linear split into constant and dynamic columns.

    layout: (width, constant?) of each input part in the model's column order; const_inputs()
    the constant parts (row space [b, R, f] or [b, f], in order; called once per memo), dyn_inputs
    the dynamic ones ([B, R, f] or [B, f], in order); full_input() the whole input, for a model that
    does not start with an nn.Linear. memo holds, under `key`, the split and transposed weights and
    W_c x_c + b expanded to the B * R rows, so each step's first layer is one addmm.
    """
    entry = memo.get(key)
    if entry is None:
        first = model[0] if isinstance(model, nn.Sequential) and len(model) else None
        if type(first) is not nn.Linear or first.in_features != sum(w for w, _ in layout):
            entry = memo[key] = (None,)
        else:
            cols_c, cols_d, off = [], [], 0
            for width, const in layout:
                (cols_c if const else cols_d).extend(range(off, off + width))
                off += width
            w, bias = first.weight, first.bias
            lead = dyn_inputs[0].shape[:-1] if cols_d else const_inputs()[0].shape[:-1]
            if cols_c:
                const_pre = F.linear(_cat(const_inputs()), _columns(w, cols_c), bias)
                const_pre = const_pre.expand(*lead, const_pre.shape[-1]).reshape(-1, const_pre.shape[-1])
            else:
                const_pre = bias
            w_d = _columns(w, cols_d).t() if cols_d else None
            entry = memo[key] = (w_d, const_pre, _plan(list(model)[1:]), lead)
    if len(entry) == 1:
        return model(full_input())
    w_d, const_pre, rest, lead = entry
    if w_d is None:  # every input constant
        x = const_pre
    else:
        x = _cat(dyn_inputs)
        x = x.reshape(-1, x.shape[-1])
        x = torch.mm(x, w_d) if const_pre is None else torch.addmm(const_pre, x, w_d)
    x = _run(rest, x)
    return x.reshape(*lead, x.shape[-1])


def _dyn(pieces: Sequence[Piece]) -> list[Tensor]:
    return [t for t, c in pieces if not c]


def _const(pieces: Sequence[Piece]) -> list[Tensor]:
    return [t for t, c in pieces if c]


def _full(t: Tensor, batch: int) -> Tensor:
    return t.expand(batch, *t.shape[1:]) if t.shape[0] != batch else t


def _aggregate(x: Tensor, topo: FixedTopology, which: str, reducer: str) -> Tensor:
    """[b, E, f] -> [b, N, f]: edges reduced onto their receivers (or senders)."""
    idx = topo.receivers if which == "receivers" else topo.senders
    out = x.new_zeros(x.shape[0], topo.num_nodes, x.shape[-1])
    if reducer == "sum":
        return out.index_add_(1, idx, x)
    if reducer == "mean":
        return out.index_add_(1, idx, x) / topo.in_degree(which, x.dtype)
    return out.scatter_reduce(1, idx[None, :, None].expand_as(x), x, "amax", include_self=False)


def _reduce(x: Tensor, reducer: str) -> Tensor:
    """[b, M, f] -> [b, f] over dim 1 (empty -> 0, as the generic aggregate)."""
    if reducer == "sum":
        return x.sum(1)
    if reducer == "mean":
        return x.sum(1) / max(x.shape[1], 1)
    return x.amax(1) if x.shape[1] else x.new_zeros(x.shape[0], x.shape[-1])


# ------------------------------------------------------------------------------ blocks
def edge_block(block: EdgeBlock, g: DenseGraph, topo: FixedTopology, batch: int, memo: dict) -> Tensor:
    """EdgeBlock on dense pieces: [B, E, F_e']."""
    use_e, use_r, use_s, use_u = block.use
    e_n = topo.num_edges
    layout: list[tuple[int, bool]] = []
    if use_e:
        layout += [(t.shape[-1], c) for t, c in g.edges]
    for used in (use_r, use_s):
        if used:
            layout += [(t.shape[-1], c) for t, c in g.nodes]
    if use_u:
        layout += [(t.shape[-1], c) for t, c in g.globals]

    def gathered(t: Tensor, idx: Tensor) -> Tensor:
        return t.index_select(1, idx)

    def per_edge(t: Tensor) -> Tensor:  # globals [b, f] -> [b, E, f]
        return t[:, None, :].expand(t.shape[0], e_n, t.shape[-1])

    def const_inputs() -> list[Tensor]:
        parts = _const(g.edges) if use_e else []
        for used, idx in ((use_r, topo.receivers), (use_s, topo.senders)):
            if used:
                parts += [gathered(t, idx) for t in _const(g.nodes)]
        if use_u:
            parts += [per_edge(t) for t in _const(g.globals)]
        return parts

    dyn = _dyn(g.edges) if use_e else []
    dn = _dyn(g.nodes)
    if dn and (use_r or use_s):
        x = _cat(dn)
        if use_r and use_s:  # one gather: [v_r | v_s] per edge
            dyn.append(x.index_select(1, topo.pair_index()).reshape(batch, e_n, 2 * x.shape[-1]))
        else:
            dyn.append(gathered(x, topo.receivers if use_r else topo.senders))
    if use_u:
        dyn += [per_edge(t) for t in _dyn(g.globals)]

    def full_input() -> Tensor:
        parts = [_full(t, batch) for t, _ in g.edges] if use_e else []
        for used, idx in ((use_r, topo.receivers), (use_s, topo.senders)):
            if used:
                parts += [_full(gathered(t, idx), batch) for t, _ in g.nodes]
        if use_u:
            parts += [_full(per_edge(t), batch) for t, _ in g.globals]
        return _cat(parts)

    return mlp_on_pieces(block.edge_model, layout, const_inputs, dyn, full_input, memo, (id(block), "edge"))


def node_block(block: NodeBlock, g: DenseGraph, topo: FixedTopology, batch: int, memo: dict) -> Tensor:
    """NodeBlock on dense pieces: [B, N, F_v']."""
    use_r, use_s, use_v, use_u = block.use
    red, n_n = block.reducer, topo.num_nodes
    ends = [w for w, used in (("receivers", use_r), ("senders", use_s)) if used]
    layout: list[tuple[int, bool]] = []
    for _ in ends:
        layout += [(t.shape[-1], c) for t, c in g.edges]
    if use_v:
        layout += [(t.shape[-1], c) for t, c in g.nodes]
    if use_u:
        layout += [(t.shape[-1], c) for t, c in g.globals]

    def per_node(t: Tensor) -> Tensor:
        return t[:, None, :].expand(t.shape[0], n_n, t.shape[-1])

    def const_inputs() -> list[Tensor]:
        parts = [_aggregate(t, topo, w, red) for w in ends for t in _const(g.edges)]
        if use_v:
            parts += _const(g.nodes)
        if use_u:
            parts += [per_node(t) for t in _const(g.globals)]
        return parts

    de = _dyn(g.edges)
    x = _cat(de) if de else None
    dyn = [_aggregate(x, topo, w, red) for w in ends] if de else []
    if use_v:
        dyn += _dyn(g.nodes)
    if use_u:
        dyn += [per_node(t) for t in _dyn(g.globals)]

    def full_input() -> Tensor:
        parts = [_full(_aggregate(t, topo, w, red), batch) for w in ends for t, _ in g.edges]
        if use_v:
            parts += [_full(t, batch) for t, _ in g.nodes]
        if use_u:
            parts += [_full(per_node(t), batch) for t, _ in g.globals]
        return _cat(parts)

    return mlp_on_pieces(block.node_model, layout, const_inputs, dyn, full_input, memo, (id(block), "node"))


def global_block(block: GlobalBlock, g: DenseGraph, topo: FixedTopology, batch: int, memo: dict) -> Tensor:
    """GlobalBlock on dense pieces: [B, F_u']."""
    use_e, use_v, use_u = block.use
    red = block.reducer
    kinds = [p for p, used in ((g.edges, use_e), (g.nodes, use_v)) if used]
    layout: list[tuple[int, bool]] = []
    for pieces in kinds:
        layout += [(t.shape[-1], c) for t, c in pieces]
    if use_u:
        layout += [(t.shape[-1], c) for t, c in g.globals]

    def const_inputs() -> list[Tensor]:
        parts = [_reduce(t, red) for pieces in kinds for t in _const(pieces)]
        return parts + (_const(g.globals) if use_u else [])

    dyn = [_reduce(_cat(_dyn(pieces)), red) for pieces in kinds if _dyn(pieces)]
    if use_u:
        dyn += _dyn(g.globals)

    def full_input() -> Tensor:
        parts = [_full(_reduce(t, red), batch) for pieces in kinds for t, _ in pieces]
        return _cat(parts + ([_full(t, batch) for t, _ in g.globals] if use_u else []))

    return mlp_on_pieces(block.global_model, layout, const_inputs, dyn, full_input, memo, (id(block), "global"))


def graph_network(gn: GraphNetwork, g: DenseGraph, topo: FixedTopology, batch: int, memo: dict) -> DenseGraph:
    """GraphNetwork on dense pieces; the output has one dynamic piece per feature."""
    e = edge_block(gn.edge_block, g, topo, batch, memo)
    g = dataclasses.replace(g, edges=((e, False),))
    v = node_block(gn.node_block, g, topo, batch, memo)
    u = global_block(gn.global_block, dataclasses.replace(g, nodes=((v, False),)), topo, batch, memo)
    return DenseGraph(((v, False),), ((e, False),), ((u, False),))


def edge_node(blocks: nn.Sequential, g: DenseGraph, topo: FixedTopology, batch: int, memo: dict) -> Tensor:
    """EdgeBlock then NodeBlock (GNForwardModel's gn2) on dense pieces: the nodes [B, N, F]."""
    e = edge_block(blocks[0], g, topo, batch, memo)
    return node_block(blocks[1], dataclasses.replace(g, edges=((e, False),)), topo, batch, memo)


# -------------------------------------------------------------------- forward models
def applicable(model: nn.Module, state: Graph, action: Tensor, params: Any) -> FixedTopology | None:
    """The topology to run `model.step(state, action, params)` densely on, or None for the generic path."""
    if not _ENABLED[0] or not getattr(model, "fast_path", False) or not isinstance(params, GraphSystem):
        return None
    if not isinstance(state, Graph) or not isinstance(action, Tensor) or state.nodes.dim() != 2:
        return None
    topo = topology_of(params)
    b = state.num_graphs
    if topo is None or topo.num_graphs not in (1, b) or tuple(action.shape) != (b, topo.action_dim):
        return None
    if state.nodes.shape[0] != b * topo.num_nodes or state.edges.shape[0] != b * topo.num_edges:
        return None
    if resolved_positions(model.config.positions, params) is None:  # graphs of both kinds: per graph, generic
        return None
    return topo


def _centring(topo: FixedTopology, mode: str, dtype: torch.dtype) -> Tensor:
    """[N, N] M with M @ xy = gncontrol.body_state.relative_positions' x, y (node 0 is the world)."""
    def build() -> Tensor:
        n = topo.num_nodes
        eye = torch.eye(n, dtype=dtype, device=topo.senders.device)
        w = torch.ones(n, dtype=dtype, device=eye.device)
        if mode == "relative":
            w[0] = 0.0
        m = eye - w[None, :] / w.sum().clamp(min=1)
        return m * w[:, None] if mode == "relative" else m
    return topo.const(f"centre_{mode}", dtype, build)


def resolved_positions(mode: str, system: GraphSystem) -> str:
    """The position mode one system of a single topology runs in: `mode`, or for "per-system" "absolute" when
    its graphs are anchored (gncontrol.body_state.anchored_graphs), "relative" when none is, None when only
    some are (one topology, different static parameters: the generic path decides per graph); cached."""
    if mode != "per-system":
        return mode
    cached = system.__dict__.get("_position_mode")
    if cached is None:
        anchored = anchored_graphs(system.static)
        cached = ("absolute" if bool(anchored.all()) else "relative" if not bool(anchored.any()) else None,)
        object.__setattr__(system, "_position_mode", cached)
    return cached[0]


def _statics(model: nn.Module, params: GraphSystem, topo: FixedTopology, memo: dict) -> tuple:
    """The normalised static graph (nodes [k, N, F], edges [k, E, F], globals [k, F]) and the position mode,
    computed once per memo."""
    statics = memo.get("static")
    if statics is None:
        s, k = params.static, topo.num_graphs
        statics = memo["static"] = (model.norm_static_nodes(s.nodes).reshape(k, topo.num_nodes, -1),
                                    model.norm_static_edges(s.edges).reshape(k, topo.num_edges, -1),
                                    model.norm_static_globals(s.globals))
    if "positions" not in memo:
        memo["positions"] = resolved_positions(model.config.positions, params)
    return statics


def _edge_actions(topo: FixedTopology, actions: Tensor) -> Tensor:
    """Each edge's actuator value (0 where none): actions [..., A] -> [..., E]."""
    ea = topo.edge_actuator
    acted = topo.const("acted", torch.bool, lambda: ea >= 0)
    index = topo.const("act_index", torch.long, lambda: ea.clamp(min=0))
    return torch.where(acted, actions.index_select(actions.dim() - 1, index), 0.0)


def step(model: nn.Module, state: Graph, action: Tensor, params: GraphSystem, topo: FixedTopology,
         memo: dict) -> Graph:
    """`model.step` on dense tensors (same result as the generic path).

    memo: {} for one step, or one dict shared by the steps of one rollout (the static graph's share of
    every first layer computed once). A GNForwardModel's whole rollout runs in `fused_rollout` instead.
    """
    if not torch.compiler.is_compiling():  # a compiled region must not mutate a Python global (recompiles)
        stats["fast"] += 1
    check_state(state.nodes)
    b, n, e = state.num_graphs, topo.num_nodes, topo.num_edges
    ns, ne, nu = _statics(model, params, topo, memo)
    nodes = state.nodes
    x = nodes if nodes.shape[1] == STATE_SIZE else nodes[:, :STATE_SIZE]
    acts = _edge_actions(topo, action).unsqueeze(-1)
    x = x.reshape(b, n, STATE_SIZE)
    mode = memo["positions"]
    if mode == "absolute":
        body = x
    else:
        body = torch.cat([torch.matmul(_centring(topo, mode, x.dtype), x[..., :2]), x[..., 2:]], -1)
    g = DenseGraph(((ns, True), (model.norm_state(body), False)), ((ne, True), (model.norm_action(acts), False)),
                   ((nu, True),))
    delta, hidden = model.dense_predict(g, state, topo, b, memo)
    out = apply_delta(nodes, model.norm_delta.inverse(delta).reshape(b * n, STATE_SIZE))
    edges = acts.reshape(b * e, 1)
    if hidden is None:
        return state.replace(nodes=out, edges=edges)
    hn, he, hu = hidden
    return state.replace(nodes=torch.cat([out, hn.reshape(b * n, -1)], -1),
                         edges=torch.cat([edges, he.reshape(b * e, -1)], -1), globals=hu)


def gn_predict(model: nn.Module, g: DenseGraph, topo: FixedTopology, batch: int, memo: dict) -> Tensor:
    """GNForwardModel.predict on dense pieces: G* = GN2(concat(G, GN1(G))) nodes, [B, N, 13]."""
    g1 = graph_network(model.gn1, g, topo, batch, memo)
    return edge_node(model.gn2, g + g1, topo, batch, memo)


def recurrent_predict(model: nn.Module, g: DenseGraph, state: Graph, topo: FixedTopology, batch: int,
                      memo: dict) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
    """RecurrentGNForwardModel.predict on dense pieces: (deltas [B, N, 13], new hidden (nodes, edges, globals))."""
    h = model.hidden.nodes
    b, n, e = batch, topo.num_nodes, topo.num_edges
    nodes = state.nodes
    if nodes.shape[-1] != STATE_SIZE + h:
        z = nodes.new_zeros
        hn, he, hu = z(b, n, h), z(b, e, h), z(b, h)
    else:
        hn = nodes[:, STATE_SIZE:].reshape(b, n, h)
        he, hu = state.edges[:, 1:].reshape(b, e, h), state.globals
    core = model.core
    m = graph_network(core.core, g + DenseGraph(((hn, False),), ((he, False),), ((hu, False),)), topo, b, memo)
    (mn, _), (me, _), (mu, _) = m.nodes[0], m.edges[0], m.globals[0]
    if core.update == "mean":  # step 0 of the running mean (predict always passes step 0)
        new_n, new_e, new_u = hn + 1.0 * (mn - hn), he + 1.0 * (me - he), hu + 1.0 * (mu - hu)
    else:
        new_n = core.node_gru(mn.reshape(b * n, -1), hn.reshape(b * n, h)).reshape(b, n, -1)
        new_e = core.edge_gru(me.reshape(b * e, -1), he.reshape(b * e, h)).reshape(b, e, -1) if b * e else he
        new_u = core.global_gru(mu, hu)
    pieces = ((new_n, False),) + g.nodes
    layout = [(t.shape[-1], c) for t, c in pieces]
    delta = mlp_on_pieces(model.decoder, layout, lambda: _const(pieces), _dyn(pieces),
                          lambda: _cat([_full(t, b) for t, _ in pieces]), memo, (id(model.decoder), "decoder"))
    return delta, (new_n, new_e, new_u)


# ------------------------------------------------------------- fused GN forward model step
# GNForwardModel's step (centring and normalising the state, normalising the actions, both GN
# blocks, de-normalising the deltas and applying them) runs as ONE autograd node with
# a hand-written backward: the same math as gn_predict on the memoised weight splits (the same
# parameters: they enter as the memo's views of them), but a step's backward is ~20 matmuls and a
# few gathers instead of ~90 autograd nodes, which is what a small planning batch pays for.


_RELU_BACKWARD = torch.ops.aten.threshold_backward.default
FUSED = True  # False: GNForwardModel's fast path runs block by block on pieces (tests compare both)


def _prepare_fused(model: nn.Module, statics: tuple, topo: FixedTopology, batch: int, memo: dict) -> _FusedSpec | None:
    """The fused step's spec for a GNForwardModel in the default layout (None for any other model).

    Fills the memo's weight splits and constant rows by running gn_predict once on zero dynamic
    inputs (its output is discarded; the constant rows keep their graph to the weights and statics).
    """
    gn1, gn2 = getattr(model, "gn1", None), getattr(model, "gn2", None)
    if not isinstance(gn1, GraphNetwork) or not isinstance(gn2, nn.Sequential) or len(gn2) != 2:
        return None
    ns, ne, nu = statics
    z = ns.new_zeros
    g = DenseGraph(((ns, True), (z(batch, topo.num_nodes, STATE_SIZE), False)),
                   ((ne, True), (z(batch, topo.num_edges, 1), False)), ((nu, True),))
    gn_predict(model, g, topo, batch, memo)
    entries = _fused_entries(model, memo)
    return None if entries is None else _FusedSpec(model, entries, topo, batch, memo["positions"])


def _fused_entries(model: nn.Module, memo: dict) -> list | None:
    """The five memoised MLP splits of a GNForwardModel in its default GN layout, or None if it has another."""
    cached = memo.get("fused")
    if cached is not None:
        return cached or None
    gn1, (e2, n2) = model.gn1, model.gn2
    blocks = (gn1.edge_block, "edge"), (gn1.node_block, "node"), (gn1.global_block, "global"), (e2, "edge"), \
        (n2, "node")
    entries = [memo.get((id(b), k)) for b, k in blocks]
    ok = (all(e is not None and len(e) == 4 and e[0] is not None for e in entries)
          and gn1.edge_block.use == (True,) * 4 and e2.use == (True,) * 4
          and gn1.node_block.use == (True, False, True, True) and n2.use == (True, False, True, True)
          and gn1.global_block.use == (True,) * 3
          and all(b.reducer == "sum" for b in (gn1.node_block, gn1.global_block, n2))
          and all([op[0] for op in e[2]] == ["relu", "linear"] * (len(e[2]) // 2) for e in entries))
    memo["fused"] = entries if ok else []
    return entries if ok else None


class _FusedSpec:
    """What the fused step needs, built once per rollout: the five MLP splits, normalisers, centring, indices."""

    def __init__(self, model: nn.Module, entries: list, topo: FixedTopology, batch: int, mode: str):
        self.topo, self.b, self.n, self.e = topo, batch, topo.num_nodes, topo.num_edges
        # every matmul operand contiguous in the layout it is used in (a transposed view costs a small matmul
        # about 15%); the copies are differentiable, so the weights' gradients flow through them
        self.mlps, self.flat = [], []
        for w_d, const_pre, rest, _ in entries:
            w_d = w_d.contiguous()
            self.flat += [const_pre, w_d]
            layers = []
            for op in rest:
                if op[0] == "linear":
                    op = ("linear", op[1].contiguous(), op[2])
                    self.flat += [op[1], op[2]]
                layers.append(op)
            self.mlps.append((const_pre, w_d, layers))
        self.starts, i = [], 0
        for _, _, layers in self.mlps:
            self.starts.append(i)
            i += 2 + 2 * sum(op[0] == "linear" for op in layers)
        ns, na, nd = model.norm_state, model.norm_action, model.norm_delta
        self.norms = (ns.mean, ns.std, na.mean, na.std, nd.std * nd.varies, nd.mean)
        self.centring = None if mode == "absolute" else _centring(topo, mode, ns.mean.dtype)
        self.pair = topo.pair_index()
        # transposes for the backward (views of the same weights, taken once)
        with torch.no_grad():  # the backward's operands: constants of the rollout
            self.transposed = [(w_d.t().contiguous(), [op[1].t().contiguous() for op in layers if op[0] == "linear"])
                               for _, w_d, layers in self.mlps]


def _fused_forward(x: Tensor, acts: Tensor, mlps: list, norms: tuple, centring: Tensor | None, pair: Tensor,
                   receivers: Tensor, b: int, n: int, e: int) -> tuple[Tensor, list, tuple, tuple]:
    """The fused step's math, x [B*N, 13], acts [B*E, 1] -> (next states [B*N, 13], saved MLP inputs, quaternion
    terms, widths): pure tensor code of static shapes (what `compile_step` hands to torch.compile)."""
    mx, sx, ma, sa, dscale, dmean = norms
    body = x
    if centring is not None:
        x3 = x.view(b, n, -1)
        body = torch.cat([torch.matmul(centring, x3[..., :2]), x3[..., 2:]], -1).view(b * n, -1)
    nx, na = (body - mx) / sx, (acts - ma) / sa
    saved: list = []

    def mlp(k: int, x: Tensor) -> Tensor:
        c, w, rest = mlps[k]
        inputs = [x]
        h = torch.addmm(c, x, w)
        for op in rest:
            if op[0] == "linear":
                inputs.append(h)
                h = torch.mm(h, op[1]) if op[2] is None else torch.addmm(op[2], h, op[1])
            else:
                h = torch.relu(h)
        saved.append(inputs)
        return h

    def pairs(t: Tensor) -> Tensor:  # [B*N, F] -> [B*E, 2F]: receiver then sender features per edge
        return t.view(b, n, -1).index_select(1, pair).view(b * e, -1)

    def agg(t: Tensor) -> Tensor:
        return t.new_zeros(b, n, t.shape[-1]).index_add_(1, receivers, t.view(b, e, -1)).view(b * n, -1)

    e1 = mlp(0, torch.cat([na, pairs(nx)], 1))
    v1 = mlp(1, torch.cat([agg(e1), nx], 1))
    u1 = mlp(2, torch.cat([e1.view(b, e, -1).sum(1), v1.view(b, n, -1).sum(1)], 1))
    e2 = mlp(3, torch.cat([na, e1, pairs(torch.cat([nx, v1], 1)), u1.repeat_interleave(e, 0)], 1))
    out = mlp(4, torch.cat([agg(e2), nx, v1, u1.repeat_interleave(n, 0)], 1))
    widths = (na.shape[1], nx.shape[1], e1.shape[1], v1.shape[1], u1.shape[1], e2.shape[1])
    # apply_delta: next = state + delta, quaternion renormalised
    y = x + (out * dscale + dmean)
    q = y[:, 3:7]
    norm = q.norm(dim=-1, keepdim=True)
    clamped = norm.clamp(min=1e-8)
    return torch.cat([y[:, :3], q / clamped, y[:, 7:]], 1), saved, (q, norm, clamped), widths


def _fused_backward(g_out: Tensor, g_carry: Tensor, quat: tuple, saved: list, transposed: list, norms: tuple,
                    centring: Tensor | None, pair: Tensor, receivers: Tensor, keep: bool, widths: tuple, b: int, n: int,
                    e: int) -> tuple[Tensor, Tensor, list]:
    """The fused step's hand-written backward, from the gradient of its output g_out + g_carry [B*N, 13] (the
    loss's own, and the one from the next step's input): (grad x [B*N, 13], grad acts [B*E, 1], and with `keep`
    each MLP's gradients at its Linear outputs, in forward order, from which `_weight_grads` forms the weights'
    gradients once per rollout); pure tensor code of static shapes, like `_fused_forward`."""
    g_next = g_out + g_carry
    _, sx, _, sa, dscale, _ = norms
    fa, fx, le, lv, lu, _ = widths
    kept: list = [None] * 5
    q, norm, clamped = quat
    g_q = g_next[:, 3:7]
    radial = (g_q * q).sum(-1, keepdim=True) * ((norm >= 1e-8) / (clamped * clamped * norm.clamp(min=1e-30)))
    g_y = torch.cat([g_next[:, :3], g_q / clamped - q * radial, g_next[:, 7:]], 1)
    g_out = g_y * dscale

    def mlp_back(k: int, g: Tensor) -> Tensor:
        w_t, lin_t = transposed[k]
        inputs = saved[k]  # each Linear's input; from the second on, the ReLU output before it
        at_outputs = [g]
        for li in range(len(lin_t) - 1, -1, -1):  # Linear li + 1 of the MLP, then the ReLU before it
            g = _RELU_BACKWARD(g.mm(lin_t[li]), inputs[li + 1], 0)
            at_outputs.append(g)
        if keep:
            kept[k] = at_outputs[::-1]
        return g.mm(w_t)

    def gather(t: Tensor) -> Tensor:  # [B*N, F] -> [B*E, F] at the receivers
        return t.view(b, n, -1).index_select(1, receivers).view(b * e, -1)

    def unpair(t: Tensor) -> Tensor:  # [B*E, 2F] (receiver | sender) -> [B*N, F], summed per node
        width = t.shape[-1] // 2
        return t.new_zeros(b, n, width).index_add_(1, pair, t.reshape(b, 2 * e, width)).view(b * n, width)

    g5 = mlp_back(4, g_out).split([le, fx, lv, lu], 1)
    g4 = mlp_back(3, gather(g5[0])).split([fa, le, 2 * (fx + lv), lu], 1)
    g_nv = unpair(g4[2]).split([fx, lv], 1)
    g_u1 = g5[3].view(b, n, lu).sum(1) + g4[3].view(b, e, lu).sum(1)
    g3 = mlp_back(2, g_u1).split([le, lv], 1)
    g_v1 = g5[2] + g_nv[1] + g3[1].repeat_interleave(n, 0)
    g2 = mlp_back(1, g_v1).split([le, fx], 1)
    g_e1 = g4[1] + g3[0].repeat_interleave(e, 0) + gather(g2[0])
    g1 = mlp_back(0, g_e1).split([fa, 2 * fx], 1)
    g_nx = unpair(g1[1]) + g5[1] + g_nv[0] + g2[1]
    g_x = (g_nx / sx)
    if centring is not None:
        g3 = g_x.view(b, n, -1)
        g_x = torch.cat([torch.matmul(centring.t(), g3[..., :2]), g3[..., 2:]], -1).view(b * n, -1)
    g_x = g_x + g_y
    g_acts = (g4[0] + g1[0]) / sa
    return g_x, g_acts, kept if keep else []


def _weight_grads(spec: _FusedSpec, inputs: list, kept: list, need: tuple) -> list:
    """The gradients of the flat weights over all T steps of a rollout, one matmul per weight on the T steps'
    rows stacked (a weight is shared by the steps; T small matmuls per weight would cost T times the overhead).

    inputs[t][k]: MLP k's Linear inputs at step t; kept[t][k]: the gradients at its Linear outputs.
    """
    totals: list = [None] * len(need)
    for k, (c, _, rest) in enumerate(spec.mlps):
        p = spec.starts[k]
        biases = [True] + [op[2] is not None for op in rest if op[0] == "linear"]
        for j, has_bias in enumerate(biases):
            w_at, b_at = (p + 1, p) if j == 0 else (p + 2 * j, p + 2 * j + 1)
            if not (need[w_at] or need[b_at]):
                continue
            g = torch.cat([kept[t][k][j] for t in range(len(kept))])  # [T * rows, out]
            if need[w_at]:
                totals[w_at] = torch.cat([inputs[t][k][j] for t in range(len(kept))]).t().mm(g)
            if need[b_at] and has_bias:  # the first layer's "bias" is the constant rows c ([rows, out] or [out])
                totals[b_at] = (g.view(len(kept), -1, g.shape[-1]).sum(0) if j == 0 and c.dim() == 2
                                else g.sum(0))
    return totals


_KERNELS = {"forward": _fused_forward, "backward": _fused_backward}
_COMPILED: dict = {}  # torch.compile mode -> (forward, backward) wrappers, built once
_STEP_MODE = ["eager"]  # "eager", "static" (gncontrol.forward.static_kernels) or "dynamo" (torch.compile's mode)


def compile_step(flag: bool = True, *, mode: str | None = None) -> None:
    """Compiles the fused GN step's forward and backward (False: eager again, the reference).

    mode None: each is compiled by inductor once per shape (batch, graph size, widths) and dtype
    (gncontrol.forward.static_kernels: seconds each, cached across rollouts, replannings and episodes, and on disk
    by inductor) and called without torch.compile's per-call guards and wrappers, which at a planner's batch cost
    as much as the step's arithmetic. A named torch.compile mode (e.g. "reduce-overhead": CUDA graphs on a GPU)
    compiles both with torch.compile instead. tests/test_fast_path.py compares every variant with the eager one.
    """
    if not flag:
        _KERNELS["forward"], _KERNELS["backward"] = _fused_forward, _fused_backward
        _STEP_MODE[0] = "eager"
        return
    if mode is None:
        _KERNELS["forward"], _KERNELS["backward"] = _fused_forward, _fused_backward
        _STEP_MODE[0] = "static"
        return
    if mode not in _COMPILED:
        config = torch._dynamo.config
        config.recompile_limit = max(config.recompile_limit, 64)  # one entry per (batch, system) a run sees
        _COMPILED[mode] = (torch.compile(_fused_forward, dynamic=False, mode=mode),
                           torch.compile(_fused_backward, dynamic=False, mode=mode))
    _KERNELS["forward"], _KERNELS["backward"] = _COMPILED[mode]
    _STEP_MODE[0] = "dynamo"


def step_compiled() -> bool:
    """Whether `compile_step` is on."""
    return _STEP_MODE[0] != "eager"


class _TreeKernels:
    """One rollout's fused step, called with its nested arguments (eager, or through torch.compile)."""

    def __init__(self, spec: _FusedSpec):
        self.spec, self.widths = spec, ()

    def forward(self, x: Tensor, acts: Tensor) -> tuple[Tensor, Any]:
        """(next states [B*N, 13], what the backward needs)."""
        s = self.spec
        out, inputs, quat, self.widths = _KERNELS["forward"](x, acts, s.mlps, s.norms, s.centring, s.pair,
                                                             s.topo.receivers, s.b, s.n, s.e)
        return out, (inputs, quat)

    def backward(self, g_out: Tensor, g_carry: Tensor, blob: Any, keep: bool) -> tuple[Tensor, Tensor, Any]:
        """(grad x, grad acts, the gradients at the Linear outputs if `keep`) of one step."""
        s = self.spec
        return _KERNELS["backward"](g_out, g_carry, blob[1], blob[0], s.transposed, s.norms, s.centring, s.pair,
                                    s.topo.receivers, keep, self.widths, s.b, s.n, s.e)

    def inputs(self, blob: Any) -> list:
        """Each MLP's Linear inputs at one step."""
        return blob[0]

    def kept(self, kept: Any) -> list:
        """Each MLP's gradients at its Linear outputs at one step."""
        return kept


class _StaticKernels:
    """One rollout's fused step as two inductor-compiled functions of flat tensors (static_kernels): the forward
    returns [next states, *what the backward needs], the backward takes that list back."""

    def __init__(self, spec: _FusedSpec):
        self.spec, self.widths = spec, ()
        self._fwd = self._bwd = None
        b, n, e = spec.b, spec.n, spec.e
        self._fconsts, self._ftree = static_kernels.TreeTemplate.of((spec.mlps, spec.norms, spec.centring,
                                                                    spec.pair, spec.topo.receivers))
        self._bconsts, self._btree = static_kernels.TreeTemplate.of((spec.transposed, spec.norms, spec.centring,
                                                                    spec.pair, spec.topo.receivers))
        self._fkey = ("fused_forward", self._ftree.key, b, n, e)

    def _forward_fn(self, x: Tensor, acts: Tensor, *consts: Tensor) -> tuple:
        mlps, norms, centring, pair, receivers = self._ftree.rebuild(consts)
        s = self.spec
        return _fused_forward(x, acts, mlps, norms, centring, pair, receivers, s.b, s.n, s.e)

    def forward(self, x: Tensor, acts: Tensor) -> tuple[Tensor, list]:
        """(next states [B*N, 13], what the backward needs: a flat tensor list)."""
        if self._fwd is None:
            self._fwd = static_kernels.compiled_for(self._fkey, self._forward_fn, [x, acts, *self._fconsts])
            structure = self._fwd[1]
            self.widths = structure.rebuild([None] * sum(structure.is_tensor))[3]  # ints: constants of the trace
        out = self._fwd[0](x, acts, *self._fconsts)
        return out[0], out[1:]

    def backward(self, g_out: Tensor, g_carry: Tensor, blob: list, keep: bool) -> tuple[Tensor, Tensor, list]:
        """(grad x, grad acts, the gradients at the Linear outputs if `keep`, flat) of one step."""
        if self._bwd is None:
            structure, s, blob_len = self._fwd[1], self.spec, len(blob)

            def backward_fn(g_out: Tensor, g_carry: Tensor, *rest: Tensor) -> tuple:
                _, inputs, quat, _ = structure.rebuild([g_out, *rest[:blob_len]])
                transposed, norms, centring, pair, receivers = self._btree.rebuild(rest[blob_len:])
                return _fused_backward(g_out, g_carry, quat, inputs, transposed, norms, centring, pair, receivers,
                                       keep, self.widths, s.b, s.n, s.e)
            key = ("fused_backward", self._fkey, self._btree.key, keep)
            self._bwd = static_kernels.compiled_for(key, backward_fn, [g_out, g_carry, *blob, *self._bconsts])
        out = self._bwd[0](g_out, g_carry, *blob, *self._bconsts)
        return out[0], out[1], out[2:]

    def inputs(self, blob: list) -> list:
        """Each MLP's Linear inputs at one step."""
        return self._fwd[1].rebuild([None, *blob])[1]

    def kept(self, kept: list) -> list:
        """Each MLP's gradients at its Linear outputs at one step."""
        return self._bwd[1].rebuild([None, None, *kept])[2]


def _step_kernels(spec: _FusedSpec) -> _TreeKernels | _StaticKernels:
    """The fused step's kernels for one rollout, as `compile_step` set them."""
    static = _STEP_MODE[0] == "static" and not torch.compiler.is_compiling()  # inside a traced region: traced
    return _StaticKernels(spec) if static else _TreeKernels(spec)


def fused_rollout(model: nn.Module, state: Graph, actions: Tensor, params: GraphSystem, topo: FixedTopology,
                  memo: dict) -> list[Graph] | None:
    """The T states of a GNForwardModel's rollout (actions [B, T, A]) as ONE autograd node, or None for a model
    in another layout (or with `FUSED` off): then the caller steps block by block.

    Why: at a planner's batch a step is a few microseconds of arithmetic wrapped in per-op and per-node overhead;
    here the T steps run as a loop of `_fused_forward` calls and the backward as a loop of `_fused_backward` calls
    (compiled or eager, `compile_step`), with no autograd graph, Graph objects or action gathers per step.
    """
    if not FUSED or actions.shape[1] == 0:
        return None
    b, t_steps = state.num_graphs, actions.shape[1]
    statics = _statics(model, params, topo, memo)
    spec = memo.get("fused_spec", False)
    if spec is False:
        spec = memo["fused_spec"] = _prepare_fused(model, statics, topo, b, memo)
    if spec is None:
        return None
    if not torch.compiler.is_compiling():
        stats["fast"] += t_steps
    nodes = state.nodes
    check_state(nodes)
    x = nodes if nodes.shape[1] == STATE_SIZE else nodes[:, :STATE_SIZE]
    e = topo.num_edges
    acts = _edge_actions(topo, actions).transpose(0, 1).reshape(t_steps, b * e, 1)  # time-major [T, B*E, 1]
    if torch.is_grad_enabled() and (x.requires_grad or acts.requires_grad
                                    or any(w is not None and w.requires_grad for w in spec.flat)):
        xs = _FusedRollout.apply(spec, x, acts, *spec.flat)  # [T, B*N, 13]
    else:  # forward only (the sampling planners): nothing kept for a backward
        xs = _steps_forward(_step_kernels(spec), x, acts, None)
    # unbind: one backward node for all T views (T selects would each scatter into a zero [T, B*N, 13])
    return [state.replace(nodes=n, edges=a) for n, a in zip(xs.unbind(0), acts.unbind(0))]


def _steps_forward(kernels: _TreeKernels | _StaticKernels, x: Tensor, acts: Tensor,
                   saved: list | None) -> Tensor:
    """T fused steps from x [B*N, 13] under acts [T, B*E, 1]: states [T, B*N, 13]; what each step's backward needs
    appended to `saved` unless it is None."""
    outs = []
    for a in acts.unbind(0):
        x, blob = kernels.forward(x, a)
        outs.append(x)
        if saved is not None:
            saved.append(blob)
    return torch.stack(outs)


class _FusedRollout(torch.autograd.Function):
    """T fused steps (GN1 then GN2 on 2-D rows) with a hand-written backward: x0 [B*N, 13], acts [T, B*E, 1]
    -> states [T, B*N, 13]."""

    @staticmethod
    def forward(ctx, spec, x, acts, *flat):  # noqa: D102 - see the class doc
        ctx.saved, ctx.spec, ctx.kernels = [], spec, _step_kernels(spec)
        return _steps_forward(ctx.kernels, x, acts, ctx.saved)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_states):  # noqa: D102 - see the class doc
        kernels, saved = ctx.kernels, ctx.saved
        need = tuple(ctx.needs_input_grad[3:])
        keep = any(need)
        g_acts: list = [None] * len(saved)
        kept: list = [None] * len(saved)
        g = torch.zeros_like(g_states[0])  # d loss / d (the next step's input state)
        for t in reversed(range(len(saved))):
            g, g_acts[t], kept[t] = kernels.backward(g_states[t], g, saved[t], keep)
        totals = [None] * len(need)
        if keep:
            totals = _weight_grads(ctx.spec, [kernels.inputs(b) for b in saved], [kernels.kept(k) for k in kept],
                                   need)
        ctx.saved = ctx.kernels = None
        return (None, g, torch.stack(g_acts), *totals)
