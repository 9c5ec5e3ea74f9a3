"""Differentiable, batched ODE integrators for phase-space states, plus a scipy ground truth.

A vector field is a function `f(x) -> dx/dt` on states x [B, D]. For the symplectic
integrators (leapfrog, symplectic Euler) the state is canonical, x = (q, p) with q the first
D/2 columns and p the last D/2, and `f` returns (dq/dt, dp/dt) in the same layout.

Explicit leapfrog and symplectic Euler are exactly symplectic (and leapfrog time-reversible)
only for a separable H = T(p) + V(q): then dq/dt depends on p alone and dp/dt on q alone.
For a non-separable H they are still second/first-order accurate but only approximately
symplectic. Every step is plain torch arithmetic, so gradients flow through `dt` unrolls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from gncontrol.errors import InputError

Tensor = torch.Tensor
VectorField = Callable[[Tensor], Tensor]
StepFn = Callable[[VectorField, Tensor, float], Tensor]

__all__ = [
    "VectorField", "StepFn", "euler_step", "rk2_step", "rk3_step", "rk4_step", "leapfrog_step",
    "symplectic_euler_step", "INTEGRATORS", "SYMPLECTIC", "get_integrator", "integrate",
    "solve_ivp_ground_truth",
]


def euler_step(f: VectorField, x: Tensor, dt: float) -> Tensor:
    """One explicit Euler (RK1) step: x + dt f(x)."""
    return x + dt * f(x)


def rk2_step(f: VectorField, x: Tensor, dt: float) -> Tensor:
    """One midpoint (RK2) step."""
    k1 = f(x)
    return x + dt * f(x + 0.5 * dt * k1)


def rk3_step(f: VectorField, x: Tensor, dt: float) -> Tensor:
    """One Kutta third-order (RK3) step."""
    k1 = f(x)
    k2 = f(x + 0.5 * dt * k1)
    k3 = f(x - dt * k1 + 2.0 * dt * k2)
    return x + dt / 6.0 * (k1 + 4.0 * k2 + k3)


def rk4_step(f: VectorField, x: Tensor, dt: float) -> Tensor:
    """One classical fourth-order Runge-Kutta (RK4) step."""
    k1 = f(x)
    k2 = f(x + 0.5 * dt * k1)
    k3 = f(x + 0.5 * dt * k2)
    k4 = f(x + dt * k3)
    return x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def _split(x: Tensor) -> tuple[Tensor, Tensor]:
    d = x.shape[-1]
    if d % 2:
        raise InputError(f"a symplectic integrator needs a (q, p) state of even size, got {d}")
    return x[..., : d // 2], x[..., d // 2:]


def leapfrog_step(f: VectorField, x: Tensor, dt: float) -> Tensor:
    """One kick-drift-kick leapfrog (Stormer-Verlet) step on x = (q, p).

    p_half = p + dt/2 dp/dt(q, p); q' = q + dt dq/dt(q, p_half); p' = p_half + dt/2 dp/dt(q', p_half).
    Symplectic and time-reversible (a step with -dt undoes it) for separable H.
    """
    q, p = _split(x)
    n = q.shape[-1]
    p_half = p + 0.5 * dt * f(x)[..., n:]
    q_new = q + dt * f(torch.cat([q, p_half], -1))[..., :n]
    p_new = p_half + 0.5 * dt * f(torch.cat([q_new, p_half], -1))[..., n:]
    return torch.cat([q_new, p_new], -1)


def symplectic_euler_step(f: VectorField, x: Tensor, dt: float) -> Tensor:
    """One symplectic Euler step on x = (q, p): kick p with dp/dt(q, p), then drift q with p'."""
    q, p = _split(x)
    n = q.shape[-1]
    p_new = p + dt * f(x)[..., n:]
    q_new = q + dt * f(torch.cat([q, p_new], -1))[..., :n]
    return torch.cat([q_new, p_new], -1)


INTEGRATORS: dict[str, StepFn] = {
    "euler": euler_step, "rk1": euler_step, "rk2": rk2_step, "rk3": rk3_step, "rk4": rk4_step,
    "leapfrog": leapfrog_step, "symplectic_euler": symplectic_euler_step,
}
SYMPLECTIC = frozenset({"leapfrog", "symplectic_euler"})


def get_integrator(name: str) -> StepFn:
    """The step function called `name` (one of INTEGRATORS); a clear error otherwise."""
    try:
        return INTEGRATORS[name]
    except KeyError:
        raise InputError(f"unknown integrator '{name}', expected one of "
                         f"{', '.join(sorted(INTEGRATORS))}") from None


def integrate(f: VectorField, x0: Tensor, dt: float, steps: int, method: str = "rk4") -> Tensor:
    """States [B, steps + 1, D] from x0 [B, D] after 0..steps fixed steps of size dt."""
    if x0.dim() != 2:
        raise InputError(f"x0 must be [B, D], got shape {tuple(x0.shape)}")
    step = get_integrator(method)
    xs = [x0]
    x = x0
    for _ in range(steps):
        x = step(f, x, dt)
        xs.append(x)
    return torch.stack(xs, dim=1)


def solve_ivp_ground_truth(f: Callable[[np.ndarray], np.ndarray], x0: np.ndarray,
                           t_eval: Sequence[float] | np.ndarray, rtol: float = 1e-10,
                           atol: float | None = None, method: str = "DOP853") -> np.ndarray:
    """States [B, T, D] at times t_eval (t_eval[0] is the start) by scipy's adaptive solver.

    `f` maps a numpy batch [B, D] to derivatives [B, D]; the batch is integrated as one
    flattened system so one solver call serves all trajectories.
    """
    from scipy.integrate import solve_ivp

    x0 = np.atleast_2d(np.asarray(x0, dtype=np.float64))
    b, d = x0.shape
    t_eval = np.asarray(t_eval, dtype=np.float64)

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        return np.asarray(f(y.reshape(b, d)), dtype=np.float64).reshape(-1)

    sol = solve_ivp(rhs, (float(t_eval[0]), float(t_eval[-1])), x0.reshape(-1), t_eval=t_eval,
                    rtol=rtol, atol=atol if atol is not None else rtol * 1e-2, method=method)
    if not sol.success:
        raise InputError(f"solve_ivp failed: {sol.message}")
    return sol.y.reshape(b, d, -1).transpose(0, 2, 1)
