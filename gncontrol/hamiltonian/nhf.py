"""Neural Hamiltonian Flow (Toth et al. 2019): a volume-preserving normalising flow on q.

The flow maps a base sample (q0, p0) ~ N(0, I) through K stages; stage i integrates its own
separable Hamiltonian H_i = K_i(p) + V_i(q) (softplus MLPs [d, hidden, hidden, 1]) with
`leapfrog_steps` leapfrog steps of size dt_i. Leapfrog on a separable H is symplectic, so
log|det J| = 0 exactly, and the inverse is the same steps with -dt in reverse order.

Momentum is latent: a posterior f(p | q) = N(mu(q), sigma(q)) (ReLU MLPs), and
    ELBO(q) = E_{p ~ f(.|q)} [ ln pi(flow^-1(q, p)) - ln f(p | q) ]  <=  ln p_model(q).
Shapes: q [B, d], p [B, d].
"""

from __future__ import annotations

import math

import torch
from torch import nn

Tensor = torch.Tensor

__all__ = ["SeparableHamiltonian", "NeuralHamiltonianFlow", "fit_nhf"]


def _softplus_mlp(d: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, hidden), nn.Softplus(), nn.Linear(hidden, hidden), nn.Softplus(),
                         nn.Linear(hidden, 1))


class SeparableHamiltonian(nn.Module):
    """H(q, p) = K(p) + V(q), each a softplus MLP [d, hidden, hidden, 1]."""

    def __init__(self, d: int, hidden: int = 128):
        super().__init__()
        self.kinetic = _softplus_mlp(d, hidden)
        self.potential = _softplus_mlp(d, hidden)

    @staticmethod
    def _grad(net: nn.Module, x: Tensor) -> Tensor:
        with torch.enable_grad():
            xg = x if x.requires_grad else x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(net(xg).sum(), xg, create_graph=True)
        return g

    def dk_dp(self, p: Tensor) -> Tensor:
        """dK/dp [B, d] = dq/dt."""
        return self._grad(self.kinetic, p)

    def dv_dq(self, q: Tensor) -> Tensor:
        """dV/dq [B, d] = -dp/dt."""
        return self._grad(self.potential, q)

    def leapfrog(self, q: Tensor, p: Tensor, dt: float | Tensor) -> tuple[Tensor, Tensor]:
        """One kick-drift-kick step; exactly invertible by the same step with -dt."""
        p = p - 0.5 * dt * self.dv_dq(q)
        q = q + dt * self.dk_dp(p)
        p = p - 0.5 * dt * self.dv_dq(q)
        return q, p


class NeuralHamiltonianFlow(nn.Module):
    """K stages of separable-Hamiltonian leapfrog flow plus the momentum posterior f(p | q)."""

    def __init__(self, d: int = 2, stages: int = 3, leapfrog_steps: int = 2, hidden: int = 128,
                 dt: float = 0.2):
        super().__init__()
        self.d = d
        self.leapfrog_steps = leapfrog_steps
        self.stages = nn.ModuleList(SeparableHamiltonian(d, hidden) for _ in range(stages))
        self.log_dt = nn.Parameter(torch.full((stages,), math.log(dt)))
        self.post_mu = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                     nn.ReLU(), nn.Linear(hidden, d))
        self.post_log_sigma = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                            nn.ReLU(), nn.Linear(hidden, d))

    def forward_flow(self, q: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """Base (q0, p0) -> data-space (q, p), each [B, d]."""
        for i, h in enumerate(self.stages):
            dt = self.log_dt[i].exp()
            for _ in range(self.leapfrog_steps):
                q, p = h.leapfrog(q, p, dt)
        return q, p

    def inverse_flow(self, q: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """Data-space (q, p) -> base (q0, p0): the steps reversed with -dt."""
        for i in reversed(range(len(self.stages))):
            dt = self.log_dt[i].exp()
            for _ in range(self.leapfrog_steps):
                q, p = self.stages[i].leapfrog(q, p, -dt)
        return q, p

    @staticmethod
    def _log_normal(x: Tensor) -> Tensor:
        return -0.5 * (x ** 2).sum(-1) - 0.5 * x.shape[-1] * math.log(2 * math.pi)

    def elbo(self, q: Tensor, samples: int = 1) -> Tensor:
        """Per-point ELBO [B] on ln p(q), with `samples` posterior momentum samples."""
        mu, log_sigma = self.post_mu(q), self.post_log_sigma(q).clamp(-7, 5)
        total = q.new_zeros(q.shape[0])
        for _ in range(samples):
            eps = torch.randn_like(mu)
            p = mu + log_sigma.exp() * eps
            log_f = self._log_normal(eps) - log_sigma.sum(-1)
            q0, p0 = self.inverse_flow(q, p)
            total = total + self._log_normal(torch.cat([q0, p0], -1)) - log_f
        return total / samples

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n samples of q [n, d] from the model (base Gaussian pushed through the flow)."""
        param = self.log_dt
        z = torch.randn(n, 2 * self.d, generator=generator, dtype=param.dtype).to(param.device)
        q, _ = self.forward_flow(z[:, : self.d], z[:, self.d:])
        return q.detach()


def fit_nhf(model: NeuralHamiltonianFlow, data: Tensor, steps: int = 1000, batch_size: int = 256,
            lr: float = 3e-4, seed: int = 0) -> list[float]:
    """Maximises the ELBO of data [N, d] with Adam; returns the per-step mean ELBO."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []
    for _ in range(steps):
        idx = torch.randint(0, data.shape[0], (batch_size,), generator=gen).to(data.device)
        elbo = model.elbo(data[idx]).mean()
        opt.zero_grad()
        (-elbo).backward()
        opt.step()
        curve.append(elbo.item())
    return curve
