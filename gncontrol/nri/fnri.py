"""Factorised NRI (Webb et al. 2019): fNRI (multiplex latent) and sfNRI (sigmoid, no KL).

fNRI splits the encoder's K = sum(K_a) logits into L layers, each with its own softmax and
Gumbel-softmax sample; the samples are concatenated into a multi-hot z [B, E, K] (sum = L)
and decoded by the NRI decoder with one edge MLP per type across all layers. KL = sum of
the layers' KLs (uniform or per-layer priors). sfNRI: z = sigmoid(logits) in [0, 1]^K, one factor per interaction type,
no sampling, no KL (loss = reconstruction only).
"""

from __future__ import annotations

import torch
from torch import nn

from gncontrol.errors import InputError
from gncontrol.nri.model import NRI, kl_categorical

__all__ = ["FNRI", "SFNRI", "layer_offsets"]


def layer_offsets(layer_sizes: list[int]) -> list[int]:
    """Index of each layer's first edge type in the concatenated K (skip-first skips these)."""
    out, acc = [], 0
    for k in layer_sizes:
        out.append(acc)
        acc += k
    return out


class FNRI(NRI):
    """fNRI: one Gumbel-softmax per layer of sizes `layer_sizes` (e.g. [2, 2] for I+C)."""

    def __init__(self, encoder: nn.Module | None, decoder: nn.Module, layer_sizes: list[int], tau: float = 0.5,
                 prior: list[float] | None = None):
        """`prior`: optional per-layer priors, concatenated like the logits (sum(layer_sizes)
        probabilities, each layer's K_a summing to 1, e.g. [0.9, 0.1, 0.9, 0.1]); None: uniform."""
        if not layer_sizes or min(layer_sizes) < 2:
            raise InputError(f"layer_sizes must be a non-empty list of sizes >= 2, got {layer_sizes}")
        super().__init__(encoder, decoder, sum(layer_sizes), tau, prior=None)
        self.layer_sizes = list(layer_sizes)
        if prior is not None:
            p = torch.as_tensor(prior, dtype=torch.float32)
            sums = [float(s.sum()) for s in torch.split(p, self.layer_sizes)] if p.numel() == sum(layer_sizes) else []
            if not sums or (p <= 0).any() or any(abs(s - 1) > 1e-4 for s in sums):
                raise InputError(f"an fNRI prior must be {sum(layer_sizes)} positive probabilities, each layer's "
                                 f"{layer_sizes} summing to 1, got {prior}")
            del self.log_prior  # NRI set it to None as a plain attribute
            self.register_buffer("log_prior", p.log())

    def latent(self, logits: torch.Tensor, hard: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Concatenated per-layer samples and probabilities, each [B, E, sum K_a]."""
        zs, ps = [], []
        for part in torch.split(logits, self.layer_sizes, dim=-1):
            z, p = super().latent(part, hard)
            zs.append(z)
            ps.append(p)
        return torch.cat(zs, dim=-1), torch.cat(ps, dim=-1)

    def kl(self, probs: torch.Tensor, n_atoms: int) -> torch.Tensor:
        """Sum over layers of each layer's categorical KL (uniform, or the layer's prior)."""
        parts = torch.split(probs, self.layer_sizes, dim=-1)
        priors = [None] * len(parts) if self.log_prior is None else torch.split(self.log_prior, self.layer_sizes)
        return sum(kl_categorical(p, n_atoms, lp) for p, lp in zip(parts, priors))

    def edge_labels(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-layer argmax labels [B, E, L]."""
        return torch.stack([p.argmax(-1) for p in torch.split(logits, self.layer_sizes, dim=-1)], dim=-1)


class SFNRI(NRI):
    """sfNRI: z = sigmoid(logits) [B, E, K] (K factors), deterministic, no KL."""

    def __init__(self, encoder: nn.Module | None, decoder: nn.Module, n_factors: int):
        super().__init__(encoder, decoder, n_factors, tau=1.0, prior=None)

    def latent(self, logits: torch.Tensor, hard: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The sigmoid factors, as sample and probabilities alike (deterministic; `hard` unused)."""
        p = torch.sigmoid(logits)
        return p, p

    def kl(self, probs: torch.Tensor, n_atoms: int) -> torch.Tensor:
        """sfNRI is not a VAE: no KL term."""
        return probs.new_zeros(())

    def edge_labels(self, logits: torch.Tensor) -> torch.Tensor:
        """Rounded sigmoid factors [B, E, K] in {0, 1}."""
        return (logits > 0).long()
