"""HDF5 trajectory datasets: one file per task, fixed topology per file, versioned schema.

File layout (all arrays float32 except index arrays int64):
    states        [n_ep, T+1, N, 13]  body states (pos, quat wxyz, linvel, angvel)
    actions       [n_ep, T, A]
    rewards       [n_ep, T]           reward of reaching states[:, t+1] with actions[:, t]
    static_nodes  [n_ep, N, Fv]       per-episode static graph (reflects randomised parameters)
    static_edges  [n_ep, E, Fe]
    static_globals[n_ep, Fu]
    senders, receivers, edge_actuator [E]  (edge_actuator: actuator index per edge, -1 if none)
    metadata_json  a JSON string (task, seed, controller, timestep, ..., and per-episode lists;
                  the file-level seed/controller/randomise are the first collection's, the
                  per-episode "provenance" list says how each episode was made)
    attrs: format = "gncontrol-trajectories", schema_version

Writes are atomic (temp file in the same folder, then rename), appends included (the old
file is copied, extended, renamed over), so an interrupted write never corrupts a file.
Loading validates format, schema version and shapes: a truncated, foreign or other-version
file is a one-line ValueError, never silent garbage. Core module: no envs import.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from gncontrol.checkpoints import atomic_write
from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph, tile

SCHEMA_VERSION = 1
FORMAT = "gncontrol-trajectories"
STATE_SIZE = 13
# metadata keys holding one entry per episode: concatenated on append
PER_EPISODE_KEYS = ("parameters", "episode_seeds", "targets", "provenance")
# the file-level keys a provenance entry records per episode (the file level describes the first collection)
PROVENANCE_KEYS = ("controller", "seed", "randomise")

__all__ = ["SCHEMA_VERSION", "Trajectories", "write_trajectories", "load_trajectories",
           "concatenate", "compact", "episode_provenance"]

_FLOAT_FIELDS = ("states", "actions", "rewards", "static_nodes", "static_edges", "static_globals")
_INDEX_FIELDS = ("senders", "receivers", "edge_actuator")


@dataclasses.dataclass
class Trajectories:
    """Episodes of one system (fixed topology) as numpy arrays; shapes in the module doc."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    static_nodes: np.ndarray
    static_edges: np.ndarray
    static_globals: np.ndarray
    senders: np.ndarray
    receivers: np.ndarray
    edge_actuator: np.ndarray
    metadata: dict = dataclasses.field(default_factory=dict)

    @property
    def num_episodes(self) -> int:
        """n_ep."""
        return int(self.states.shape[0])

    @property
    def episode_length(self) -> int:
        """T (transitions per episode)."""
        return int(self.actions.shape[1])

    def validate(self) -> Trajectories:
        """Raises a one-line ValueError if shapes disagree; returns self."""
        s = self.states
        if s.ndim != 4 or s.shape[-1] != STATE_SIZE:
            raise InputError(f"states must be [n_ep, T+1, N, {STATE_SIZE}], got {s.shape}")
        n_ep, t1, n = s.shape[:3]
        e = self.senders.shape[0]
        expect = {
            "actions": (n_ep, t1 - 1, None), "rewards": (n_ep, t1 - 1),
            "static_nodes": (n_ep, n, None), "static_edges": (n_ep, e, None),
            "static_globals": (n_ep, None), "receivers": (e,), "edge_actuator": (e,),
        }
        for name, shape in expect.items():
            arr = getattr(self, name)
            if arr.ndim != len(shape) or any(x is not None and x != y for x, y in zip(shape, arr.shape)):
                raise InputError(f"{name} has shape {arr.shape}, expected {shape} (None = any)")
        if e and (self.senders.min() < 0 or max(self.senders.max(), self.receivers.max()) >= n):
            raise InputError(f"senders/receivers must index nodes in [0, {n})")
        return self

    def static_graph(self, episode_indices: Any = None, device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> Graph:
        """Batch of the static graphs of `episode_indices` (default all): B graphs, same topology."""
        idx = np.arange(self.num_episodes) if episode_indices is None else np.asarray(episode_indices)
        idx = np.atleast_1d(idx)
        b = len(idx)
        t = lambda x: torch.as_tensor(np.ascontiguousarray(x), dtype=dtype, device=device)  # noqa: E731
        one = Graph.from_single(t(self.static_nodes[0]), t(self.static_edges[0]), t(self.static_globals[0]),
                                torch.as_tensor(self.senders, device=device),
                                torch.as_tensor(self.receivers, device=device))
        return tile(one, b).replace(nodes=t(self.static_nodes[idx].reshape(-1, self.static_nodes.shape[-1])),
                                    edges=t(self.static_edges[idx].reshape(-1, self.static_edges.shape[-1])),
                                    globals=t(self.static_globals[idx].reshape(b, -1)))

    def select(self, episode_indices: Any) -> Trajectories:
        """A Trajectories with only the given episodes (per-episode metadata sliced too)."""
        idx = np.atleast_1d(np.asarray(episode_indices))
        meta = dict(self.metadata)
        for k in PER_EPISODE_KEYS:
            if isinstance(meta.get(k), list) and len(meta[k]) == self.num_episodes:
                meta[k] = [meta[k][i] for i in idx]
        return dataclasses.replace(
            self, **{f: getattr(self, f)[idx] for f in _FLOAT_FIELDS}, metadata=meta)


def episode_provenance(data: Trajectories) -> list[dict]:
    """One dict per episode: how it was made (controller, seed, randomise, and for collected data
    the `gncontrol collect` options). Files written before provenance was recorded get it from
    their file-level metadata and per-episode seeds, marked "inferred": True (their controller and
    randomise are the first collection's, which an old append may not have kept)."""
    prov = data.metadata.get("provenance")
    if isinstance(prov, list) and len(prov) == data.num_episodes:
        return prov
    seeds = data.metadata.get("episode_seeds")
    seeds = seeds if isinstance(seeds, list) and len(seeds) == data.num_episodes else [None] * data.num_episodes
    base = {k: data.metadata.get(k) for k in PROVENANCE_KEYS}
    pair = lambda s: isinstance(s, list) and len(s) == 2  # noqa: E731 - [seed, episode], always per episode
    return [{**base, "seed": s[0] if pair(s) else base["seed"], "episode": s[1] if pair(s) else None,
             "inferred": True} for s in seeds]


def concatenate(parts: list[Trajectories]) -> Trajectories:
    """Episodes of several Trajectories of the same system in one (per-episode metadata joined)."""
    if not parts:
        raise InputError("concatenate() needs at least one Trajectories")
    first = parts[0]
    for p in parts[1:]:
        if not (np.array_equal(p.senders, first.senders) and np.array_equal(p.receivers, first.receivers)
                and p.states.shape[1:] == first.states.shape[1:]
                and p.actions.shape[1:] == first.actions.shape[1:]):
            raise InputError("concatenate() needs trajectories of one topology and episode length")
        if p.metadata.get("task") != first.metadata.get("task"):
            raise InputError(f"cannot join task {p.metadata.get('task')!r} to {first.metadata.get('task')!r}")
    meta = dict(first.metadata)
    for k in PER_EPISODE_KEYS:
        if all(isinstance(p.metadata.get(k), list) for p in parts):
            meta[k] = [x for p in parts for x in p.metadata[k]]
    if any("provenance" in p.metadata for p in parts):  # an old file's episodes: from its file-level metadata
        meta["provenance"] = [x for p in parts for x in episode_provenance(p)]
    arrays = {f: np.concatenate([getattr(p, f) for p in parts]) for f in _FLOAT_FIELDS}
    return dataclasses.replace(first, **arrays, metadata=meta)


def _write(path: str, data: Trajectories) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["schema_version"] = SCHEMA_VERSION
        for name in _FLOAT_FIELDS:
            arr = np.asarray(getattr(data, name), dtype=np.float32)
            f.create_dataset(name, data=arr, maxshape=(None,) + arr.shape[1:], track_times=False,
                             chunks=(1,) + arr.shape[1:] if arr.size else True)
        for name in _INDEX_FIELDS:
            f.create_dataset(name, data=np.asarray(getattr(data, name), dtype=np.int64), track_times=False)
        meta = {**data.metadata, "schema_version": SCHEMA_VERSION}
        f.create_dataset("metadata_json", data=json.dumps(meta, sort_keys=True, default=_json_default),
                         track_times=False)


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"metadata value of type {type(x).__name__} is not JSON-serialisable")


def write_trajectories(path: str | os.PathLike, data: Trajectories, append: bool = False) -> None:
    """Writes (or appends to) an HDF5 trajectory file atomically: temp file + rename.

    A fresh write is byte-deterministic (no HDF5 timestamps); `compact(path)` rewrites an
    appended file into that canonical form.
    """
    data.validate()
    path = Path(path)
    if append and path.exists():
        old = load_trajectories(path)
        joined = concatenate([old, data])

        def write_appended(tmp: str) -> None:
            shutil.copyfile(path, tmp)
            with h5py.File(tmp, "a") as f:
                n_old = old.num_episodes
                for name in _FLOAT_FIELDS:
                    arr = np.asarray(getattr(data, name), dtype=np.float32)
                    ds = f[name]
                    ds.resize(n_old + arr.shape[0], axis=0)
                    ds[n_old:] = arr
                del f["metadata_json"]
                meta = {**joined.metadata, "schema_version": SCHEMA_VERSION}
                f.create_dataset("metadata_json", track_times=False,
                                 data=json.dumps(meta, sort_keys=True, default=_json_default))
        atomic_write(path, write_appended)
    else:
        atomic_write(path, lambda tmp: _write(tmp, data))


def compact(path: str | os.PathLike) -> None:
    """Rewrites a (possibly many times appended) file in one atomic write: canonical bytes."""
    write_trajectories(path, load_trajectories(path))


def load_trajectories(path: str | os.PathLike) -> Trajectories:
    """Loads and validates a trajectory file; bad, truncated, foreign or other-version -> ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trajectory file not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise InputError(f"{path} is not a gncontrol trajectory file (format attribute "
                                 f"{f.attrs.get('format')!r})")
            version = int(f.attrs.get("schema_version", -1))
            if version != SCHEMA_VERSION:
                raise InputError(f"{path} has trajectory schema version {version}, this gncontrol "
                                 f"reads version {SCHEMA_VERSION}")
            missing = [k for k in _FLOAT_FIELDS + _INDEX_FIELDS + ("metadata_json",) if k not in f]
            if missing:
                raise InputError(f"{path} lacks datasets {missing}")
            arrays = {k: f[k][()] for k in _FLOAT_FIELDS + _INDEX_FIELDS}
            raw = f["metadata_json"][()]
            meta = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError/KeyError/... on damaged files
        raise InputError(f"corrupt or truncated trajectory file {path}: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    data = Trajectories(**arrays, metadata=meta)
    try:
        data.validate()
    except ValueError as exc:
        raise InputError(f"inconsistent trajectory file {path}: {exc}") from None
    return data
