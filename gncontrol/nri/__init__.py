"""Neural relational inference for particle systems: NRI and fNRI / sfNRI models, their training,
metrics, datasets and baselines.

Independent of the GN library; uses only the shared checkpoint
and run-guard pieces.
"""

from gncontrol.nri.baselines import correlation_baseline, correlation_scores, static_mse_per_horizon, static_window_mse
from gncontrol.nri.dataset import NRI_SCHEMA_VERSION, NRISplit, load_nri_split, read_nri_attrs
from gncontrol.nri.fnri import FNRI, SFNRI, layer_offsets
from gncontrol.nri.metrics import (
    best_permutation,
    combined_from_layers,
    edge_accuracy,
    factorised_accuracy,
    mse_per_horizon,
    sigmoid_factor_accuracy,
    window_mse,
)
from gncontrol.nri.model import (
    NRI,
    CNNEncoder,
    MLPBlock,
    MLPDecoder,
    MLPEncoder,
    NRIDynamics,
    RNNDecoder,
    build_decoder,
    build_encoder,
    count_parameters,
    fully_connected,
    kl_categorical,
    nll_gaussian,
)
from gncontrol.nri.training import NRIConfig, build_model, evaluate_nri, load_config, train_nri

__all__ = [
    "CNNEncoder",
    "FNRI",
    "MLPBlock",
    "MLPDecoder",
    "MLPEncoder",
    "NRI",
    "NRIConfig",
    "NRIDynamics",
    "NRISplit",
    "NRI_SCHEMA_VERSION",
    "RNNDecoder",
    "SFNRI",
    "best_permutation",
    "build_decoder",
    "build_encoder",
    "build_model",
    "combined_from_layers",
    "correlation_baseline",
    "correlation_scores",
    "count_parameters",
    "edge_accuracy",
    "evaluate_nri",
    "factorised_accuracy",
    "fully_connected",
    "kl_categorical",
    "layer_offsets",
    "load_config",
    "load_nri_split",
    "mse_per_horizon",
    "nll_gaussian",
    "read_nri_attrs",
    "sigmoid_factor_accuracy",
    "static_mse_per_horizon",
    "static_window_mse",
    "train_nri",
    "window_mse",
]
