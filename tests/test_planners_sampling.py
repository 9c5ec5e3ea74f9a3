"""CEM, MPPI and random shooting on the analytic point mass."""

import pytest
import torch
from test_planners_problems import TARGET, PointMass, TensorEnv, point_reward

from planners import CEMPlanner, MPPIPlanner, RandomShootingPlanner, cem_optimize, run_episode
from planners.base import Bounds, make_objective, predicted_return

LOW, HIGH = -torch.ones(2), torch.ones(2)


@pytest.mark.parametrize("make", [
    lambda: CEMPlanner(LOW, HIGH, horizon=12, population=100, elites=10, iterations=3),
    lambda: MPPIPlanner(LOW, HIGH, horizon=12, samples=100, iterations=2, temperature=0.5),
])
def test_sampling_planners_drive_point_mass_to_target(make):
    m = PointMass()
    env = TensorEnv(m, point_reward, torch.zeros(4), 40)
    res = run_episode(env, make(), m, point_reward, progress=False)
    assert torch.dist(env.x[:2], TARGET) < 0.15
    assert (res.actions >= -1).all() and (res.actions <= 1).all()


def test_cem_beats_random_shooting_with_the_same_samples():
    x0 = torch.zeros(4)
    m = PointMass()
    b = Bounds(LOW, HIGH)
    _, _, best, ret = cem_optimize(make_objective(m, point_reward, x0), b, torch.zeros(10, 2), torch.ones(10, 2),
                                   population=100, elites=10, iterations=4,
                                   generator=torch.Generator().manual_seed(0))
    rs = RandomShootingPlanner(LOW, HIGH, horizon=10, samples=400)
    rs.plan(m, point_reward, x0)
    assert ret > rs.last_return
    assert torch.isclose(predicted_return(m, point_reward, x0, best[None])[0], ret)


def test_cem_rejects_bad_elites_and_respects_tight_bounds():
    with pytest.raises(ValueError, match="elites"):
        CEMPlanner(LOW, HIGH, population=10, elites=20)
    m = PointMass()
    pl = CEMPlanner([-0.1, -0.1], [0.1, 0.1], horizon=5, population=50, elites=5, iterations=2)
    a = pl.plan(m, point_reward, torch.zeros(4))
    assert a.abs().max() <= 0.1 and pl.plan_.abs().max() <= 0.1


def test_cem_and_mppi_warm_start_shift_their_mean(monkeypatch):
    import planners.cem as cem_mod
    import planners.mppi as mppi_mod

    m = PointMass()
    cem_pl = CEMPlanner(LOW, HIGH, horizon=6, population=50, elites=5, iterations=2)
    mppi_pl = MPPIPlanner(LOW, HIGH, horizon=6, samples=50)
    for mod, name, pl in ((cem_mod, "cem_search", cem_pl), (mppi_mod, "mppi_optimize", mppi_pl)):
        pl.plan(m, point_reward, torch.zeros(4))
        first = pl.mean_.clone()
        seen = {}
        real = getattr(mod, name)

        def spy(*args, _real=real, seen=seen, **kw):
            seen["mean"] = args[2].clone()  # (objective, bounds, mean, ...)
            return _real(*args, **kw)

        monkeypatch.setattr(mod, name, spy)
        pl.plan(m, point_reward, torch.zeros(4))
        assert torch.allclose(seen["mean"][:-1], first[1:])
        assert torch.allclose(seen["mean"][-1], pl.bounds.center)
        pl.reset()
        assert pl.mean_ is None


def test_random_shooting_is_reproducible_and_discrete():
    m = PointMass()
    a1 = RandomShootingPlanner(LOW, HIGH, horizon=5, samples=30, seed=3).plan(m, point_reward, torch.zeros(4))
    a2 = RandomShootingPlanner(LOW, HIGH, horizon=5, samples=30, seed=3).plan(m, point_reward, torch.zeros(4))
    assert torch.equal(a1, a2)
    d = torch.tensor([[1.0, 0.0], [0.0, -1.0]])
    pl = RandomShootingPlanner(LOW, HIGH, horizon=5, samples=30, discrete_actions=d)
    pl.plan(m, point_reward, torch.zeros(4))
    assert all(any(torch.equal(row, r) for r in d) for row in pl.plan_)
