"""The paper's forward-model metric: squared error per quantity relative to copying the state.

For rollouts of H steps from start states drawn from held-out episodes (true actions fed
in, predicted states fed back), the squared error of each quantity (position, orientation,
linear velocity, angular velocity), averaged over bodies, features and the H steps, is
divided by the same error of the constant model (the start state copied); the ratios are then
averaged (over the quantities that change at all). 1.0 means "no better than standing still"; 0 is perfect.
"""

from __future__ import annotations

import torch

from gncontrol.body_state import QUANTITIES, STATE_SIZE
from gncontrol.dynamics import DynamicsModel
from gncontrol.errors import InputError
from gncontrol.forward.transitions import SystemTrajectories

CONSTANT_FLOOR = 1e-10  # squared error below which a quantity counts as constant

__all__ = ["rollout_errors", "normalised_rollout_error", "predict_rollout", "squared_errors", "error_ratios"]


@torch.no_grad()
def predict_rollout(model: DynamicsModel, data: SystemTrajectories, episodes: torch.Tensor,
                    start: int, horizon: int, device="cpu") -> torch.Tensor:
    """Predicted body states [B, H, N, 13] for `horizon` steps from time `start` of each episode."""
    first = data.transitions(episodes, torch.full_like(episodes, start))
    system, state = first.system.to(device), first.state.to(device)
    if hasattr(model, "initial_hidden"):
        state = model.initial_hidden(state)
    out = []
    for t in range(horizon):
        state = model.step(state, data.actions[episodes, start + t].to(device), system)
        out.append(state.nodes[:, :STATE_SIZE].reshape(len(episodes), -1, STATE_SIZE))
    return torch.stack(out, 1).cpu()


@torch.no_grad()
def rollout_errors(model: DynamicsModel, data: SystemTrajectories, horizon: int,
                   starts_per_episode: int = 1, device="cpu") -> dict[str, float]:
    """Per-quantity squared error of the model and of the constant baseline, and their ratios.

    Returns {'<quantity>': model/constant ratio, ..., 'mean': average ratio,
             'model_<quantity>': raw error, 'constant_<quantity>': raw error}.
    """
    if horizon > data.episode_length:
        raise InputError(f"horizon {horizon} exceeds the episodes' length {data.episode_length}")
    eps = torch.arange(data.num_episodes)
    last = data.episode_length - horizon
    starts = torch.linspace(0, last, starts_per_episode).round().long().unique().tolist()
    err_m = {q: 0.0 for q in QUANTITIES}
    err_c = {q: 0.0 for q in QUANTITIES}
    for s in starts:
        pred = predict_rollout(model, data, eps, s, horizon, device)
        true = data.states[eps, s + 1: s + 1 + horizon, :, :STATE_SIZE]
        m, c = squared_errors(pred, true, data.states[eps, s, :, :STATE_SIZE])
        for q in QUANTITIES:
            err_m[q] += m[q] / len(starts)
            err_c[q] += c[q] / len(starts)
    return error_ratios(err_m, err_c)


def squared_errors(pred: torch.Tensor, true: torch.Tensor, start: torch.Tensor) -> tuple[dict, dict]:
    """Per-quantity mean squared error of `pred` and of the constant model (`start` copied) against `true`.

    pred/true [B, H, N, >=13] body states, start [B, N, >=13]; returns ({quantity: error}, {quantity: error}).
    """
    const = start.unsqueeze(1)
    err_m = {q: (pred[..., sl] - true[..., sl]).square().mean().item() for q, sl in QUANTITIES.items()}
    err_c = {q: (const[..., sl] - true[..., sl]).square().mean().item() for q, sl in QUANTITIES.items()}
    return err_m, err_c


def error_ratios(err_m: dict[str, float], err_c: dict[str, float]) -> dict[str, float]:
    """rollout_errors' dict from per-quantity model and constant errors: ratios, their 'mean', raw errors."""
    out: dict[str, float] = {}
    for q in QUANTITIES:
        # A quantity that never changes (a hinge-mounted body's frame origin) has no constant
        # baseline error to divide by: it is reported as NaN and left out of the mean.
        out[q] = err_m[q] / err_c[q] if err_c[q] > CONSTANT_FLOOR else float("nan")
        out[f"model_{q}"] = err_m[q]
        out[f"constant_{q}"] = err_c[q]
    ratios = [out[q] for q in QUANTITIES if out[q] == out[q]]
    out["mean"] = sum(ratios) / len(ratios) if ratios else float("nan")
    return out


def normalised_rollout_error(model: DynamicsModel, data: SystemTrajectories, horizon: int,
                             starts_per_episode: int = 1, device="cpu") -> float:
    """The single number of the paper's tables: mean over quantities of model/constant error."""
    return rollout_errors(model, data, horizon, starts_per_episode, device)["mean"]
