"""benchmarks/parameter_sensitivity.py: re-simulated episodes, and the metric on numpy arrays."""

from __future__ import annotations

import numpy as np
import pytest
from _bench import load_benchmark

from envs.tasks import get_task


def test_normalised_error_is_zero_for_the_truth_and_one_for_the_constant_model():
    """The forward-model metric: 0 for a perfect prediction, 1 for copying the start state."""
    bench = load_benchmark("parameter_sensitivity")
    rng = np.random.default_rng(0)
    true = rng.normal(size=(3, 5, 2, 13))
    start = rng.normal(size=(3, 2, 13))
    assert bench.normalised_error(true, true, start) == 0.0
    np.testing.assert_allclose(bench.normalised_error(np.repeat(start[:, None], 5, 1), true, start), 1.0)


def test_rerun_reproduces_an_episode_and_a_mass_reset_changes_only_what_follows_the_window():
    """Same seed, no reset: the recorded states; pendulum mass reset at step WINDOW: same window, other motion."""
    from envs.collect import collect_episode

    bench = load_benchmark("parameter_sensitivity")
    steps = bench.WINDOW + 10
    ep = collect_episode("pendulum-swingup", seed=5, episode=3, steps=steps, randomise=True)
    params, actions = ep["parameters"], ep["actions"]
    assert abs(params["mass_scale"][1] - 1.0) > 0.05
    same = bench.rerun("pendulum-swingup", 5, 3, steps, params, [], actions)["states"]
    np.testing.assert_array_equal(same, ep["states"])
    reset = bench.rerun("pendulum-swingup", 5, 3, steps, params, [("mass_scale", 1)], actions)
    np.testing.assert_array_equal(reset["states"][:bench.WINDOW + 1], ep["states"][:bench.WINDOW + 1])
    assert np.abs(reset["states"][-1] - ep["states"][-1]).max() > 1e-4
    nominal_mass = get_task("pendulum-swingup").graph().static_arrays()[0][1, 0]
    assert reset["static_nodes"][1, 0] == pytest.approx(nominal_mass)  # its static graph: the reset system's
    assert ep["static_nodes"][1, 0] != pytest.approx(nominal_mass)
