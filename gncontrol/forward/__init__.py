"""Forward models of MuJoCo systems: the GN / recurrent GN / MLP / constant models, their fast
fixed-topology path, transitions and trajectory datasets, training, rollout metrics and plots,
and the learned reward model for tasks whose reward has no torch twin.

Builds on gncontrol.gn and the shared pieces at gncontrol level (systems, body state,
normalisers, checkpoints).
"""

from gncontrol.forward import fast_path
from gncontrol.forward.datasets import (
    SCHEMA_VERSION,
    Trajectories,
    compact,
    concatenate,
    episode_provenance,
    load_trajectories,
    write_trajectories,
)
from gncontrol.forward.graph_forward import (
    ConstantModel,
    ForwardModelConfig,
    GNForwardModel,
    GraphForwardModel,
    MLPForwardModel,
    RecurrentGNForwardModel,
    build_forward_model,
    check_action,
)
from gncontrol.forward.metrics import (
    error_ratios,
    normalised_rollout_error,
    predict_rollout,
    rollout_errors,
    squared_errors,
)
from gncontrol.forward.plots import plot_rollout, rollout_figure
from gncontrol.forward.reward_model import (
    RewardModel,
    RewardModelConfig,
    load_reward_model,
    reward_model_error,
    save_reward_model,
    train_reward_model,
)
from gncontrol.forward.training import (
    TrainConfig,
    distributed_context,
    fit_model_normalisers,
    load_forward_model,
    lr_at,
    optimiser_to,
    prepare_training,
    restore,
    step_generator,
    train_forward_model,
)
from gncontrol.forward.transitions import SystemTrajectories, TransitionBatch, merge, sample_batch

__all__ = [
    "ConstantModel",
    "ForwardModelConfig",
    "GNForwardModel",
    "GraphForwardModel",
    "MLPForwardModel",
    "RecurrentGNForwardModel",
    "RewardModel",
    "RewardModelConfig",
    "SCHEMA_VERSION",
    "SystemTrajectories",
    "TrainConfig",
    "Trajectories",
    "TransitionBatch",
    "build_forward_model",
    "check_action",
    "compact",
    "concatenate",
    "distributed_context",
    "episode_provenance",
    "error_ratios",
    "fast_path",
    "fit_model_normalisers",
    "load_forward_model",
    "load_reward_model",
    "reward_model_error",
    "load_trajectories",
    "lr_at",
    "merge",
    "normalised_rollout_error",
    "optimiser_to",
    "plot_rollout",
    "predict_rollout",
    "prepare_training",
    "restore",
    "save_reward_model",
    "rollout_errors",
    "rollout_figure",
    "sample_batch",
    "squared_errors",
    "step_generator",
    "train_forward_model",
    "train_reward_model",
    "write_trajectories",
]
