"""Atomic, versioned checkpoints: config + weights + normalisers + training state.

Written to a temporary file in the same folder, fsynced, then renamed over the target, so
a run killed mid-write never leaves a half-written checkpoint.

Loading never runs code from the file: `torch.load(weights_only=True)` accepts only tensors
and plain data (dicts, lists, tuples, str, int, float, bool, None), plus numpy scalars
(which checkpoints written before this rule may hold). A file that needs anything else to
unpickle (a crafted `__reduce__` calling os.system, ...) is refused with one line before any
of it runs. `save_checkpoint` stores plain data only (`to_plain`), and both saving and
loading refuse non-finite (NaN/inf) floating tensors.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import pickle
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch

from gncontrol.errors import InputError

SCHEMA_VERSION = 1

__all__ = ["SCHEMA_VERSION", "atomic_write", "save_checkpoint", "load_checkpoint", "to_plain",
           "count_non_finite"]

# numpy scalars (np.float64 accuracies, ...) in checkpoints written before configs were made
# plain; rebuilding one makes a number from its dtype and bytes, nothing else. Arrays are not allowed.
_NP_CORE = getattr(np, "_core", None) or np.core
_NUMPY_SCALAR_GLOBALS: list[Any] = [
    (_NP_CORE.multiarray.scalar, "numpy._core.multiarray.scalar"),
    (_NP_CORE.multiarray.scalar, "numpy.core.multiarray.scalar"),  # written under numpy 1.x
    np.dtype] + [type(np.dtype(t)) for t in ("float16", "float32", "float64", "int8", "int16", "int32", "int64",
                                             "uint8", "uint16", "uint32", "uint64", "bool")]


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


def to_plain(x: Any) -> Any:
    """`x` as data `torch.load(weights_only=True)` reads back: tensors, dicts, lists, tuples, str,
    int, float, bool, None. Dataclasses become dicts, numpy scalars/arrays Python numbers/lists,
    paths strings; OrderedDicts (state dicts, with their `_metadata`) and Counters (a scheduler's
    milestones) keep their type, which weights_only reads.
    Anything else is a TypeError (a save site holding an object that would need pickling)."""
    if x is None or isinstance(x, (torch.Tensor, torch.Size)) or type(x) in (bool, int, float, str):
        return x
    if isinstance(x, np.generic):  # np.float64 (a float subclass), np.int64, np.bool_, ...
        return x.item()
    for base in (bool, int, float, str):  # other subclasses (IntEnum, ...)
        if isinstance(x, base):
            return base(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, PurePath):
        return str(x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return to_plain(dataclasses.asdict(x))
    if isinstance(x, dict):
        out = type(x)() if type(x) in (collections.OrderedDict, collections.Counter) else {}
        for k, v in x.items():
            out[to_plain(k)] = to_plain(v)
        if hasattr(x, "_metadata"):  # a module's state dict: load_state_dict reads its versions
            out._metadata = x._metadata
        return out
    if isinstance(x, tuple):
        return tuple(to_plain(v) for v in x)
    if isinstance(x, list):
        return [to_plain(v) for v in x]
    raise TypeError(f"a checkpoint holds only plain data and tensors, not {type(x).__module__}."
                    f"{type(x).__qualname__}")


def _float_tensors(x: Any, where: str) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(x, torch.Tensor):
        if x.is_floating_point() or x.is_complex():
            yield where, x
    elif isinstance(x, dict):
        for k, v in x.items():
            yield from _float_tensors(v, f"{where}.{k}" if where else str(k))
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from _float_tensors(v, f"{where}[{i}]")


def count_non_finite(x: Any) -> tuple[int, list[str]]:
    """(number of NaN/inf values, names of the entries holding them) in the floating tensors of `x`."""
    total, names = 0, []
    for name, t in _float_tensors(x, ""):
        n = int((~torch.isfinite(t.detach())).sum())
        if n:
            total += n
            names.append(name)
    return total, names


def _non_finite_message(n: int, names: list[str]) -> str:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{n} non-finite (NaN/inf) value{'s' if n != 1 else ''} in {shown}"


def save_checkpoint(path: str | os.PathLike, kind: str, payload: dict[str, Any]) -> None:
    """Saves `payload` (tensors and plain data, see `to_plain`) tagged with `kind` and the schema
    version; non-finite weights are an InputError and nothing is written."""
    record = to_plain({"schema_version": SCHEMA_VERSION, "kind": kind, **payload})
    n, names = count_non_finite(record)
    if n:
        raise InputError(f"not saving checkpoint {path}: {_non_finite_message(n, names)}")
    atomic_write(path, lambda tmp: torch.save(record, tmp))


def _last_line(exc: BaseException) -> str:
    """The exception's most specific line (torch's weights_only errors bury it in a long text)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.startswith("Check the doc")]
    return lines[-1] if lines else ""


def load_checkpoint(path: str | os.PathLike, kind: str | None = None,
                    map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """Loads a checkpoint without running code from it; a missing, corrupt, unsafe, foreign,
    other-version or non-finite file is an InputError (FileNotFoundError when missing)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(_NUMPY_SCALAR_GLOBALS):
            record = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if found:  # weights_only refused a class or function: a crafted or foreign pickle
            raise InputError(f"{path} is not a safe gncontrol checkpoint (unpickling it needs "
                             f"{found.group(1)}); refusing to load it") from None
        raise InputError(f"corrupt checkpoint {path}: {type(exc).__name__}: {_last_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - any other unpickling failure means a bad file
        raise InputError(f"corrupt checkpoint {path}: {type(exc).__name__}: {_last_line(exc)}") from None
    if not isinstance(record, dict) or "schema_version" not in record:
        raise InputError(f"{path} is not a gncontrol checkpoint")
    if record["schema_version"] != SCHEMA_VERSION:
        raise InputError(f"{path} has checkpoint schema version {record['schema_version']}, "
                         f"this gncontrol reads version {SCHEMA_VERSION}")
    if kind is not None and record.get("kind") != kind:
        raise InputError(f"{path} holds a '{record.get('kind')}' checkpoint, expected '{kind}'")
    n, names = count_non_finite(record)
    if n:
        raise InputError(f"{path} has {_non_finite_message(n, names)}; refusing to load it")
    return to_plain(record)
