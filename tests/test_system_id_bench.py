"""Helpers of benchmarks/system_id.py: which parameters the linear probe is asked for."""

from __future__ import annotations

import numpy as np
from _bench import load_benchmark


def test_parameter_table_keeps_varying_scales_and_adds_mass_times_length_squared():
    """Constant scales are dropped; a body whose mass and length both vary gets an m*l^2 column."""
    parameter_table = load_benchmark("system_id").parameter_table
    params = [{"mass_scale": [1.0, 0.5, 2.0], "length_scale": [1.0, 1.0, 3.0], "damping_scale": [1.0, 1.0]},
              {"mass_scale": [1.0, 1.0, 1.0], "length_scale": [1.0, 2.0, 1.0], "damping_scale": [1.0, 2.0]}]
    names, table = parameter_table(params)
    assert names == ["mass[1]", "mass[2]", "length[1]", "length[2]", "damping[1]", "m*l^2[1]", "m*l^2[2]"]
    np.testing.assert_allclose(table[:, 5], [0.5, 4.0])
    np.testing.assert_allclose(table[:, 6], [18.0, 1.0])


def test_r2_interval_brackets_the_probe_and_is_tight_for_an_exact_relation():
    """Bootstrap percentiles of the test R^2: [1, 1] for y linear in x, around the estimate with noise."""
    bench = load_benchmark("system_id")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = np.c_[x @ [1.0, -2.0, 0.5], x[:, 0] + rng.normal(size=400)]
    r2 = bench.r2_scores(x[:300], y[:300], x[300:], y[300:])
    lo, hi = bench.r2_interval(x[:300], y[:300], x[300:], y[300:], draws=200)
    np.testing.assert_allclose([lo[0], hi[0]], 1.0, atol=1e-4)  # ridge shrinks a little
    assert lo[1] < r2[1] < hi[1] and 0.2 < lo[1] and hi[1] < 0.8  # true R^2 is 0.5
