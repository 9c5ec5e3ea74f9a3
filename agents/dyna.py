"""Dyna / MBPO-style model-generated experience for an off-policy learner.

The off-policy learner is the SVG(0) actor-critic of agents.svg (Q critic, reparameterised
Gaussian policy); with `variant="dyna"` a fraction `model_ratio` of every critic batch is
replaced by transitions the learned GN model generates: one-step branches (MBPO's short
model rollouts, k = 1) from real replay states, with the CURRENT policy's noisy actions and
the task's reward on the predicted next state. The model is learned from the same real
episodes (initialised on the warm-up episodes, fine-tuned after every episode).

    curve = train_dyna(SVGConfig(task="cartpole-swingup", episodes=20, model_ratio=0.5))
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

__all__ = ["model_transitions", "train_dyna"]


@torch.no_grad()
def model_transitions(venv: Any, policy: torch.nn.Module, states: torch.Tensor,
                      noise_scale: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Model transitions from real states [K, D]: (s [K, D], a [K, A], r [K], s' [K, D]).

    a = clip(policy(s) + noise_scale * eps) to the env's bounds; s', r from `venv.torch_step`
    (an agents.model_env.ModelVectorEnv). Diverged predictions (non-finite or outside the
    env's observation box) are replaced by the real state with reward 0, so they teach nothing
    false about far-away states.
    """
    a = policy(states) + noise_scale * torch.randn(states.shape[0], venv.action_dim)
    a = torch.maximum(torch.minimum(a, venv.high), venv.low)
    s2, r = venv.torch_step(states, a)
    bad = ~torch.isfinite(s2).all(-1) | (s2.abs().amax(-1) > venv.max_abs) | ~torch.isfinite(r)
    s2 = torch.where(bad[:, None], states, s2)
    r = torch.where(bad, torch.zeros_like(r), r)
    return states, a, r, s2


def train_dyna(config: Any, writer: Any = None, log: Any = None) -> Any:
    """agents.svg.train_svg with variant "dyna" (returns its LearningCurve)."""
    from agents.svg import train_svg

    return train_svg(dataclasses.replace(config, variant="dyna"), writer=writer, log=log)
