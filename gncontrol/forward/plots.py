"""Matplotlib figures: predicted against true rollouts of body states."""

from __future__ import annotations

from pathlib import Path

import torch

from gncontrol.body_state import STATE_SIZE
from gncontrol.forward.metrics import predict_rollout
from gncontrol.forward.transitions import SystemTrajectories

__all__ = ["rollout_figure", "plot_rollout"]

_LABELS = ["x", "y", "z", "qw", "qx", "qy", "qz", "vx", "vy", "vz", "wx", "wy", "wz"]


def rollout_figure(model, data: SystemTrajectories, horizon: int, episode: int = 0, device="cpu"):
    """A figure: for each moving body, the features that vary most, true (solid) vs predicted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = torch.tensor([episode])
    pred = predict_rollout(model, data, ep, 0, horizon, device)[0]  # [H, N, 13]
    true = data.states[episode, 1: horizon + 1, :, :STATE_SIZE]
    spread = true.std(0)  # [N, 13]
    bodies = [b for b in range(true.shape[1]) if spread[b].max() > 1e-6][:6]
    fig, axes = plt.subplots(len(bodies) or 1, 1, figsize=(7, 1.8 * max(1, len(bodies))), squeeze=False)
    for ax, b in zip(axes[:, 0], bodies):
        for f in spread[b].argsort(descending=True)[:3].tolist():
            line, = ax.plot(true[:, b, f], label=f"{_LABELS[f]} true")
            ax.plot(pred[:, b, f], "--", color=line.get_color(), label=f"{_LABELS[f]} predicted")
        ax.set_ylabel(f"body {b}")
        ax.legend(fontsize=6, ncol=3, loc="upper left")
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(f"{data.name}: {horizon}-step rollout, episode {episode} (solid true, dashed model)")
    fig.tight_layout()
    return fig


def plot_rollout(model, data: SystemTrajectories, horizon: int, path: str | Path, device="cpu") -> Path:
    """Saves `rollout_figure` as a PNG and returns its path."""
    import matplotlib.pyplot as plt

    fig = rollout_figure(model, data, horizon, 0, device)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
