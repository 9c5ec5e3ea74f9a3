"""Integrators and symplectic gradients: closed forms, energy behaviour, reversibility, order."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gncontrol.hamiltonian.integrators import INTEGRATORS, get_integrator, integrate, solve_ivp_ground_truth
from gncontrol.hamiltonian.vector_fields import canonical_matrix, grad_h, symplectic_gradient


@pytest.fixture(autouse=True)
def float64_default():
    """These tests check round-off-level identities: run them in float64, then restore."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def pendulum_h(x):
    return 3 * (1 - torch.cos(x[:, 0])) + x[:, 1] ** 2


def pendulum_field(x):
    """Closed form of (dH/dp, -dH/dq) for H = 3(1 - cos q) + p^2."""
    return torch.stack([2 * x[:, 1], -3 * torch.sin(x[:, 0])], -1)


def test_symplectic_gradient_matches_closed_form():
    x = torch.randn(64, 2) * 2
    got = symplectic_gradient(pendulum_h, x)
    torch.testing.assert_close(got, pendulum_field(x))
    # 4-D separable H = |q|^2 / 2 + |p|^2: field = (2p, -q), also = J grad H
    h = lambda x: 0.5 * (x[:, :2] ** 2).sum(-1) + (x[:, 2:] ** 2).sum(-1)  # noqa: E731
    x4 = torch.randn(8, 4)
    torch.testing.assert_close(symplectic_gradient(h, x4), torch.cat([2 * x4[:, 2:], -x4[:, :2]], -1))
    torch.testing.assert_close(symplectic_gradient(h, x4), grad_h(h, x4) @ canonical_matrix(4).T)


def test_symplectic_gradient_is_differentiable_in_parameters():
    w = torch.tensor(2.0, requires_grad=True)
    x = torch.randn(5, 2)
    f = symplectic_gradient(lambda x: w * x[:, 0] ** 2 + x[:, 1] ** 2, x)
    f.sum().backward()
    torch.testing.assert_close(w.grad, -2 * x[:, 0].sum())


def energy_errors(method: str, steps: int, dt: float = 0.1) -> tuple[float, float, float]:
    """(max |H - H0| over the first 10% of steps, over all steps, |H - H0| at the end)."""
    x0 = torch.tensor([[1.0, 0.0], [2.0, 0.5], [0.3, -1.0]])
    h0 = pendulum_h(x0)
    x = x0
    step = get_integrator(method)
    early = full = 0.0
    for i in range(steps):
        x = step(pendulum_field, x, dt)
        err = float((pendulum_h(x) - h0).abs().max())
        full = max(full, err)
        if i < steps // 10:
            early = full
    return early, full, float((pendulum_h(x) - h0).abs().min())


def test_leapfrog_energy_bounded_over_1e4_steps_while_euler_drifts():
    lf_early, lf_max, _ = energy_errors("leapfrog", 10_000)
    eu_early, _, eu_end = energy_errors("euler", 10_000)
    assert lf_max < 0.1  # bounded, O(dt^2)
    assert lf_max < 1.1 * lf_early + 1e-9  # no growth between 1e3 and 1e4 steps
    assert eu_end > 1.0  # Euler gains energy steadily on every trajectory
    assert eu_end > 2 * eu_early and eu_end > 20 * lf_max


@pytest.mark.parametrize("method", ["leapfrog", "symplectic_euler"])
def test_symplectic_integrators_preserve_area(method):
    """det of the one-step Jacobian is 1 for a separable H."""
    x = torch.tensor([0.7, -0.4])
    step = get_integrator(method)
    jac = torch.autograd.functional.jacobian(lambda v: step(pendulum_field, v[None], 0.2)[0], x)
    assert abs(float(torch.det(jac)) - 1.0) < 1e-12
    jac_e = torch.autograd.functional.jacobian(lambda v: get_integrator("euler")(pendulum_field, v[None], 0.2)[0], x)
    assert abs(float(torch.det(jac_e)) - 1.0) > 1e-3


def test_forward_then_backward_returns_to_start():
    x0 = torch.randn(16, 2)
    fwd = integrate(pendulum_field, x0, 0.05, 400, "leapfrog")[:, -1]
    back = integrate(pendulum_field, fwd, -0.05, 400, "leapfrog")[:, -1]
    assert float((back - x0).abs().max()) < 1e-10  # exact up to round-off
    fwd4 = integrate(pendulum_field, x0, 0.05, 400, "rk4")[:, -1]
    back4 = integrate(pendulum_field, fwd4, -0.05, 400, "rk4")[:, -1]
    assert 1e-8 < float((back4 - x0).abs().max()) < 1e-2  # RK4: only to its truncation error


@pytest.mark.parametrize("method,order", [("euler", 1), ("rk2", 2), ("rk3", 3), ("rk4", 4),
                                          ("leapfrog", 2), ("symplectic_euler", 1)])
def test_convergence_order(method, order):
    """Mass-spring H = q^2 + p^2 has exact solution a rotation at angular speed 2."""
    field = lambda x: torch.stack([2 * x[:, 1], -2 * x[:, 0]], -1)  # noqa: E731
    x0 = torch.tensor([[1.0, 0.0]])
    t_end = 1.0
    exact = torch.tensor([[math.cos(2 * t_end), -math.sin(2 * t_end)]])
    errs = []
    for n in (50, 100):
        xt = integrate(field, x0, t_end / n, n, method)[:, -1]
        errs.append(float((xt - exact).norm()))
    rate = math.log2(errs[0] / errs[1])
    assert abs(rate - order) < 0.3, (method, rate)


def test_solve_ivp_ground_truth_matches_closed_form():
    f = lambda y: np.stack([2 * y[:, 1], -2 * y[:, 0]], -1)  # noqa: E731
    t = np.linspace(0, 5, 11)
    traj = solve_ivp_ground_truth(f, np.array([[1.0, 0.0], [0.0, 2.0]]), t)
    assert traj.shape == (2, 11, 2)
    np.testing.assert_allclose(traj[0, :, 0], np.cos(2 * t), atol=1e-8)
    np.testing.assert_allclose(traj[1, :, 1], 2 * np.cos(2 * t), atol=1e-8)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown integrator"):
        get_integrator("rk5")
    with pytest.raises(ValueError, match="even size"):
        get_integrator("leapfrog")(pendulum_field, torch.zeros(2, 3), 0.1)
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        integrate(pendulum_field, torch.zeros(3), 0.1, 2)
    assert set(INTEGRATORS) >= {"euler", "rk2", "rk3", "rk4", "leapfrog", "symplectic_euler"}


def test_metrics_time_reversal_energy_and_derivative():
    from gncontrol.hamiltonian.metrics import (
        derivative_mse,
        energy_mse,
        fixed_step_rollout,
        model_rollout_ivp,
        time_reversal_error,
    )

    x0 = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    assert time_reversal_error(pendulum_field, x0, 0.1, 200, "leapfrog") < 1e-12
    assert time_reversal_error(pendulum_field, x0, 0.1, 200, "euler") > 1e-3
    assert derivative_mse(pendulum_field, x0, pendulum_field(x0)) == 0.0
    traj = fixed_step_rollout(pendulum_field, x0, 0.05, 40, "rk4")
    assert traj.shape == (2, 41, 2)
    t = np.linspace(0, 2, 41)
    ivp = model_rollout_ivp(pendulum_field, x0.numpy(), t, dtype=torch.float64)
    np.testing.assert_allclose(ivp, traj.numpy(), atol=1e-5)
    energy = lambda x: 3 * (1 - np.cos(x[..., 0])) + x[..., 1] ** 2  # noqa: E731
    assert energy_mse(energy, ivp, traj.numpy()) < 1e-10
    assert energy_mse(energy, ivp, ivp * 0.9) > 1e-3
