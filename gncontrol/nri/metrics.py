"""NRI / fNRI metrics: permutation-max edge accuracy (single, per layer, combined) and MSEs.

Learned edge types come out in arbitrary order, so accuracy is the maximum over
relabelings. Single-layer: an optimal assignment on the confusion matrix (scipy's
Hungarian solver, exact for any K, equal to the max over all K! permutations).
Factorised: a pair counts for "combined" only if every layer is right.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from gncontrol.errors import InputError

__all__ = [
    "edge_accuracy",
    "best_permutation",
    "factorised_accuracy",
    "combined_from_layers",
    "sigmoid_factor_accuracy",
    "mse_per_horizon",
    "window_mse",
]


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def best_permutation(pred: np.ndarray, true: np.ndarray, k: int) -> np.ndarray:
    """perm [k] maximising mean(perm[pred] == true) for integer labels in [0, k)."""
    pred, true = _np(pred).ravel(), _np(true).ravel()
    if pred.size and (pred.max() >= k or true.max() >= k or min(pred.min(), true.min()) < 0):
        raise InputError(f"labels must lie in [0, {k})")
    conf = np.zeros((k, k), dtype=np.int64)
    np.add.at(conf, (pred, true), 1)
    rows, cols = linear_sum_assignment(conf, maximize=True)
    perm = np.empty(k, dtype=np.int64)
    perm[rows] = cols
    return perm


def edge_accuracy(pred, true, k: int, batch_size: int | None = None) -> float:
    """Max over relabelings of the fraction of correct edge labels; pred/true [S, E] ints.

    `batch_size`: maximise per consecutive batch and average (fNRI's protocol, 128);
    None: one relabeling for the whole set (NRI's reported accuracy).
    """
    pred, true = _np(pred), _np(true)
    if pred.shape != true.shape:
        raise InputError(f"pred {pred.shape} and true {true.shape} differ in shape")
    chunks = [slice(None)] if batch_size is None else [slice(i, i + batch_size)
                                                       for i in range(0, len(pred), batch_size)]
    correct = 0
    for sl in chunks:
        perm = best_permutation(pred[sl], true[sl], k)
        correct += int((perm[pred[sl]] == true[sl]).sum())
    return correct / true.size


def combined_from_layers(labels, layer_sizes: list[int]) -> np.ndarray:
    """Mixed-radix combined label of per-layer labels [..., L] (I+C: 2*spring + charge)."""
    labels = _np(labels)
    out = np.zeros(labels.shape[:-1], dtype=np.int64)
    for a, k in enumerate(layer_sizes):
        out = out * k + labels[..., a]
    return out


def _layers_from_combined(comb: np.ndarray, layer_sizes: list[int]) -> np.ndarray:
    digits = []
    for k in reversed(layer_sizes):
        digits.append(comb % k)
        comb = comb // k
    return np.stack(digits[::-1], axis=-1)


def factorised_accuracy(pred, true, layer_sizes: list[int], pred_layer_sizes: list[int] | None = None,
                        batch_size: int | None = 128) -> dict[str, float]:
    """Per-layer and combined accuracy for multiplex graphs; true [S, E, L] per-layer labels.

    pred [S, E, L'] per-layer labels (fNRI; `pred_layer_sizes` = layer sizes, default the
    truth's) or [S, E] one combined label (NRI with K = prod(layer_sizes)). Both are scored as
    the fNRI authors' code scores them: per-layer predictions are encoded as one mixed-radix
    label, the K combined labels get the best of all K! relabelings (so learned layers may come
    out in either order), and the layers' accuracies are read off the relabelled label.
    """
    pred, true = _np(pred), _np(true)
    n_layers = len(layer_sizes)
    k = int(np.prod(layer_sizes))
    if pred.ndim == true.ndim:  # fNRI per-layer labels -> one combined label, as the authors' code
        sizes = pred_layer_sizes or layer_sizes
        if int(np.prod(sizes)) != k:
            raise InputError(f"predicted layer sizes {sizes} and true {layer_sizes} differ in label count")
        pred = combined_from_layers(pred, sizes)
    chunks = [slice(None)] if batch_size is None else [slice(i, i + batch_size)
                                                       for i in range(0, len(pred), batch_size)]
    layer_correct = np.zeros(n_layers)
    comb_correct = 0
    for sl in chunks:
        p, t = pred[sl], true[sl]
        perm = best_permutation(p, combined_from_layers(t, layer_sizes), k)
        relabelled = _layers_from_combined(perm[p], layer_sizes)
        layer_correct += (relabelled == t).reshape(-1, n_layers).sum(0)
        comb_correct += int((relabelled == t).all(-1).sum())
    n = true.shape[0] * true.shape[1]
    out = {"combined": comb_correct / n}
    for a in range(n_layers):
        out[f"layer{a}"] = float(layer_correct[a] / n)
    return out


def sigmoid_factor_accuracy(pred_bits, true, batch_size: int | None = 128) -> dict[str, float]:
    """sfNRI accuracy: pred_bits [S, E, K] rounded sigmoids, true [S, E, K] binary layers; the
    K factors are matched to the K layers by the best permutation of factors (per batch)."""
    pred, true = _np(pred_bits), _np(true)
    k = true.shape[-1]
    chunks = [slice(None)] if batch_size is None else [slice(i, i + batch_size)
                                                       for i in range(0, len(pred), batch_size)]
    layer_correct = np.zeros(k)
    comb = 0
    for sl in chunks:
        p, t = pred[sl], true[sl]
        best, best_lab = -1, None
        for perm in itertools.permutations(range(k)):
            lab = p[..., list(perm)]
            score = int((lab == t).all(-1).sum())
            if score > best:
                best, best_lab = score, lab
        comb += best
        layer_correct += (best_lab == t).reshape(-1, k).sum(0)
    n = true.shape[0] * true.shape[1]
    out = {"combined": comb / n}
    for a in range(k):
        out[f"layer{a}"] = float(layer_correct[a] / n)
    return out


def mse_per_horizon(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """NRI's per-horizon MSE: preds/target [B, N, H, D] -> [H], mean over batch, objects, dims."""
    if preds.shape != target.shape:
        raise InputError(f"preds {tuple(preds.shape)} and target {tuple(target.shape)} differ")
    return ((preds - target) ** 2).mean(dim=(0, 1, 3))


def window_mse(preds: torch.Tensor, target: torch.Tensor) -> float:
    """fNRI's "step k" MSE: mean over a whole window of predictions made with ground truth
    re-fed every k steps (preds/target [B, N, T-1, D]) -> a scalar."""
    if preds.shape != target.shape:
        raise InputError(f"preds {tuple(preds.shape)} and target {tuple(target.shape)} differ")
    return float(((preds - target) ** 2).mean())
