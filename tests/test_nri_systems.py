"""NRI / fNRI simulators: invariants (energy, symmetry, labels, walls, seeds)."""

import numpy as np
import pytest

from envs.particles.nri_systems import (
    charged_energy,
    simulate_charged,
    simulate_kuramoto,
    simulate_multiplex,
    simulate_springs,
    springs_energy,
)


def _symmetric_no_self(e: np.ndarray) -> bool:
    diag = np.diagonal(e, axis1=-2, axis2=-1)
    return bool((e == np.swapaxes(e, -1, -2)).all() and (diag == 0).all())


def test_springs_conserve_energy_while_walls_and_clipping_inactive():
    d = simulate_springs(200, 5, n_frames=49, seed=3)
    ok = ~d["walls_hit"] & ~d["clipped"]
    assert ok.sum() > 100  # most trajectories stay inside the box
    e = springs_energy(d["loc"], d["vel"], d["edges"][:, None])
    drift = np.abs(e - e[:, :1]).max(axis=1) / e[:, 0]
    assert drift[ok].max() < 5e-3  # leapfrog: bounded error O(dt)


def test_springs_without_walls_conserve_energy_and_walls_confine():
    d = simulate_springs(50, 5, n_frames=30, seed=4, loc_std=3.0, box_size=None, max_f=None)
    e = springs_energy(d["loc"], d["vel"], d["edges"][:, None])
    assert (np.abs(e - e[:, :1]).max(1) / e[:, 0]).max() < 1e-2
    w = simulate_springs(50, 5, n_frames=30, seed=4, loc_std=3.0)
    assert w["walls_hit"].any() and np.abs(w["loc"]).max() <= 5.0 + 1e-9


def test_energy_changes_when_a_wall_is_hit():
    """The flag is honest: a trajectory pushed into the wall gains/loses no energy at the wall
    (elastic) but the springs' potential then differs from the unwalled run."""
    a = simulate_springs(20, 5, n_frames=30, seed=5, loc_std=3.0, box_size=None)
    b = simulate_springs(20, 5, n_frames=30, seed=5, loc_std=3.0)
    same = ~b["walls_hit"]
    np.testing.assert_allclose(a["loc"][same], b["loc"][same])
    assert not np.allclose(a["loc"][~same], b["loc"][~same])


def test_graphs_symmetric_and_labels():
    s = simulate_springs(100, 5, n_frames=2, seed=0)
    assert _symmetric_no_self(s["edges"]) and 0.35 < s["edges"][:, ~np.eye(5, dtype=bool)].mean() < 0.65
    c = simulate_charged(100, 5, n_frames=2, seed=0)
    assert _symmetric_no_self(c["edges"])
    q = c["charges"]
    expect = ((q[:, :, None] * q[:, None, :] + 1) / 2)[:, ~np.eye(5, dtype=bool)]
    np.testing.assert_array_equal(c["edges"][:, ~np.eye(5, dtype=bool)], expect)
    m = simulate_multiplex(100, 5, layers=("I", "C", "F"), n_frames=2, seed=0)
    assert m["edges"].shape == (100, 3, 5, 5) and _symmetric_no_self(m["edges"])
    n_springs = m["edges"][:, 0].sum((1, 2)) // 2
    assert n_springs.min() >= 0 and n_springs.max() <= 10
    charged = m["charges"].sum(1)
    assert charged.min() >= 1 and charged.max() <= 5
    np.testing.assert_array_equal(m["edges"][:, 1], (m["charges"][:, :, None] * m["charges"][:, None, :]
                                                      * (1 - np.eye(5))).astype(int))


def test_charged_like_charges_repel():
    d = simulate_charged(1, 2, n_frames=5, sample_freq=10, seed=0, vel_norm=1e-9, box_size=None)
    q = d["charges"][0]
    r0 = np.linalg.norm(d["loc"][0, 0, :, 0] - d["loc"][0, 0, :, 1])
    r1 = np.linalg.norm(d["loc"][0, -1, :, 0] - d["loc"][0, -1, :, 1])
    assert (r1 > r0) == (q[0] * q[1] > 0)
    e = charged_energy(d["loc"], d["vel"], d["charges"][:, None])
    assert np.isfinite(e).all()


def test_kuramoto_directed_no_self_loops_and_phase_rate():
    d = simulate_kuramoto(20, 5, n_frames=20, seed=1)
    assert d["phi"].shape == (20, 20, 5)
    assert (np.diagonal(d["edges"], axis1=1, axis2=2) == 0).all()
    assert not (d["edges"] == d["edges"].transpose(0, 2, 1)).all()  # directed couplings
    # finite differences of the phase agree with the recorded rate
    fd = (d["phi"][:, 2:] - d["phi"][:, :-2]) / (2 * 0.1)
    assert np.abs(fd - d["dphi"][:, 1:-1]).mean() < 0.5


def test_seeded_and_bad_input():
    a = simulate_springs(5, 5, n_frames=3, seed=9)
    b = simulate_springs(5, 5, n_frames=3, seed=9)
    np.testing.assert_array_equal(a["loc"], b["loc"])
    with pytest.raises(ValueError):
        simulate_multiplex(2, 5, layers=("I", "X"))
    with pytest.raises(ValueError):
        simulate_springs(0, 5)
