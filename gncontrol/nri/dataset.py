"""Reads NRI / fNRI datasets (HDF5 written by envs.particles.nri_data) with schema checks.

Tensors returned: features [S, N, T, D] float32 (already normalised), edges [S, L, E] int64
(E = N(N-1) ordered pairs, sender-major, no self loops; L label layers).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from gncontrol.errors import InputError

__all__ = ["NRI_SCHEMA_VERSION", "NRISplit", "load_nri_split", "read_nri_attrs"]

NRI_SCHEMA_VERSION = 1


@dataclass
class NRISplit:
    """One split: features [S, N, T, D], edges [S, L, E], and the file's attributes."""

    features: torch.Tensor
    edges: torch.Tensor
    attrs: dict


def read_nri_attrs(path: str | os.PathLike) -> dict:
    """The file's attributes (system, n_balls, layers, norm...); a bad or foreign file is a ValueError."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NRI dataset not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
    except OSError as exc:
        raise InputError(f"corrupt or non-HDF5 NRI dataset {path}: {exc}") from None
    if attrs.get("kind") != "nri":
        raise InputError(f"{path} is not an NRI dataset")
    if int(attrs.get("schema_version", -1)) != NRI_SCHEMA_VERSION:
        raise InputError(f"{path} has NRI dataset schema {attrs.get('schema_version')}, "
                         f"this gncontrol reads {NRI_SCHEMA_VERSION}")
    attrs["layers"] = json.loads(attrs["layers"])
    attrs["norm"] = json.loads(attrs["norm"])
    for key in ("n_balls", "dims", "schema_version", "seed"):
        attrs[key] = int(attrs[key])
    attrs["system"] = str(attrs["system"])
    return attrs


def load_nri_split(path: str | os.PathLike, split: str, max_size: int | None = None) -> NRISplit:
    """Loads `split` (train/valid/test), optionally only its first `max_size` trajectories."""
    import h5py

    attrs = read_nri_attrs(path)
    with h5py.File(path, "r") as f:
        if split not in f:
            raise InputError(f"{path} has no split '{split}' (has {sorted(f.keys())})")
        sl = slice(None) if max_size is None else slice(0, int(max_size))
        feats = torch.from_numpy(f[split]["features"][sl])
        edges = torch.from_numpy(f[split]["edges"][sl])
    if not torch.isfinite(feats).all():
        raise InputError(f"{path}:{split} holds non-finite features")
    n = attrs["n_balls"]
    if feats.dim() != 4 or feats.shape[1] != n or edges.shape[-1] != n * (n - 1):
        raise InputError(f"{path}:{split} has inconsistent shapes {tuple(feats.shape)} / {tuple(edges.shape)}")
    return NRISplit(feats, edges, attrs)
