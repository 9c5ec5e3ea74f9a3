"""NRI / fNRI dataset generation with the published normalisation, written atomically to HDF5.

File schema (version `SCHEMA_VERSION`, read by `gncontrol.nri.dataset.load_nri_dataset`):
    /<split>/features  [S, N, T, D] float32   normalised node features per frame
    /<split>/edges     [S, L, E] int64         edge labels, E = N(N-1) ordered pairs (sender-major,
                                               no self loops), L label layers (1 for NRI systems)
    attrs: schema_version, system, n_balls, dims, layers (JSON), norm (JSON), seed, kind="nri"
Splits: train, valid, test. NRI: train/valid 49 frames, test 99; fNRI: every split 99 frames.
Normalisation (NRI code): scalar min-max to [-1, 1] of position and of velocity, with the
training set's extremes applied to every split; Kuramoto: see `_kuramoto_features`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np

from envs.particles import nri_systems as sims
from gncontrol.errors import InputError

__all__ = ["SCHEMA_VERSION", "SYSTEMS", "PUBLISHED_SIZES", "generate_dataset", "off_diagonal_labels"]

SCHEMA_VERSION = 1
SYSTEMS = ("springs", "charged", "kuramoto", "ic", "icf")
PUBLISHED_SIZES = {"n_train": 50_000, "n_valid": 10_000, "n_test": 10_000}
_CHUNK = 1000


def off_diagonal_labels(edges: np.ndarray) -> np.ndarray:
    """[..., N, N] label matrices -> [..., N(N-1)] in sender-major order without self loops."""
    n = edges.shape[-1]
    mask = ~np.eye(n, dtype=bool)
    return edges[..., mask]


def _frames(system: str, split: str) -> int:
    if system in ("ic", "icf"):
        return 99
    return 99 if split == "test" else 49


def _simulate(system: str, num: int, n_balls: int, n_frames: int, seed: int) -> dict:
    if system == "springs":
        return sims.simulate_springs(num, n_balls, n_frames=n_frames, seed=seed)
    if system == "charged":
        return sims.simulate_charged(num, n_balls, n_frames=n_frames, seed=seed)
    if system == "kuramoto":
        return sims.simulate_kuramoto(num, n_balls, n_frames=n_frames, seed=seed)
    layers = ("I", "C") if system == "ic" else ("I", "C", "F")
    return sims.simulate_multiplex(num, n_balls, layers=layers, n_frames=n_frames, seed=seed)


def _minmax(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (x - lo) * 2.0 / (hi - lo) - 1.0


def _particle_stats(raw: dict) -> dict:
    return {"loc_min": float(raw["loc"].min()), "loc_max": float(raw["loc"].max()),
            "vel_min": float(raw["vel"].min()), "vel_max": float(raw["vel"].max())}


def _particle_features(raw: dict, norm: dict) -> np.ndarray:
    """[S, T, 2, N] loc/vel -> [S, N, T, 4] = (x, y, vx, vy), each min-max normalised."""
    loc = _minmax(raw["loc"], norm["loc_min"], norm["loc_max"])
    vel = _minmax(raw["vel"], norm["vel_min"], norm["vel_max"])
    return np.concatenate([loc, vel], axis=2).transpose(0, 3, 1, 2).astype(np.float32)


def _kuramoto_stats(raw: dict) -> dict:
    phi = np.mod(raw["phi"], 2 * np.pi)
    return {"dphi_min": float(raw["dphi"].min()), "dphi_max": float(raw["dphi"].max()),
            "phi_min": float(phi.min()), "phi_max": float(phi.max()),
            "omega_min": float(raw["omega"].min()), "omega_max": float(raw["omega"].max())}


def _kuramoto_features(raw: dict, norm: dict) -> np.ndarray:
    """[S, T, N] phases -> [S, N, T, 4] = (dphi/dt, sin phi, phi mod 2pi, omega), min-max normalised
    except sin phi (already in [-1, 1]). [U]: the published feature normalisation is not in the papers."""
    phi = np.mod(raw["phi"], 2 * np.pi)
    omega = np.broadcast_to(raw["omega"][:, None, :], phi.shape)
    feats = np.stack([_minmax(raw["dphi"], norm["dphi_min"], norm["dphi_max"]), np.sin(raw["phi"]),
                      _minmax(phi, norm["phi_min"], norm["phi_max"]),
                      _minmax(omega, norm["omega_min"], norm["omega_max"])], axis=-1)
    return feats.transpose(0, 2, 1, 3).astype(np.float32)


def _atomic_h5(path: Path, write_fn) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            write_fn(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def generate_dataset(path: str | os.PathLike, system: str = "springs", n_balls: int = 5,
                     n_train: int = PUBLISHED_SIZES["n_train"], n_valid: int = PUBLISHED_SIZES["n_valid"],
                     n_test: int = PUBLISHED_SIZES["n_test"], seed: int = 0,
                     progress: bool = True) -> dict:
    """Simulates train/valid/test splits, normalises them with train statistics, writes HDF5.

    Why chunks: each chunk of <= 1000 trajectories is one vectorised simulation with its own
    seed (derived from `seed`), so the same seed gives the same file regardless of machine.
    Returns the file's attributes (including the normalisation statistics).
    """
    if system not in SYSTEMS:
        raise InputError(f"unknown NRI system '{system}'; choose one of {SYSTEMS}")
    if min(n_train, n_valid, n_test) < 1:
        raise InputError("n_train, n_valid and n_test must be >= 1")
    from tqdm import tqdm

    sizes = {"train": n_train, "valid": n_valid, "test": n_test}
    seq = np.random.SeedSequence(seed)
    split_seqs = dict(zip(sizes, seq.spawn(3)))
    total = sum(-(-n // _CHUNK) for n in sizes.values())
    bar = tqdm(total=total, desc=f"nri-data {system}", disable=not progress)
    raw_splits = {}
    for split, num in sizes.items():
        chunks = []
        chunk_seeds = split_seqs[split].generate_state(-(-num // _CHUNK))
        for c, start in enumerate(range(0, num, _CHUNK)):
            chunks.append(_simulate(system, min(_CHUNK, num - start), n_balls, _frames(system, split),
                                    int(chunk_seeds[c])))
            bar.update(1)
        raw_splits[split] = {k: np.concatenate([ch[k] for ch in chunks]) for k in chunks[0]
                             if isinstance(chunks[0][k], np.ndarray) and chunks[0][k].ndim > 0}
        if "layers" in chunks[0]:
            raw_splits[split]["layers"] = chunks[0]["layers"]
    bar.close()

    if system == "kuramoto":
        norm = _kuramoto_stats(raw_splits["train"])
        featurise = _kuramoto_features
    else:
        norm = _particle_stats(raw_splits["train"])
        featurise = _particle_features
    layers = list(raw_splits["train"].get("layers", {"springs": ("spring",), "charged": ("charge",),
                                                       "kuramoto": ("coupling",)}.get(system, ())))
    attrs = {"kind": "nri", "schema_version": SCHEMA_VERSION, "system": system, "n_balls": n_balls,
             "dims": 4, "layers": json.dumps(layers), "norm": json.dumps(norm), "seed": seed}

    def write(f: h5py.File) -> None:
        for key, value in attrs.items():
            f.attrs[key] = value
        for split, raw in raw_splits.items():
            g = f.create_group(split)
            g.create_dataset("features", data=featurise(raw, norm), compression="gzip", compression_opts=1)
            edges = raw["edges"]
            if edges.ndim == 3:  # [S, N, N] -> one layer
                edges = edges[:, None]
            g.create_dataset("edges", data=off_diagonal_labels(edges).astype(np.int64))

    _atomic_h5(Path(path), write)
    return {**attrs, "layers": layers, "norm": norm}
