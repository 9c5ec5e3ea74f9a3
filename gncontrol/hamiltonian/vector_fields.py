"""Symplectic-gradient helpers: Hamilton's equations from any scalar H(q, p) by autograd.

States are canonical x = (q, p), shape [B, D] with q = x[:, :D/2] and p = x[:, D/2:].
Hamilton's equations dq/dt = dH/dp, dp/dt = -dH/dq are x' = J grad H with
J = [[0, I], [-I, 0]]. `create_graph=True` keeps second-order gradients, which training a
learned H through these derivatives needs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gncontrol.errors import InputError

Tensor = torch.Tensor
HamiltonianFn = Callable[[Tensor], Tensor]  # x [B, D] -> H [B] (or [B, 1])

__all__ = ["HamiltonianFn", "canonical_matrix", "split_qp", "grad_h", "symplectic_gradient",
           "hamiltonian_vector_field"]


def canonical_matrix(dim: int, device: torch.device | str | None = None,
                     dtype: torch.dtype | None = None) -> Tensor:
    """The symplectic matrix J [D, D] = [[0, I], [-I, 0]] for a phase space of size `dim`."""
    if dim % 2:
        raise InputError(f"phase-space dimension must be even, got {dim}")
    n = dim // 2
    eye = torch.eye(n, device=device, dtype=dtype)
    zero = torch.zeros(n, n, device=device, dtype=dtype)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-eye, zero], 1)], 0)


def split_qp(x: Tensor) -> tuple[Tensor, Tensor]:
    """(q, p), each [..., D/2], from a canonical state [..., D]."""
    d = x.shape[-1]
    if d % 2:
        raise InputError(f"phase-space state must have an even size, got {d}")
    return x[..., : d // 2], x[..., d // 2:]


def grad_h(h_fn: HamiltonianFn, x: Tensor, create_graph: bool = True) -> Tensor:
    """dH/dx [B, D] by autograd; works whether or not x already requires grad."""
    with torch.enable_grad():
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        h = h_fn(x)
        (g,) = torch.autograd.grad(h.sum(), x, create_graph=create_graph)
    return g


def symplectic_gradient(h_fn: HamiltonianFn, x: Tensor, create_graph: bool = True) -> Tensor:
    """Hamilton's vector field (dH/dp, -dH/dq) [B, D] at x [B, D]."""
    dq, dp = split_qp(grad_h(h_fn, x, create_graph))
    return torch.cat([dp, -dq], dim=-1)


def hamiltonian_vector_field(h_fn: HamiltonianFn, create_graph: bool = True,
                             conservative: bool = True) -> Callable[[Tensor], Tensor]:
    """f(x) -> dx/dt for integrators; `conservative=False` gives the plain gradient ("adding energy")."""
    if conservative:
        return lambda x: symplectic_gradient(h_fn, x, create_graph)
    return lambda x: grad_h(h_fn, x, create_graph)
