"""The `Graph` batch: many graphs in one flat structure, like graph_nets' GraphsTuple.

Shapes (B graphs, N = sum of nodes, E = sum of edges):
    nodes     [N, F_v]   per-node features
    edges     [E, F_e]   per-edge features
    globals   [B, F_u]   per-graph features
    senders   [E] long   index into `nodes` (global, already offset per graph)
    receivers [E] long   index into `nodes`
    n_node    [B] long   nodes per graph
    n_edge    [B] long   edges per graph

A `Graph` is immutable: every op returns a new one. Graphs of different sizes and of
different systems batch together; `tile` makes B copies of one system cheaply, which is
what planners need.

Validation: `Graph(...)` and `Graph.from_single` check the layout above when built (shapes,
integer indices, index range, every edge inside its own graph, n_node / n_edge sums) and
raise a one-line InputError; `Graph(..., check=False)` skips that for callers that build
graphs they know to be valid in a hot loop. The ops here (`replace`, `to`, `detach`,
`batch`, `unbatch`, `tile`) derive valid graphs from valid ones and do not re-check; after
changing the topology with `replace`, call `.validate()` if the new indices are untrusted.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import torch

from gncontrol.errors import InputError

Tensor = torch.Tensor

__all__ = ["Graph", "batch", "unbatch", "concat", "tile", "split_features"]


@dataclasses.dataclass(frozen=True, eq=False)
class Graph:
    """A batch of directed graphs with node, edge and global features (see module doc)."""

    nodes: Tensor
    edges: Tensor
    globals: Tensor
    senders: Tensor
    receivers: Tensor
    n_node: Tensor
    n_edge: Tensor
    # Cached [N] / [E] graph indices; derived from n_node / n_edge when absent.
    _node_graph: Tensor | None = dataclasses.field(default=None, repr=False)
    _edge_graph: Tensor | None = dataclasses.field(default=None, repr=False)
    _: dataclasses.KW_ONLY
    # check=False skips the construction-time validation (hot paths building known-valid graphs).
    check: dataclasses.InitVar[bool] = True

    def __post_init__(self, check: bool) -> None:
        if check:
            _validate(self, False)

    # ----------------------------------------------------------------- construction
    @staticmethod
    def from_single(
        nodes: Tensor,
        edges: Tensor,
        globals: Tensor,
        senders: Tensor,
        receivers: Tensor,
    ) -> Graph:
        """Builds a batch of one graph; `globals` may be [F_u] or [1, F_u]."""
        device = nodes.device
        return Graph(
            nodes=nodes,
            edges=edges,
            globals=globals.reshape(1, -1),
            senders=_index_tensor(senders, "senders", device),
            receivers=_index_tensor(receivers, "receivers", device),
            n_node=torch.tensor([nodes.shape[0]], device=device),
            n_edge=torch.tensor([edges.shape[0]], device=device),
        )

    # ------------------------------------------------------------------- properties
    @property
    def num_graphs(self) -> int:
        """B, the number of graphs in the batch."""
        return int(self.n_node.shape[0])

    @property
    def device(self) -> torch.device:
        """The device all tensors live on."""
        return self.nodes.device

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the features."""
        return self.nodes.dtype

    def node_graph_index(self) -> Tensor:
        """[N] long: for each node, the index of its graph (for node -> graph reductions)."""
        if self._node_graph is not None:
            return self._node_graph
        return _repeat_index(self.n_node, self.nodes.shape[0])

    def edge_graph_index(self) -> Tensor:
        """[E] long: for each edge, the index of its graph (for edge -> graph reductions)."""
        if self._edge_graph is not None:
            return self._edge_graph
        return _repeat_index(self.n_edge, self.edges.shape[0])

    # -------------------------------------------------------------------------- ops
    def replace(self, **changes: Tensor) -> Graph:
        """Returns a copy with some fields replaced (feature fields keep cached indices).

        Not re-validated (the planners' inner loops call this many times per step); call
        `.validate()` on the result when the replaced fields are untrusted.
        """
        unknown = changes.keys() - _FIELD_SET
        if unknown:
            raise TypeError(f"Graph.replace() got unknown fields {sorted(unknown)}")
        fields = {f: self.__dict__[f] for f in _FIELDS}
        fields.update(changes)
        if _TOPOLOGY & changes.keys():
            if "_node_graph" not in changes:
                fields["_node_graph"] = None
            if "_edge_graph" not in changes:
                fields["_edge_graph"] = None
        return _unchecked(fields)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Graph:
        """Moves all tensors to `device`; casts only the float features to `dtype`."""

        def move(t: Tensor | None, is_float: bool) -> Tensor | None:
            if t is None:
                return None
            return t.to(device=device, dtype=dtype if is_float else None)

        return Graph(
            nodes=move(self.nodes, True),
            edges=move(self.edges, True),
            globals=move(self.globals, True),
            senders=move(self.senders, False),
            receivers=move(self.receivers, False),
            n_node=move(self.n_node, False),
            n_edge=move(self.n_edge, False),
            _node_graph=move(self._node_graph, False),
            _edge_graph=move(self._edge_graph, False),
            check=False,
        )

    def detach(self) -> Graph:
        """Returns the graph with all features detached from the autograd graph."""
        return self.replace(
            nodes=self.nodes.detach(), edges=self.edges.detach(), globals=self.globals.detach()
        )

    def validate(self, check_finite: bool = False) -> Graph:
        """Raises a one-line InputError (a ValueError) naming what is inconsistent; returns self if valid."""
        _validate(self, check_finite)
        return self


# ----------------------------------------------------------------------------- helpers
_FIELDS = tuple(f.name for f in dataclasses.fields(Graph))
_FIELD_SET = frozenset(_FIELDS)
_TOPOLOGY = frozenset({"senders", "receivers", "n_node", "n_edge"})
_INDEX_DTYPES = frozenset({torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8})


def _unchecked(fields: dict) -> Graph:
    """A Graph from all its fields without __init__ (no validation): for ops on valid graphs."""
    g = object.__new__(Graph)
    g.__dict__.update(fields)
    return g


def _index_tensor(x, name: str, device: torch.device) -> Tensor:
    """`x` (tensor, array or list of node indices) as a long tensor; float or bool indices are refused."""
    t = torch.as_tensor(x, device=device)
    if t.numel() and t.dtype not in _INDEX_DTYPES:  # an empty list comes in as float32
        raise InputError(f"invalid Graph: {name} must be integer node indices, got dtype {t.dtype}")
    return t.to(torch.long)


def _repeat_index(counts: Tensor, total: int) -> Tensor:
    """[sum(counts)] long: i repeated counts[i] times."""
    return torch.repeat_interleave(
        torch.arange(counts.shape[0], device=counts.device), counts, output_size=total
    )


def _validate(g: Graph, check_finite: bool) -> None:
    def fail(msg: str) -> None:
        raise InputError(f"invalid Graph: {msg}")

    for name in ("nodes", "edges", "globals"):
        t = getattr(g, name)
        if not isinstance(t, Tensor) or t.dim() != 2:
            fail(f"{name} must be a 2-D tensor [count, features], got shape "
                 f"{tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__}")
    for name in ("senders", "receivers", "n_node", "n_edge"):
        t = getattr(g, name)
        if not isinstance(t, Tensor) or t.dim() != 1 or t.dtype not in _INDEX_DTYPES:
            fail(f"{name} must be a 1-D integer tensor, got "
                 + (f"shape {tuple(t.shape)} dtype {t.dtype}" if isinstance(t, Tensor) else type(t).__name__))
    device = g.nodes.device
    for name in ("edges", "globals", "senders", "receivers", "n_node", "n_edge"):
        if getattr(g, name).device != device:
            fail(f"{name} is on {getattr(g, name).device} but nodes on {device}")
    b = g.n_node.shape[0]
    if g.n_edge.shape[0] != b or g.globals.shape[0] != b:
        fail(f"n_node has {b} graphs but n_edge has {g.n_edge.shape[0]} and globals "
             f"{g.globals.shape[0]}")
    n, e = g.nodes.shape[0], g.edges.shape[0]
    if g.senders.shape[0] != e or g.receivers.shape[0] != e:
        fail(f"senders ({g.senders.shape[0]}) and receivers ({g.receivers.shape[0]}) "
             f"must have one entry per edge ({e})")
    for name, size in (("_node_graph", n), ("_edge_graph", e)):
        t = getattr(g, name)
        if t is not None and (not isinstance(t, Tensor) or tuple(t.shape) != (size,)):
            fail(f"cached {name} must be a [{size}] index tensor")
    # one host sync for all the counts and index ranges
    stats = [g.n_node.sum(), g.n_edge.sum(), g.n_node.min() if b else g.n_node.sum(),
             g.n_edge.min() if b else g.n_edge.sum()]
    if e:
        stats += [g.senders.min(), g.senders.max(), g.receivers.min(), g.receivers.max()]
    stats = torch.stack([x.to(torch.long) for x in stats]).tolist()
    sum_n, sum_e, min_n, min_e = stats[:4]
    if min_n < 0 or min_e < 0:
        fail("n_node and n_edge must be non-negative")
    if sum_n != n:
        fail(f"sum(n_node)={sum_n} but nodes has {n} rows")
    if sum_e != e:
        fail(f"sum(n_edge)={sum_e} but edges has {e} rows")
    if e:
        for name, lo, hi in (("senders", stats[4], stats[5]), ("receivers", stats[6], stats[7])):
            if lo < 0 or hi >= n:
                fail(f"{name} index out of range [0, {n}): min {lo}, max {hi}")
        # every edge must connect nodes of its own graph
        eg = g.edge_graph_index()
        ng = g.node_graph_index()
        if bool(((ng[g.senders] != eg) | (ng[g.receivers] != eg)).any()):
            fail("an edge connects nodes of a different graph in the batch (a sender or receiver "
                 "outside its edge's graph)")
    if check_finite:
        for name in ("nodes", "edges", "globals"):
            t = getattr(g, name)
            if t.is_floating_point() and not torch.isfinite(t).all():
                fail(f"{name} contains NaN or inf")


# ------------------------------------------------------------------------ batch level
def batch(graphs: Sequence[Graph]) -> Graph:
    """Concatenates batches of graphs into one batch, offsetting sender/receiver indices."""
    if not graphs:
        raise InputError("batch() needs at least one Graph")
    if len(graphs) == 1:
        return graphs[0]
    node_offsets = list(itertools.accumulate([0] + [g.nodes.shape[0] for g in graphs[:-1]]))  # host ints only
    cat = torch.cat
    return Graph(
        nodes=cat([g.nodes for g in graphs]),
        edges=cat([g.edges for g in graphs]),
        globals=cat([g.globals for g in graphs]),
        senders=cat([g.senders + o for g, o in zip(graphs, node_offsets)]),
        receivers=cat([g.receivers + o for g, o in zip(graphs, node_offsets)]),
        n_node=cat([g.n_node for g in graphs]),
        n_edge=cat([g.n_edge for g in graphs]),
        check=False,  # valid graphs batch into a valid one
    )


def unbatch(graph: Graph) -> list[Graph]:
    """Splits a batch into a list of single-graph batches (inverse of `batch`)."""
    n_node = graph.n_node.tolist()
    n_edge = graph.n_edge.tolist()
    nodes = torch.split(graph.nodes, n_node)
    edges = torch.split(graph.edges, n_edge)
    senders = torch.split(graph.senders, n_edge)
    receivers = torch.split(graph.receivers, n_edge)
    out, offset = [], 0
    for i in range(len(n_node)):
        out.append(
            Graph(
                nodes=nodes[i],
                edges=edges[i],
                globals=graph.globals[i : i + 1],
                senders=senders[i] - offset,
                receivers=receivers[i] - offset,
                n_node=graph.n_node[i : i + 1],
                n_edge=graph.n_edge[i : i + 1],
                check=False,
            )
        )
        offset += n_node[i]
    return out


def concat(graphs: Sequence[Graph]) -> Graph:
    """Concatenates features of graphs with identical topology (graph_nets' axis=1 concat)."""
    if not graphs:
        raise InputError("concat() needs at least one Graph")
    first = graphs[0]
    for g in graphs[1:]:
        if g.nodes.shape[0] != first.nodes.shape[0] or g.edges.shape[0] != first.edges.shape[0] \
                or g.globals.shape[0] != first.globals.shape[0]:
            raise InputError(
                "concat() needs graphs of the same topology: got "
                f"nodes {g.nodes.shape[0]} vs {first.nodes.shape[0]}, edges "
                f"{g.edges.shape[0]} vs {first.edges.shape[0]}, graphs "
                f"{g.globals.shape[0]} vs {first.globals.shape[0]}"
            )
    return first.replace(
        nodes=torch.cat([g.nodes for g in graphs], dim=-1),
        edges=torch.cat([g.edges for g in graphs], dim=-1),
        globals=torch.cat([g.globals for g in graphs], dim=-1),
    )


def split_features(graph: Graph, nodes: Sequence[int], edges: Sequence[int],
                   globals: Sequence[int]) -> list[Graph]:
    """Splits features into several graphs of the same topology (inverse of `concat`)."""
    parts_n = torch.split(graph.nodes, list(nodes), dim=-1)
    parts_e = torch.split(graph.edges, list(edges), dim=-1)
    parts_g = torch.split(graph.globals, list(globals), dim=-1)
    if not (len(parts_n) == len(parts_e) == len(parts_g)):
        raise InputError("split_features needs the same number of parts for nodes, edges, "
                         "globals")
    return [graph.replace(nodes=n, edges=e, globals=u) for n, e, u in zip(parts_n, parts_e, parts_g)]


def tile(graph: Graph, copies: int) -> Graph:
    """B copies of a single-graph batch, built with vectorised index arithmetic (no loops)."""
    if graph.num_graphs != 1:
        raise InputError(f"tile() needs a batch of one graph, got {graph.num_graphs}")
    n = graph.nodes.shape[0]
    e = graph.edges.shape[0]
    dev = graph.device
    offsets = (torch.arange(copies, device=dev) * n).repeat_interleave(e)
    ar = torch.arange(copies, device=dev)
    return Graph(
        nodes=graph.nodes.repeat(copies, 1),
        edges=graph.edges.repeat(copies, 1),
        globals=graph.globals.repeat(copies, 1),
        senders=graph.senders.repeat(copies) + offsets,
        receivers=graph.receivers.repeat(copies) + offsets,
        n_node=graph.n_node.repeat(copies),
        n_edge=graph.n_edge.repeat(copies),
        _node_graph=ar.repeat_interleave(n),
        _edge_graph=ar.repeat_interleave(e),
        check=False,  # copies of a valid graph (planners tile in their inner loop)
    )
