"""Metrics for Hamiltonian models: derivative MSE, energy MSE along rollouts, time reversal,
pixel MSE over an unroll, and the variance of a learned H along rollouts.

Conventions: states x [B, D] canonical; trajectories [B, T, D]; energies by a function
`energy(x [N, D]) -> [N]` (the TRUE Hamiltonian for the HNN paper's energy metric).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from gncontrol.errors import InputError
from gncontrol.hamiltonian.integrators import VectorField, get_integrator, solve_ivp_ground_truth

Tensor = torch.Tensor

__all__ = ["derivative_mse", "model_rollout_ivp", "energy_mse", "time_reversal_error",
           "pixel_mse_unroll", "hamiltonian_variance", "fixed_step_rollout"]


def derivative_mse(field: Callable[[Tensor], Tensor], x: Tensor, dx: Tensor,
                   batch: int = 4096) -> float:
    """Mean squared error between field(x) and dx (both [N, D]), evaluated in chunks."""
    total, n = 0.0, x.shape[0]
    for i in range(0, n, batch):
        pred = field(x[i:i + batch]).detach()
        total += float(((pred - dx[i:i + batch]) ** 2).sum())
    return total / (n * x.shape[1])


def model_rollout_ivp(field: Callable[[Tensor], Tensor], x0: np.ndarray, t_eval: np.ndarray,
                      rtol: float = 1e-9, dtype: torch.dtype = torch.float32,
                      device: torch.device | str | None = None) -> np.ndarray:
    """Trajectories [B, T, D] of a learned field from x0 [B, D] by scipy's adaptive solver."""

    def f(y: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(y, dtype=dtype, device=device)
        return field(x).detach().cpu().double().numpy()

    return solve_ivp_ground_truth(f, x0, t_eval, rtol=rtol, method="RK45")


def energy_mse(energy: Callable[[np.ndarray], np.ndarray], true_traj: np.ndarray,
               model_traj: np.ndarray) -> float:
    """HNN paper's energy MSE: true energy along the true vs along the model's trajectory."""
    return float(np.mean((energy(true_traj) - energy(model_traj)) ** 2))


def fixed_step_rollout(field: VectorField, x0: Tensor, dt: float, steps: int,
                       method: str = "rk4") -> Tensor:
    """States [B, steps + 1, D] of a field by a fixed-step integrator, no autograd graph kept."""
    step = get_integrator(method)
    xs, x = [x0], x0
    for _ in range(steps):
        x = step(field, x, dt).detach()
        xs.append(x)
    return torch.stack(xs, 1)


def time_reversal_error(field: VectorField, x0: Tensor, dt: float, steps: int,
                        method: str = "leapfrog") -> float:
    """Mean |x0 - back(forward(x0))|: integrate +dt for `steps`, then -dt as many steps."""
    step = get_integrator(method)
    x = x0
    for _ in range(steps):
        x = step(field, x, dt).detach()
    for _ in range(steps):
        x = step(field, x, -dt).detach()
    return float((x - x0).abs().mean())


def pixel_mse_unroll(pred_frames: Tensor, true_frames: Tensor) -> float:
    """Average per-pixel MSE over an unroll: frames [B, T, C, H, W] (HGN's Table 1 metric)."""
    if pred_frames.shape != true_frames.shape:
        raise InputError(f"frame shapes differ: {tuple(pred_frames.shape)} vs {tuple(true_frames.shape)}")
    return float(((pred_frames - true_frames) ** 2).mean())


def hamiltonian_variance(h_fn: Callable[[Tensor], Tensor], traj: Tensor) -> float:
    """Mean over trajectories of the variance of H along each trajectory [B, T, D]."""
    b, t, d = traj.shape
    h = h_fn(traj.reshape(b * t, d)).detach().reshape(b, t)
    return float(h.var(dim=1).mean())
