"""System identification: an encoder that reads a window of a system's motion into a latent
parameter vector, the GN forward model conditioned on it, and its training.

Builds on gncontrol.forward.
"""

from gncontrol.sysid.model import (
    IDENTIFIED_KIND,
    IdentificationWindow,
    IdentifiedModel,
    SystemIDConfig,
    SystemIDModel,
    identify,
    latent_features,
    load_identified,
    refine,
    repeat_system,
    rollout_loss,
    save_identified,
)
from gncontrol.sysid.training import (
    CHECKPOINT_KIND,
    SysIDBatch,
    load_system_id_model,
    mean_latent,
    sample_sysid_batch,
    train_system_id,
    windows_of,
)

__all__ = [
    "CHECKPOINT_KIND",
    "IDENTIFIED_KIND",
    "IdentificationWindow",
    "IdentifiedModel",
    "SysIDBatch",
    "SystemIDConfig",
    "SystemIDModel",
    "identify",
    "latent_features",
    "load_identified",
    "load_system_id_model",
    "mean_latent",
    "refine",
    "repeat_system",
    "rollout_loss",
    "sample_sysid_batch",
    "save_identified",
    "train_system_id",
    "windows_of",
]
