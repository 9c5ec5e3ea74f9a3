"""gncontrol: graph-network dynamics models, system identification and planning.

The public surface is small and re-exported here; everything else lives in its module.
"""

from gncontrol.dynamics import DynamicsModel, rollout
from gncontrol.gn.blocks import EdgeBlock, GlobalBlock, GraphSizes, NodeBlock, aggregate
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
from gncontrol.gn.nn import mlp, mlp_factory

__version__ = "0.1.0"

__all__ = [
    "DeepSets", "DynamicsModel", "EdgeBlock", "EncodeProcessDecode", "GlobalBlock", "Graph",
    "GraphIndependent", "GraphNetwork", "GraphSizes", "InteractionNetwork", "NodeBlock",
    "RecurrentGraphNetwork", "RelationNetwork", "aggregate", "batch", "concat", "mlp",
    "mlp_factory", "rollout", "split_features", "tile", "unbatch",
]
