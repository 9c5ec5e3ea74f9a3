"""The graph-network library: the Graph data structure, blocks built from injected factories,
the composite modules (GraphNetwork, InteractionNetwork, ...) and MLP factories.

Depends only on gncontrol.errors; everything else in gncontrol builds on it.
"""

from gncontrol.gn.blocks import EdgeBlock, GlobalBlock, GraphSizes, NodeBlock, Reducer, aggregate
from gncontrol.gn.graphs import Graph, batch, concat, split_features, tile, unbatch
from gncontrol.gn.modules import (
    DeepSets,
    EncodeProcessDecode,
    GraphIndependent,
    GraphNetwork,
    InteractionNetwork,
    RecurrentGraphNetwork,
    RelationNetwork,
)
from gncontrol.gn.nn import ModuleFactory, mlp, mlp_factory, output_size

__all__ = [
    "DeepSets",
    "EdgeBlock",
    "EncodeProcessDecode",
    "GlobalBlock",
    "Graph",
    "GraphIndependent",
    "GraphNetwork",
    "GraphSizes",
    "InteractionNetwork",
    "ModuleFactory",
    "NodeBlock",
    "RecurrentGraphNetwork",
    "Reducer",
    "RelationNetwork",
    "aggregate",
    "batch",
    "concat",
    "mlp",
    "mlp_factory",
    "output_size",
    "split_features",
    "tile",
    "unbatch",
]
