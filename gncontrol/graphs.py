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
"""

from __future__ import annotations

import dataclasses
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
            senders=torch.as_tensor(senders, dtype=torch.long, device=device),
            receivers=torch.as_tensor(receivers, dtype=torch.long, device=device),
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
        """Returns a copy with some fields replaced (feature fields keep cached indices)."""
        topology = {"senders", "receivers", "n_node", "n_edge"}
        if topology & changes.keys():
            changes.setdefault("_node_graph", None)
            changes.setdefault("_edge_graph", None)
        return dataclasses.replace(self, **changes)

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
        )

    def detach(self) -> Graph:
        """Returns the graph with all features detached from the autograd graph."""
        return self.replace(
            nodes=self.nodes.detach(), edges=self.edges.detach(), globals=self.globals.detach()
        )

    def validate(self, check_finite: bool = False) -> Graph:
        """Raises a one-line ValueError naming what is inconsistent; returns self if valid."""
        _validate(self, check_finite)
        return self


# ----------------------------------------------------------------------------- helpers
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
        if not isinstance(t, Tensor) or t.dim() != 1 or t.dtype.is_floating_point:
            fail(f"{name} must be a 1-D integer tensor")
    b = g.n_node.shape[0]
    if g.n_edge.shape[0] != b or g.globals.shape[0] != b:
        fail(f"n_node has {b} graphs but n_edge has {g.n_edge.shape[0]} and globals "
             f"{g.globals.shape[0]}")
    if (g.n_node < 0).any() or (g.n_edge < 0).any():
        fail("n_node and n_edge must be non-negative")
    n, e = g.nodes.shape[0], g.edges.shape[0]
    if int(g.n_node.sum()) != n:
        fail(f"sum(n_node)={int(g.n_node.sum())} but nodes has {n} rows")
    if int(g.n_edge.sum()) != e:
        fail(f"sum(n_edge)={int(g.n_edge.sum())} but edges has {e} rows")
    if g.senders.shape[0] != e or g.receivers.shape[0] != e:
        fail(f"senders ({g.senders.shape[0]}) and receivers ({g.receivers.shape[0]}) "
             f"must have one entry per edge ({e})")
    if e:
        for name in ("senders", "receivers"):
            idx = getattr(g, name)
            if int(idx.min()) < 0 or int(idx.max()) >= n:
                fail(f"{name} index out of range [0, {n}): min {int(idx.min())}, "
                     f"max {int(idx.max())}")
        # every edge must connect nodes of its own graph
        eg = g.edge_graph_index()
        ng = g.node_graph_index()
        if (ng[g.senders] != eg).any() or (ng[g.receivers] != eg).any():
            fail("an edge connects nodes of a different graph in the batch")
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
    node_offsets = torch.cumsum(
        torch.tensor([0] + [g.nodes.shape[0] for g in graphs[:-1]]), 0
    ).tolist()
    cat = torch.cat
    return Graph(
        nodes=cat([g.nodes for g in graphs]),
        edges=cat([g.edges for g in graphs]),
        globals=cat([g.globals for g in graphs]),
        senders=cat([g.senders + o for g, o in zip(graphs, node_offsets)]),
        receivers=cat([g.receivers + o for g, o in zip(graphs, node_offsets)]),
        n_node=cat([g.n_node for g in graphs]),
        n_edge=cat([g.n_edge for g in graphs]),
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
    )
