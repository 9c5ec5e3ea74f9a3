"""HDF5 trajectory datasets: round trip, append, static graphs, and clear errors on bad files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from gncontrol.forward.datasets import (
    SCHEMA_VERSION,
    Trajectories,
    compact,
    concatenate,
    load_trajectories,
    write_trajectories,
)


def _fake(n_ep: int = 3, t: int = 4, seed: int = 0, task: str = "toy") -> Trajectories:
    rng = np.random.default_rng(seed)
    n, e, a = 3, 2, 1
    return Trajectories(
        states=rng.normal(size=(n_ep, t + 1, n, 13)).astype(np.float32),
        actions=rng.normal(size=(n_ep, t, a)).astype(np.float32),
        rewards=rng.normal(size=(n_ep, t)).astype(np.float32),
        static_nodes=rng.normal(size=(n_ep, n, 19)).astype(np.float32),
        static_edges=rng.normal(size=(n_ep, e, 23)).astype(np.float32),
        static_globals=rng.normal(size=(n_ep, 12)).astype(np.float32),
        senders=np.array([0, 1]), receivers=np.array([1, 2]), edge_actuator=np.array([-1, 0]),
        metadata={"task": task, "seed": seed, "controller": "uniform",
                  "parameters": [{"mass_scale": [1.0, float(i)]} for i in range(n_ep)]},
    )


def test_round_trip(tmp_path):
    d = _fake()
    write_trajectories(tmp_path / "a.h5", d)
    back = load_trajectories(tmp_path / "a.h5")
    for f in ("states", "actions", "rewards", "static_nodes", "static_edges", "static_globals", "senders",
              "receivers", "edge_actuator"):
        assert np.array_equal(getattr(back, f), getattr(d, f)), f
    assert back.metadata["parameters"] == d.metadata["parameters"]
    assert back.metadata["schema_version"] == SCHEMA_VERSION


def test_append_and_compact_are_canonical(tmp_path):
    a, b = _fake(2, seed=1), _fake(3, seed=2)
    write_trajectories(tmp_path / "x.h5", a)
    write_trajectories(tmp_path / "x.h5", b, append=True)
    x = load_trajectories(tmp_path / "x.h5")
    assert x.num_episodes == 5
    assert np.array_equal(x.states, np.concatenate([a.states, b.states]))
    assert len(x.metadata["parameters"]) == 5
    compact(tmp_path / "x.h5")
    write_trajectories(tmp_path / "y.h5", concatenate([a, b]))
    assert (tmp_path / "x.h5").read_bytes() == (tmp_path / "y.h5").read_bytes()
    with pytest.raises(ValueError, match="cannot join task"):
        write_trajectories(tmp_path / "x.h5", _fake(task="other"), append=True)


def test_static_graph_batches_selected_episodes():
    d = _fake(4)
    g = d.static_graph([1, 3]).validate()
    assert g.num_graphs == 2
    assert torch.allclose(g.nodes[3:], torch.as_tensor(d.static_nodes[3]))
    assert g.senders.tolist() == [0, 1, 3, 4] and g.receivers.tolist() == [1, 2, 4, 5]
    assert d.select([0, 2]).metadata["parameters"][1] == d.metadata["parameters"][2]


def test_truncated_file_is_a_clear_error(tmp_path):
    write_trajectories(tmp_path / "a.h5", _fake(8, t=50))
    raw = (tmp_path / "a.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_trajectories(tmp_path / "cut.h5")


def test_foreign_and_other_version_files(tmp_path):
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="not a gncontrol trajectory file"):
        load_trajectories(tmp_path / "foreign.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_trajectories(tmp_path / "text.h5")
    write_trajectories(tmp_path / "v.h5", _fake())
    with h5py.File(tmp_path / "v.h5", "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ValueError, match="schema version"):
        load_trajectories(tmp_path / "v.h5")
    with pytest.raises(FileNotFoundError):
        load_trajectories(tmp_path / "missing.h5")


def test_inconsistent_shapes_rejected(tmp_path):
    d = _fake()
    d.rewards = d.rewards[:, :2]
    with pytest.raises(ValueError, match="rewards has shape"):
        write_trajectories(tmp_path / "bad.h5", d)
