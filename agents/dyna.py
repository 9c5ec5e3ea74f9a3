"""Dyna / MBPO-style model-generated experience for an off-policy learner.

The off-policy learner is the SVG(0) actor-critic of agents.svg (Q critic, reparameterised
Gaussian policy); with `variant="dyna"` a fraction `model_ratio` of every critic batch is
replaced by transitions the learned GN model generates (agents.model_env.model_transitions):
one-step branches (MBPO's short model rollouts, k = 1) from real replay states,
with the CURRENT policy's noisy actions and
the task's reward on the predicted next state. The model is learned from the same real
episodes (initialised on the warm-up episodes, fine-tuned after every episode).

    curve = train_dyna(SVGConfig(task="cartpole-swingup", episodes=20, model_ratio=0.5))
"""

from __future__ import annotations

import dataclasses
from typing import Any

from agents.svg import train_svg

__all__ = ["train_dyna"]


def train_dyna(config: Any, writer: Any = None, log: Any = None) -> Any:
    """agents.svg.train_svg with variant "dyna" (returns its LearningCurve)."""
    return train_svg(dataclasses.replace(config, variant="dyna"), writer=writer, log=log)
