"""Atomic, versioned checkpoints: config + weights + normalisers + training state.

Written to a temporary file in the same folder, fsynced, then renamed over the target, so
a run killed mid-write never leaves a half-written checkpoint.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from gncontrol.errors import InputError

SCHEMA_VERSION = 1

__all__ = ["SCHEMA_VERSION", "atomic_write", "save_checkpoint", "load_checkpoint"]


def atomic_write(path: str | os.PathLike, write_fn) -> None:
    """Calls `write_fn(tmp_path)` then atomically renames tmp_path to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_fn(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(path: str | os.PathLike, kind: str, payload: dict[str, Any]) -> None:
    """Saves `payload` (tensors, dicts, numbers) tagged with `kind` and the schema version."""
    record = {"schema_version": SCHEMA_VERSION, "kind": kind, **payload}
    atomic_write(path, lambda tmp: torch.save(record, tmp))


def load_checkpoint(path: str | os.PathLike, kind: str | None = None,
                    map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """Loads a checkpoint; a missing, corrupt, foreign or other-version file is a ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        record = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise InputError(f"corrupt checkpoint {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(record, dict) or "schema_version" not in record:
        raise InputError(f"{path} is not a gncontrol checkpoint")
    if record["schema_version"] != SCHEMA_VERSION:
        raise InputError(f"{path} has checkpoint schema version {record['schema_version']}, "
                         f"this gncontrol reads version {SCHEMA_VERSION}")
    if kind is not None and record.get("kind") != kind:
        raise InputError(f"{path} holds a '{record.get('kind')}' checkpoint, expected '{kind}'")
    return record
