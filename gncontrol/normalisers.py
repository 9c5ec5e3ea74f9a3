"""Per-feature normalisers fitted on training data and stored inside checkpoints.

A feature whose standard deviation is (near) zero on the training data — a one-hot that
never changes, the world body's constant state — is only centred, never divided by ~0, and
`inverse` returns its training mean exactly: a model predicting a feature that never varied
(the out-of-plane components of a planar system's state changes) adds no noise to it.
"""

from __future__ import annotations

import torch
from torch import nn

from gncontrol.errors import InputError

__all__ = ["Normaliser"]


class Normaliser(nn.Module):
    """(x - mean) / std per feature over the last dimension; buffers travel with the model."""

    def __init__(self, size: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("std", torch.ones(size))
        self.register_buffer("varies", torch.ones(size))  # 0 where the feature was constant

    @torch.no_grad()
    def fit(self, data: torch.Tensor) -> Normaliser:
        """Sets mean and std from data [..., size]; constant features keep std 1."""
        flat = data.reshape(-1, data.shape[-1]).to(self.mean.dtype)
        if flat.shape[-1] != self.mean.shape[0]:
            raise InputError(f"Normaliser of size {self.mean.shape[0]} cannot fit data with "
                             f"{flat.shape[-1]} features")
        if flat.shape[0] == 0:
            return self
        if not torch.isfinite(flat).all():
            raise InputError("cannot fit a normaliser on data containing NaN or inf")
        self.mean.copy_(flat.mean(0))
        std = flat.std(0, unbiased=False) if flat.shape[0] > 1 else torch.zeros_like(self.std)
        self.std.copy_(torch.where(std > self.eps, std, torch.ones_like(std)))
        self.varies.copy_((std > self.eps).to(self.varies.dtype))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalises x [..., size]."""
        return (x - self.mean) / self.std

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Undoes `forward`: y [..., size] -> x (constant features give their mean)."""
        return y * (self.std * self.varies) + self.mean
