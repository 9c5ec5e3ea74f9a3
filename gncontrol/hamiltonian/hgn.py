"""Hamiltonian Generative Network (Toth et al. 2019), at a configurable (reduced) size.

    frames x_0..x_{K-1} --encoder--> q(z) = N(mu, sigma) (z [B, Cz, 4, 4])
    z --f_psi--> s_0 = (q_0, p_0), each [B, C, 4, 4]
    s_t --integrator on H_gamma(q, p) (autograd, dt)--> s_{t+1}     (leapfrog or Euler)
    q_t --decoder--> frame [B, 3, 32, 32] (sigmoid; Gaussian likelihood, unit variance)

Objective: reconstruction of every frame of the unroll plus KL(q(z) || N(0, I)), the KL
weighted through GECO (Rezende & Viola 2018): minimise KL + lambda (recon_mse - tolerance),
with lambda <- lambda * exp(rate * sign(moving average of the constraint)) (a scale-free
variant of GECO's exp(rate * C_ma) update).
Ablations: integrator "euler"; `use_f_psi=False` (s_0 = z); `deterministic=True` (z = mu, no KL).
Option `separable=True`: H = K(p) + V(q), for which explicit leapfrog is exactly symplectic.

As a `DynamicsModel` the state is the flattened phase space s [B, 2 * C * 16]; `decode`
renders it. Actions are zero-sized (HGN is uncontrolled).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from gncontrol.errors import InputError

Tensor = torch.Tensor

__all__ = ["HGNConfig", "HGN", "GECO"]


@dataclasses.dataclass
class HGNConfig:
    """Sizes and switches; the paper's sizes are larger (encoder 8 convs, 64-filter H and decoder)."""

    image_size: int = 32
    channels: int = 3
    encoder_frames: int = 5
    latent_channels: int = 16  # C: q and p each [C, 4, 4]
    width: int = 32  # filters in every conv stack
    dt: float = 0.125
    integrator: str = "leapfrog"  # or "euler"
    use_f_psi: bool = True
    deterministic: bool = False
    separable: bool = False  # H = K(p) + V(q): explicit leapfrog is then exactly symplectic
    # "sigmoid" (the paper) or "linear": raw decoder output in training, clipped to [0, 1] in
    # eval. With sigmoid + MSE on near-black images Adam keeps pushing background logits down
    # (their gradient never changes sign) until the decoder saturates; linear output avoids it.
    output: str = "sigmoid"


def _conv(i: int, o: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(i, o, 3, stride=stride, padding=1)


class _ResUp(nn.Module):
    """Nearest upsampling x2, then a residual pair of 3x3 convs (leaky ReLU)."""

    def __init__(self, c: int):
        super().__init__()
        self.c1, self.c2 = _conv(c, c), _conv(c, c)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor) -> Tensor:
        x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        return x + self.c2(self.act(self.c1(self.act(x))))


class HGN(nn.Module):
    """Encoder, f_psi, conv Hamiltonian, decoder and integrator (see module doc)."""

    differentiable = True

    def __init__(self, config: HGNConfig | None = None):
        super().__init__()
        cfg = self.config = config or HGNConfig()
        if cfg.integrator not in ("leapfrog", "euler"):
            raise InputError(f"HGN integrator must be leapfrog or euler, got '{cfg.integrator}'")
        if cfg.output not in ("sigmoid", "linear"):
            raise InputError(f"HGN output must be sigmoid or linear, got '{cfg.output}'")
        if cfg.image_size != 32:
            raise InputError(f"this HGN decodes 4x4 -> 32x32 images, got image_size {cfg.image_size}")
        w, c = cfg.width, cfg.latent_channels
        zc = c if cfg.use_f_psi else 2 * c
        act = nn.LeakyReLU(0.2)
        self.encoder = nn.Sequential(
            _conv(cfg.encoder_frames * cfg.channels, w), act, _conv(w, w, 2), act,  # 16
            _conv(w, w, 2), act, _conv(w, w, 2), act, _conv(w, 2 * zc))  # 4x4, mean and log-var
        self.f_psi = nn.Sequential(_conv(zc, w), nn.Softplus(), _conv(w, w), nn.Softplus(),
                                   _conv(w, 2 * c)) if cfg.use_f_psi else None
        def h_net(cin: int) -> nn.Sequential:
            return nn.Sequential(_conv(cin, w), nn.Softplus(), _conv(w, w, 2), nn.Softplus(),
                                 _conv(w, w, 2), nn.Softplus(), nn.Flatten(), nn.Linear(w, 1))

        if cfg.separable:
            self.kinetic, self.potential = h_net(c), h_net(c)
        else:
            self.h_net = h_net(2 * c)
        self.decoder = nn.Sequential(_conv(c, w), _ResUp(w), _ResUp(w), _ResUp(w), act,
                                     _conv(w, cfg.channels))
        self.state_dim = 2 * c * 16
        self.action_dim = 0

    # ------------------------------------------------------------------ pieces
    def encode(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar) [B, Cz, 4, 4] from frames [B, T, C, H, W] (first encoder_frames used)."""
        k = self.config.encoder_frames
        if frames.dim() != 5 or frames.shape[1] < k:
            raise InputError(f"frames must be [B, T>={k}, C, H, W], got {tuple(frames.shape)}")
        out = self.encoder(frames[:, :k].flatten(1, 2))
        mu, logvar = out.chunk(2, dim=1)
        return mu, logvar.clamp(-8, 8)

    def initial_state(self, z: Tensor) -> Tensor:
        """s_0 [B, 2C, 4, 4] from z (through f_psi unless ablated)."""
        return self.f_psi(z) if self.f_psi is not None else z

    def hamiltonian(self, s: Tensor) -> Tensor:
        """H_gamma [B] of phase-space states s [B, 2C, 4, 4] (K(p) + V(q) when separable)."""
        if self.config.separable:
            q, p = s.chunk(2, dim=1)
            return (self.kinetic(p) + self.potential(q)).squeeze(-1)
        return self.h_net(s).squeeze(-1)

    def _grads(self, s: Tensor) -> tuple[Tensor, Tensor]:
        with torch.enable_grad():
            sg = s if s.requires_grad else s.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.hamiltonian(sg).sum(), sg, create_graph=self.training)
        return g.chunk(2, dim=1)  # dH/dq, dH/dp

    def integrate_step(self, s: Tensor, dt: float | None = None) -> Tensor:
        """One step of the configured integrator on s [B, 2C, 4, 4] (dt may be negative)."""
        dt = self.config.dt if dt is None else dt
        q, p = s.chunk(2, dim=1)
        if self.config.integrator == "euler":
            dhdq, dhdp = self._grads(s)
            return torch.cat([q + dt * dhdp, p - dt * dhdq], 1)
        dhdq, _ = self._grads(s)
        p = p - 0.5 * dt * dhdq
        _, dhdp = self._grads(torch.cat([q, p], 1))
        q = q + dt * dhdp
        dhdq, _ = self._grads(torch.cat([q, p], 1))
        return torch.cat([q, p - 0.5 * dt * dhdq], 1)

    def decode(self, s: Tensor) -> Tensor:
        """Frames [B, C, 32, 32] from states (q is the first half of the channels)."""
        if s.dim() == 2:
            s = s.reshape(s.shape[0], -1, 4, 4)
        out = self.decoder(s.chunk(2, dim=1)[0])
        if self.config.output == "sigmoid":
            return torch.sigmoid(out)
        return out if self.training else out.clamp(0.0, 1.0)

    # ------------------------------------------------------------------ model use
    def unroll(self, frames: Tensor, steps: int, sample: bool | None = None,
               dt: float | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(predicted frames [B, steps, C, H, W], states [B, steps, 2C, 4, 4], mu, logvar)."""
        mu, logvar = self.encode(frames)
        sample = (not self.config.deterministic) if sample is None else sample
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
        s = self.initial_state(z)
        states = [s]
        for _ in range(steps - 1):
            s = self.integrate_step(s, dt)
            states.append(s)
        st = torch.stack(states, 1)
        recon = self.decode(st.flatten(0, 1)).reshape(frames.shape[0], steps, *frames.shape[2:])
        return recon, st, mu, logvar

    def losses(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """(reconstruction MSE per pixel, KL per sequence) for frames [B, T, C, H, W]."""
        recon, _, mu, logvar = self.unroll(frames, frames.shape[1])
        mse = ((recon - frames) ** 2).mean()
        if self.config.deterministic:
            return mse, mse.new_zeros(())
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).flatten(1).sum(-1).mean()
        return mse, kl

    def step(self, state: Tensor, action: Tensor | None = None, params: Any = None) -> Tensor:
        """DynamicsModel step on flattened states [B, 2C*16]."""
        if state.dim() != 2 or state.shape[-1] != self.state_dim:
            raise InputError(f"state must be [B, {self.state_dim}], got {tuple(state.shape)}")
        s = self.integrate_step(state.reshape(state.shape[0], -1, 4, 4))
        return s.reshape(state.shape[0], -1)


class GECO:
    """GECO Lagrange multiplier for the constraint recon_mse <= tolerance (KL weight 1/lambda)."""

    def __init__(self, tolerance: float, rate: float = 0.01, alpha: float = 0.99,
                 init: float = 1.0, bounds: tuple[float, float] = (1e-3, 1e5)):
        self.tolerance, self.rate, self.alpha, self.bounds = tolerance, rate, alpha, bounds
        self.lam = init
        self.ma: float | None = None

    def loss(self, mse: Tensor, kl: Tensor, pixels: int) -> Tensor:
        """KL + lambda * pixels * (mse - tolerance); then updates lambda from the moving average."""
        c = mse.item() - self.tolerance
        self.ma = c if self.ma is None else self.alpha * self.ma + (1 - self.alpha) * c
        total = kl + self.lam * pixels * (mse - self.tolerance)
        self.lam = float(min(max(self.lam * math.exp(self.rate * math.copysign(1.0, self.ma)),
                                 self.bounds[0]), self.bounds[1]))
        return total
