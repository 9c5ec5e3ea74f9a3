"""Graph-network building blocks (Battaglia et al. 2018), Graph -> Graph.

As in graph_nets' `blocks.py`: an edge, a node and a global block, each built from an
injected factory `in_size -> nn.Module` and switches saying which inputs feed the update.
A block knows its input sizes (a `GraphSizes`) when built and exposes `out_sizes`, so
blocks compose without lazy modules (DDP- and checkpoint-friendly).

    edge update   e'_k = phi_e([e_k, v_rk, v_sk, u])
    node update   v'_i = phi_v([rho_e->v(received e'), rho_e->v(sent e'), v_i, u])
    global update u'   = phi_u([rho_e->u(E'), rho_v->u(V'), u])

rho is a sum by default (index_add); mean and max are selectable.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import nn

from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph
from gncontrol.gn.nn import ModuleFactory, output_size

Tensor = torch.Tensor
Reducer = Literal["sum", "mean", "max"]

__all__ = ["GraphSizes", "aggregate", "EdgeBlock", "NodeBlock", "GlobalBlock", "Reducer"]


class GraphSizes(NamedTuple):
    """Feature sizes of a graph: (nodes F_v, edges F_e, globals F_u)."""

    nodes: int
    edges: int
    globals: int

    @staticmethod
    def of(graph: Graph) -> GraphSizes:
        """The feature sizes of `graph`."""
        return GraphSizes(graph.nodes.shape[-1], graph.edges.shape[-1], graph.globals.shape[-1])

    def __add__(self, other: GraphSizes) -> GraphSizes:  # type: ignore[override]
        """Sizes after a feature-wise concat of two graphs."""
        return GraphSizes(*(a + b for a, b in zip(self, other)))


def aggregate(values: Tensor, index: Tensor, size: int, reducer: Reducer = "sum") -> Tensor:
    """Reduces rows of values [M, F] into [size, F] by index [M]; empty groups give 0."""
    out = values.new_zeros(size, values.shape[-1])
    if reducer == "sum":
        return out.index_add_(0, index, values)
    if reducer == "mean":
        total = out.index_add_(0, index, values)
        count = values.new_zeros(size).index_add_(0, index, values.new_ones(index.shape[0]))
        return total / count.clamp(min=1).unsqueeze(-1)
    if reducer == "max":
        idx = index.unsqueeze(-1).expand_as(values)
        return out.scatter_reduce(0, idx, values, "amax", include_self=False)
    raise InputError(f"unknown reducer '{reducer}', expected sum, mean or max")


def _check_sizes(graph: Graph, sizes: GraphSizes, fields: tuple[str, ...], block: str) -> None:
    """One-line ValueError when a used feature of `graph` has a size the block was not built for."""
    for f in fields:
        got = getattr(graph, f).shape[-1]
        if got != getattr(sizes, f):
            raise InputError(f"{block} was built for {f} with {getattr(sizes, f)} features, "
                             f"got {got} (shape {tuple(getattr(graph, f).shape)})")


def _broadcast_globals(graph: Graph, to: Literal["nodes", "edges"]) -> Tensor:
    index = graph.node_graph_index() if to == "nodes" else graph.edge_graph_index()
    return graph.globals.index_select(0, index)


class EdgeBlock(nn.Module):
    """Updates edges from any of [edges, receiver nodes, sender nodes, globals]."""

    def __init__(self, sizes: GraphSizes, edge_model_fn: ModuleFactory, use_edges: bool = True,
                 use_receiver_nodes: bool = True, use_sender_nodes: bool = True,
                 use_globals: bool = True):
        super().__init__()
        self.use = (use_edges, use_receiver_nodes, use_sender_nodes, use_globals)
        if not any(self.use):
            raise InputError("EdgeBlock needs at least one input")
        in_size = (use_edges * sizes.edges + use_receiver_nodes * sizes.nodes
                   + use_sender_nodes * sizes.nodes + use_globals * sizes.globals)
        self.in_sizes = sizes
        self._fields = tuple(f for f, u in (("edges", use_edges),
                             ("nodes", use_receiver_nodes or use_sender_nodes),
                             ("globals", use_globals)) if u)
        self.edge_model = edge_model_fn(in_size)
        self.out_sizes = GraphSizes(sizes.nodes, output_size(self.edge_model, in_size),
                                    sizes.globals)

    def forward(self, graph: Graph) -> Graph:
        """Returns `graph` with edges [E, F_e'] replaced by the edge model's output."""
        _check_sizes(graph, self.in_sizes, self._fields, "EdgeBlock")
        use_e, use_r, use_s, use_u = self.use
        parts = []
        if use_e:
            parts.append(graph.edges)
        if use_r:
            parts.append(graph.nodes.index_select(0, graph.receivers))
        if use_s:
            parts.append(graph.nodes.index_select(0, graph.senders))
        if use_u:
            parts.append(_broadcast_globals(graph, "edges"))
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        return graph.replace(edges=self.edge_model(x))


class NodeBlock(nn.Module):
    """Updates nodes from any of [aggregated received edges, sent edges, nodes, globals]."""

    def __init__(self, sizes: GraphSizes, node_model_fn: ModuleFactory,
                 use_received_edges: bool = True, use_sent_edges: bool = False,
                 use_nodes: bool = True, use_globals: bool = True, reducer: Reducer = "sum"):
        super().__init__()
        self.use = (use_received_edges, use_sent_edges, use_nodes, use_globals)
        if not any(self.use):
            raise InputError("NodeBlock needs at least one input")
        self.reducer = reducer
        in_size = (use_received_edges * sizes.edges + use_sent_edges * sizes.edges
                   + use_nodes * sizes.nodes + use_globals * sizes.globals)
        self.in_sizes = sizes
        self._fields = tuple(f for f, u in (("edges", use_received_edges or use_sent_edges),
                             ("nodes", use_nodes), ("globals", use_globals)) if u)
        self.node_model = node_model_fn(in_size)
        self.out_sizes = GraphSizes(output_size(self.node_model, in_size), sizes.edges,
                                    sizes.globals)

    def forward(self, graph: Graph) -> Graph:
        """Returns `graph` with nodes [N, F_v'] replaced by the node model's output."""
        _check_sizes(graph, self.in_sizes, self._fields, "NodeBlock")
        use_r, use_s, use_v, use_u = self.use
        n = graph.nodes.shape[0]
        parts = []
        if use_r:
            parts.append(aggregate(graph.edges, graph.receivers, n, self.reducer))
        if use_s:
            parts.append(aggregate(graph.edges, graph.senders, n, self.reducer))
        if use_v:
            parts.append(graph.nodes)
        if use_u:
            parts.append(_broadcast_globals(graph, "nodes"))
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        return graph.replace(nodes=self.node_model(x))


class GlobalBlock(nn.Module):
    """Updates globals from any of [aggregated edges, aggregated nodes, globals]."""

    def __init__(self, sizes: GraphSizes, global_model_fn: ModuleFactory, use_edges: bool = True,
                 use_nodes: bool = True, use_globals: bool = True, reducer: Reducer = "sum"):
        super().__init__()
        self.use = (use_edges, use_nodes, use_globals)
        if not any(self.use):
            raise InputError("GlobalBlock needs at least one input")
        self.reducer = reducer
        in_size = use_edges * sizes.edges + use_nodes * sizes.nodes + use_globals * sizes.globals
        self.in_sizes = sizes
        self._fields = tuple(f for f, u in (("edges", use_edges), ("nodes", use_nodes),
                             ("globals", use_globals)) if u)
        self.global_model = global_model_fn(in_size)
        self.out_sizes = GraphSizes(sizes.nodes, sizes.edges,
                                    output_size(self.global_model, in_size))

    def forward(self, graph: Graph) -> Graph:
        """Returns `graph` with globals [B, F_u'] replaced by the global model's output."""
        _check_sizes(graph, self.in_sizes, self._fields, "GlobalBlock")
        use_e, use_v, use_u = self.use
        b = graph.num_graphs
        parts = []
        if use_e:
            parts.append(aggregate(graph.edges, graph.edge_graph_index(), b, self.reducer))
        if use_v:
            parts.append(aggregate(graph.nodes, graph.node_graph_index(), b, self.reducer))
        if use_u:
            parts.append(graph.globals)
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        return graph.replace(globals=self.global_model(x))
