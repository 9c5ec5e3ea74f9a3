"""gncontrol: graph-network dynamics models, system identification and planning.

The GN library (gncontrol.gn) and the dynamics interface are re-exported here; the model families
live in gncontrol.forward, gncontrol.sysid, gncontrol.nri and gncontrol.hamiltonian (docs/design.md).
"""

from gncontrol.dynamics import DynamicsModel, rollout
from gncontrol.gn import (
    DeepSets,
    EdgeBlock,
    EncodeProcessDecode,
    GlobalBlock,
    Graph,
    GraphIndependent,
    GraphNetwork,
    GraphSizes,
    InteractionNetwork,
    NodeBlock,
    RecurrentGraphNetwork,
    RelationNetwork,
    aggregate,
    batch,
    concat,
    mlp,
    mlp_factory,
    split_features,
    tile,
    unbatch,
)

__version__ = "0.1.0"

__all__ = [
    "DeepSets", "DynamicsModel", "EdgeBlock", "EncodeProcessDecode", "GlobalBlock", "Graph",
    "GraphIndependent", "GraphNetwork", "GraphSizes", "InteractionNetwork", "NodeBlock",
    "RecurrentGraphNetwork", "RelationNetwork", "aggregate", "batch", "concat", "mlp",
    "mlp_factory", "rollout", "split_features", "tile", "unbatch",
]
