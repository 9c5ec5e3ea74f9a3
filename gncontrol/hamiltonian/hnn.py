"""Hamiltonian Neural Networks (Greydanus et al. 2019), their MLP baseline, and pixel HNN.

HNN: an MLP H_theta(x) -> scalar on canonical states x = (q, p) [B, D]; the predicted time
derivative is the symplectic gradient (dH/dp, -dH/dq), trained by MSE against true
derivatives. Baseline: the same MLP with D outputs predicting dx/dt directly.

Control (port-Hamiltonian input term): dx/dt = J grad H(x) + [0; G u] with G [D/2, A] a
learned (or fixed) input matrix, so a planner can drive a learned Hamiltonian system.

Both are `DynamicsModel`s: `step(x [B, D], u [B, A]) -> x' [B, D]` integrates `dt` with a
differentiable fixed-step integrator (RK4 by default); `derivative(x, u)` is the field.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from gncontrol.errors import InputError
from gncontrol.hamiltonian.integrators import get_integrator
from gncontrol.hamiltonian.vector_fields import grad_h, symplectic_gradient
from gncontrol.run_guard import NonFiniteLossError, TrainingInterrupted, deferred_interrupt

Tensor = torch.Tensor

__all__ = ["hnn_mlp", "DerivativeModel", "HNN", "BaselineMLP", "PixelAutoencoder", "PixelHNN",
           "fit_derivatives"]


def hnn_mlp(in_dim: int, hidden: int, out_dim: int, layers: int = 2,
            activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """HNN's MLP: in -> hidden x layers -> out, orthogonal init, no bias on the last layer."""
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        lin = nn.Linear(d, hidden)
        nn.init.orthogonal_(lin.weight)
        mods += [lin, activation()]
        d = hidden
    last = nn.Linear(d, out_dim, bias=False)
    nn.init.orthogonal_(last.weight)
    mods.append(last)
    return nn.Sequential(*mods)


class DerivativeModel(nn.Module):
    """Shared DynamicsModel plumbing for models that predict dx/dt [B, D] (HNN and baseline)."""

    differentiable = True

    def __init__(self, state_dim: int, action_dim: int = 0, dt: float = 0.1, method: str = "rk4",
                 substeps: int = 1, learn_input_matrix: bool = True):
        super().__init__()
        if state_dim % 2:
            raise InputError(f"state_dim must be even (q, p), got {state_dim}")
        self.state_dim = state_dim
        self.action_dim = action_dim
        self.dt = dt
        self.method = method
        self.substeps = substeps
        get_integrator(method)
        g = torch.zeros(state_dim // 2, action_dim)
        g[: min(state_dim // 2, action_dim), : min(state_dim // 2, action_dim)] = torch.eye(
            min(state_dim // 2, action_dim))
        self.input_matrix = nn.Parameter(g, requires_grad=learn_input_matrix)

    def field(self, x: Tensor) -> Tensor:
        """The autonomous part of dx/dt [B, D]."""
        raise NotImplementedError

    def derivative(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        """dx/dt [B, D] = field(x) + [0; G u]."""
        dx = self.field(x)
        if u is not None and u.shape[-1]:
            if u.shape[-1] != self.action_dim:
                raise InputError(f"action must be [B, {self.action_dim}], got {tuple(u.shape)}")
            n = self.state_dim // 2
            dx = torch.cat([dx[:, :n], dx[:, n:] + u @ self.input_matrix.T], -1)
        return dx

    def forward(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        """Same as `derivative`."""
        return self.derivative(x, u)

    def step(self, state: Tensor, action: Tensor | None = None, params: Any = None) -> Tensor:
        """Next state [B, D] after dt (action [B, A] held constant), differentiable."""
        if state.dim() != 2 or state.shape[-1] != self.state_dim:
            raise InputError(f"state must be [B, {self.state_dim}], got {tuple(state.shape)}")
        step = get_integrator(self.method)
        h = self.dt / self.substeps
        for _ in range(self.substeps):
            state = step(lambda x: self.derivative(x, action), state, h)
        return state


class HNN(DerivativeModel):
    """H_theta: MLP [B, D] -> [B]; dx/dt is its symplectic gradient (plus the input term).

    `conservative=False` integrates the plain gradient instead ("adding energy" experiment).
    """

    def __init__(self, state_dim: int, hidden: int = 200, layers: int = 2, action_dim: int = 0,
                 dt: float = 0.1, method: str = "rk4", substeps: int = 1,
                 conservative: bool = True):
        super().__init__(state_dim, action_dim, dt, method, substeps)
        self.net = hnn_mlp(state_dim, hidden, 1, layers)
        self.conservative = conservative

    def hamiltonian(self, x: Tensor) -> Tensor:
        """Learned energy H_theta [B]."""
        return self.net(x).squeeze(-1)

    def field(self, x: Tensor) -> Tensor:
        """Symplectic gradient of H_theta at x [B, D] (graph kept for training)."""
        if self.conservative:
            return symplectic_gradient(self.hamiltonian, x, create_graph=True)
        return grad_h(self.hamiltonian, x, create_graph=True)


class BaselineMLP(DerivativeModel):
    """The HNN paper's baseline: the same MLP with D outputs, predicting dx/dt directly."""

    def __init__(self, state_dim: int, hidden: int = 200, layers: int = 2, action_dim: int = 0,
                 dt: float = 0.1, method: str = "rk4", substeps: int = 1):
        super().__init__(state_dim, action_dim, dt, method, substeps)
        self.net = hnn_mlp(state_dim, hidden, state_dim, layers)

    def field(self, x: Tensor) -> Tensor:
        """Predicted dx/dt [B, D]."""
        return self.net(x)


class PixelAutoencoder(nn.Module):
    """HNN's pixel autoencoder: in_dim -> 200 -> 200 -> 200 -> latent (ReLU, residual middle)."""

    def __init__(self, in_dim: int, latent_dim: int = 2, hidden: int = 200):
        super().__init__()
        self.e1, self.e2, self.e3 = nn.Linear(in_dim, hidden), nn.Linear(hidden, hidden), \
            nn.Linear(hidden, hidden)
        self.e4 = nn.Linear(hidden, latent_dim)
        self.d1, self.d2, self.d3 = nn.Linear(latent_dim, hidden), nn.Linear(hidden, hidden), \
            nn.Linear(hidden, hidden)
        self.d4 = nn.Linear(hidden, in_dim)
        self.act = nn.ReLU()

    def encode(self, x: Tensor) -> Tensor:
        """Pixels [B, in_dim] -> latent [B, latent_dim]."""
        h = self.act(self.e1(x))
        h = h + self.act(self.e2(h))
        h = h + self.act(self.e3(h))
        return self.e4(h)

    def decode(self, z: Tensor) -> Tensor:
        """Latent [B, latent_dim] -> pixels [B, in_dim] (logits squashed to [0, 1])."""
        h = self.act(self.d1(z))
        h = h + self.act(self.d2(h))
        h = h + self.act(self.d3(h))
        return torch.sigmoid(self.d4(h))


class PixelHNN(nn.Module):
    """Pixel HNN: an autoencoder whose latent z = (z_q, z_p) evolves under a latent HNN.

    Input: two consecutive frames flattened ([B, 2 * H * W] for HNN's 28x28 pendulum).
    Loss = reconstruction + (z_p - (z_q(t+1) - z_q(t)))^2 + w * ||z(t+1) - (z(t) + dz/dt)||^2.
    As a DynamicsModel its state is the latent z [B, latent_dim].
    """

    differentiable = True

    def __init__(self, in_dim: int, latent_dim: int = 2, hidden: int = 200,
                 baseline: bool = False, action_dim: int = 0, dt: float = 1.0,
                 hnn_weight: float = 0.1):
        super().__init__()
        self.autoencoder = PixelAutoencoder(in_dim, latent_dim, hidden)
        model_cls = BaselineMLP if baseline else HNN
        self.dynamics = model_cls(latent_dim, hidden, action_dim=action_dim, dt=dt)
        self.hnn_weight = hnn_weight
        self.in_dim = in_dim

    def loss(self, x: Tensor, x_next: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Training loss for frame pairs x, x_next [B, in_dim]; returns (loss, parts)."""
        z = self.autoencoder.encode(x)
        z_next = self.autoencoder.encode(x_next)
        n = z.shape[-1] // 2
        ae = ((self.autoencoder.decode(z) - x) ** 2).mean()
        cc = ((z[:, n:] - (z_next[:, :n] - z[:, :n])) ** 2).mean()
        hnn = ((z_next - (z + self.dynamics.derivative(z))) ** 2).mean()
        total = ae + cc + self.hnn_weight * hnn
        return total, {"ae": ae.item(), "cc": cc.item(), "hnn": hnn.item()}

    def step(self, state: Tensor, action: Tensor | None = None, params: Any = None) -> Tensor:
        """Next latent [B, latent_dim]."""
        return self.dynamics.step(state, action, params)


def fit_derivatives(model: DerivativeModel, x: Tensor, dx: Tensor, steps: int = 2000,
                    batch_size: int | None = None, lr: float = 1e-3, weight_decay: float = 0.0,
                    seed: int = 0, progress: bool = False) -> list[float]:
    """Trains `model` so derivative(x) matches dx (both [N, D]) by MSE; returns the loss curve.

    HNN's recipe: Adam, full batch (batch_size None) or random minibatches per step. A non-finite
    loss stops with NonFiniteLossError (one line); Ctrl-C (deferred to the end of a step) raises
    TrainingInterrupted with the number of completed steps, the model holding their weights.
    """
    if x.shape != dx.shape or x.dim() != 2:
        raise InputError(f"x and dx must both be [N, D], got {tuple(x.shape)} and {tuple(dx.shape)}")
    from tqdm import tqdm

    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    losses: list[float] = []
    updating = False
    try:
        with deferred_interrupt() as interrupt_requested:
            for step in tqdm(range(steps), disable=not progress, desc=type(model).__name__, leave=False):
                if batch_size is None or batch_size >= x.shape[0]:
                    xb, db = x, dx
                else:
                    idx = torch.randint(0, x.shape[0], (batch_size,), generator=gen).to(x.device)
                    xb, db = x[idx], dx[idx]
                loss = ((model.derivative(xb) - db) ** 2).mean()
                value = loss.item()
                if not math.isfinite(value):
                    raise NonFiniteLossError(f"the {type(model).__name__} training loss became non-finite ({value}) at "
                                             f"step {step + 1}: stopped, nothing of this run was saved; a lower --lr "
                                             f"(now {lr:g}) may help")
                opt.zero_grad()
                loss.backward()
                updating = True
                opt.step()
                updating = False
                losses.append(value)
                if interrupt_requested():
                    raise KeyboardInterrupt
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt:
        raise TrainingInterrupted(len(losses), consistent=not updating) from None
    return losses
