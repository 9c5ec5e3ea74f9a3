"""Graph-network modules composed from the blocks (graph_nets' `modules.py` in torch).

Every module maps Graph -> Graph, is built from injected factories `in_size -> nn.Module`,
and exposes `out_sizes` (a GraphSizes) so modules chain without lazy layers.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from gncontrol.errors import InputError
from gncontrol.gn.blocks import EdgeBlock, GlobalBlock, GraphSizes, NodeBlock, Reducer
from gncontrol.gn.graphs import Graph, concat
from gncontrol.gn.nn import ModuleFactory, output_size

__all__ = [
    "GraphNetwork",
    "GraphIndependent",
    "InteractionNetwork",
    "RelationNetwork",
    "DeepSets",
    "EncodeProcessDecode",
    "RecurrentGraphNetwork",
]


class GraphNetwork(nn.Module):
    """The full GN block: edge update, then node update, then global update."""

    def __init__(self, sizes: GraphSizes, edge_model_fn: ModuleFactory,
                 node_model_fn: ModuleFactory, global_model_fn: ModuleFactory,
                 reducer: Reducer = "sum", edge_block_opt: dict | None = None,
                 node_block_opt: dict | None = None, global_block_opt: dict | None = None):
        super().__init__()
        self.edge_block = EdgeBlock(sizes, edge_model_fn, **(edge_block_opt or {}))
        self.node_block = NodeBlock(self.edge_block.out_sizes, node_model_fn, reducer=reducer,
                                    **(node_block_opt or {}))
        self.global_block = GlobalBlock(self.node_block.out_sizes, global_model_fn,
                                        reducer=reducer, **(global_block_opt or {}))
        self.out_sizes = self.global_block.out_sizes

    def forward(self, graph: Graph) -> Graph:
        """Graph [F_v, F_e, F_u] -> Graph [F_v', F_e', F_u'], same topology."""
        return self.global_block(self.node_block(self.edge_block(graph)))


class GraphIndependent(nn.Module):
    """Applies separate models to edges, nodes and globals, with no message passing.

    A missing factory leaves that feature unchanged (identity).
    """

    def __init__(self, sizes: GraphSizes, edge_model_fn: ModuleFactory | None = None,
                 node_model_fn: ModuleFactory | None = None,
                 global_model_fn: ModuleFactory | None = None):
        super().__init__()
        ident = nn.Identity()
        self.edge_model = edge_model_fn(sizes.edges) if edge_model_fn else ident
        self.node_model = node_model_fn(sizes.nodes) if node_model_fn else ident
        self.global_model = global_model_fn(sizes.globals) if global_model_fn else ident
        self.out_sizes = GraphSizes(
            output_size(self.node_model, sizes.nodes) if node_model_fn else sizes.nodes,
            output_size(self.edge_model, sizes.edges) if edge_model_fn else sizes.edges,
            output_size(self.global_model, sizes.globals) if global_model_fn else sizes.globals,
        )

    def forward(self, graph: Graph) -> Graph:
        """Graph -> Graph with each feature transformed independently."""
        return graph.replace(edges=self.edge_model(graph.edges), nodes=self.node_model(graph.nodes),
                             globals=self.global_model(graph.globals))


class InteractionNetwork(nn.Module):
    """Battaglia et al. 2016: edges from (edge, receiver, sender); nodes from (node, sum)."""

    def __init__(self, sizes: GraphSizes, edge_model_fn: ModuleFactory,
                 node_model_fn: ModuleFactory, reducer: Reducer = "sum"):
        super().__init__()
        self.edge_block = EdgeBlock(sizes, edge_model_fn, use_globals=False)
        self.node_block = NodeBlock(self.edge_block.out_sizes, node_model_fn, use_globals=False,
                                    reducer=reducer)
        self.out_sizes = self.node_block.out_sizes

    def forward(self, graph: Graph) -> Graph:
        """Updates edges then nodes; globals pass through."""
        return self.node_block(self.edge_block(graph))


class RelationNetwork(nn.Module):
    """Santoro et al. 2017: u' = phi_u(sum over edges of phi_e(v_r, v_s))."""

    def __init__(self, sizes: GraphSizes, edge_model_fn: ModuleFactory,
                 global_model_fn: ModuleFactory, reducer: Reducer = "sum"):
        super().__init__()
        self.edge_block = EdgeBlock(sizes, edge_model_fn, use_edges=False, use_globals=False)
        self.global_block = GlobalBlock(self.edge_block.out_sizes, global_model_fn,
                                        use_nodes=False, use_globals=False, reducer=reducer)
        self.out_sizes = self.global_block.out_sizes

    def forward(self, graph: Graph) -> Graph:
        """Returns the graph with new edges and globals (nodes unchanged)."""
        return self.global_block(self.edge_block(graph))


class DeepSets(nn.Module):
    """Zaheer et al. 2017: v' = phi_v(v, u); u' = phi_u(sum of v')."""

    def __init__(self, sizes: GraphSizes, node_model_fn: ModuleFactory,
                 global_model_fn: ModuleFactory, reducer: Reducer = "sum"):
        super().__init__()
        self.node_block = NodeBlock(sizes, node_model_fn, use_received_edges=False,
                                    use_sent_edges=False)
        self.global_block = GlobalBlock(self.node_block.out_sizes, global_model_fn,
                                        use_edges=False, use_globals=False, reducer=reducer)
        self.out_sizes = self.global_block.out_sizes

    def forward(self, graph: Graph) -> Graph:
        """Returns the graph with new nodes and globals (edges unchanged)."""
        return self.global_block(self.node_block(graph))


class EncodeProcessDecode(nn.Module):
    """Encoder -> N steps of a shared core on concat(encoded, latent) -> decoder.

    `make_mlp(in_size, out_size)` builds every MLP; `latent` is the core's width on edges,
    nodes and globals; `out_sizes` are the decoder's outputs.
    """

    def __init__(self, sizes: GraphSizes, latent: int, out_sizes: GraphSizes,
                 make_mlp: Callable[[int, int], nn.Module], num_steps: int = 3,
                 reducer: Reducer = "sum"):
        super().__init__()

        def factory(out: int) -> ModuleFactory:
            return lambda i: make_mlp(i, out)

        self.num_steps = num_steps
        self.encoder = GraphIndependent(sizes, factory(latent), factory(latent), factory(latent))
        lat = self.encoder.out_sizes
        self.core = GraphNetwork(lat + lat, factory(latent), factory(latent), factory(latent),
                                 reducer=reducer)
        self.decoder = GraphIndependent(self.core.out_sizes, factory(out_sizes.edges),
                                        factory(out_sizes.nodes), factory(out_sizes.globals))
        self.out_sizes = self.decoder.out_sizes

    def forward(self, graph: Graph, return_all_steps: bool = False) -> Graph | list[Graph]:
        """Decoded output after the last step (or after each step if asked)."""
        latent0 = self.encoder(graph)
        latent = latent0
        outputs = []
        for _ in range(self.num_steps):
            latent = self.core(concat([latent0, latent]))
            if return_all_steps:
                outputs.append(self.decoder(latent))
        return outputs if return_all_steps else self.decoder(latent)


class RecurrentGraphNetwork(nn.Module):
    """A GN with recurrent state on edges, nodes and globals.

    Each step: m = GN(concat(input, hidden)); then per edge, node and global either
    hidden' = GRU(m, hidden) (`update="gru"`), or hidden' = the running mean of the
    messages m_0..m_k (`update="mean"`: hidden' = hidden + (m - hidden) / (k + 1) at step k,
    an exact average that never saturates, for encoders that must pool evidence over a
    window). Returns (hidden', hidden'): the new hidden graph is also the output.
    """

    def __init__(self, sizes: GraphSizes, hidden: GraphSizes, make_mlp: Callable[[int, int],
                 nn.Module], reducer: Reducer = "sum", update: str = "gru"):
        super().__init__()
        if update not in ("gru", "mean"):
            raise InputError(f"unknown recurrent update {update!r}: expected 'gru' or 'mean'")
        self.hidden_sizes, self.update = hidden, update
        self.core = GraphNetwork(
            sizes + hidden,
            lambda i: make_mlp(i, hidden.edges),
            lambda i: make_mlp(i, hidden.nodes),
            lambda i: make_mlp(i, hidden.globals),
            reducer=reducer,
        )
        if update == "gru":
            self.edge_gru = nn.GRUCell(hidden.edges, hidden.edges)
            self.node_gru = nn.GRUCell(hidden.nodes, hidden.nodes)
            self.global_gru = nn.GRUCell(hidden.globals, hidden.globals)
        self.out_sizes = hidden

    def initial_state(self, graph: Graph) -> Graph:
        """A zero hidden graph with the topology of `graph`."""
        h = self.hidden_sizes
        z = graph.nodes.new_zeros
        return graph.replace(nodes=z(graph.nodes.shape[0], h.nodes),
                             edges=z(graph.edges.shape[0], h.edges),
                             globals=z(graph.globals.shape[0], h.globals))

    def forward(self, graph: Graph, hidden: Graph | None = None, step: int = 0) -> tuple[Graph, Graph]:
        """One recurrent step: (input graph, hidden graph or None, step index k) -> (output, new hidden)."""
        if hidden is None:
            hidden = self.initial_state(graph)
        m = self.core(concat([graph, hidden]))
        if self.update == "mean":
            w = 1.0 / (step + 1)
            new = hidden.replace(edges=hidden.edges + w * (m.edges - hidden.edges),
                                 nodes=hidden.nodes + w * (m.nodes - hidden.nodes),
                                 globals=hidden.globals + w * (m.globals - hidden.globals))
            return new, new
        new = hidden.replace(
            edges=self.edge_gru(m.edges, hidden.edges) if m.edges.shape[0] else hidden.edges,
            nodes=self.node_gru(m.nodes, hidden.nodes),
            globals=self.global_gru(m.globals, hidden.globals),
        )
        return new, new
