"""NRI baselines that need no training: static prediction and correlation thresholding.

The trained baselines (full graph, true graph, supervised encoder) are configurations of
gncontrol.nri.training (`baseline` key).
"""

from __future__ import annotations

import numpy as np
import torch

from gncontrol.errors import InputError

__all__ = ["static_mse_per_horizon", "static_window_mse", "correlation_scores", "correlation_baseline"]


def static_mse_per_horizon(feats: torch.Tensor, start: int, horizons: int) -> torch.Tensor:
    """MSE [H] of predicting x_{start+h} = x_start (h = 1..H); feats [S, N, T, D]."""
    if feats.shape[2] < start + horizons + 1:
        raise InputError(f"need >= {start + horizons + 1} frames, have {feats.shape[2]}")
    x0 = feats[:, :, start:start + 1]
    fut = feats[:, :, start + 1:start + horizons + 1]
    return ((fut - x0) ** 2).mean(dim=(0, 1, 3))


def static_window_mse(seg: torch.Tensor, k: int) -> float:
    """fNRI's "step k" MSE of the static model on seg [S, N, T, D]: frame j is predicted by the
    last ground-truth frame fed, floor((j - 1) / k) * k."""
    t = seg.shape[2]
    src = torch.tensor([((j - 1) // k) * k for j in range(1, t)])
    return float(((seg[:, :, 1:] - seg[:, :, src]) ** 2).mean())


def correlation_scores(feats: torch.Tensor | np.ndarray) -> np.ndarray:
    """Corr. (path) scores [S, E]: correlation of the objects' flattened trajectories (sender-major pairs)."""
    x = feats.numpy() if isinstance(feats, torch.Tensor) else np.asarray(feats)
    s, n = x.shape[:2]
    v = x.reshape(s, n, -1)
    v = v - v.mean(-1, keepdims=True)
    v = v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-12)
    corr = np.einsum("snf,smf->snm", v, v)
    return corr[:, ~np.eye(n, dtype=bool)]


def correlation_baseline(fit_feats, fit_labels, test_feats, test_labels) -> dict[str, float]:
    """Corr. (path): edge = |correlation| above a threshold (or below), both chosen on the fit set.

    Binary labels only (springs, Kuramoto, charged). Returns the test accuracy and the threshold.
    """
    fit_s = np.abs(correlation_scores(fit_feats)).ravel()
    fit_y = np.asarray(fit_labels).ravel()
    if set(np.unique(fit_y)) - {0, 1}:
        raise InputError("correlation_baseline needs binary edge labels")
    best = (-1.0, 0.0, 1)
    for thr in np.quantile(fit_s, np.linspace(0.01, 0.99, 99)):
        for sign in (1, -1):
            acc = float(((sign * (fit_s - thr) > 0) == fit_y).mean())
            if acc > best[0]:
                best = (acc, float(thr), sign)
    _, thr, sign = best
    test_s = np.abs(correlation_scores(test_feats)).ravel()
    acc = float(((sign * (test_s - thr) > 0) == np.asarray(test_labels).ravel()).mean())
    return {"accuracy": acc, "threshold": thr, "sign": sign, "fit_accuracy": best[0]}
