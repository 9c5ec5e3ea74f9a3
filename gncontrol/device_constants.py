"""Numbers from the host as device tensors, made once per value: constants of the planning hot path.

Rewards, graph read-outs and the fast path's column gathers need small constant tensors (joint axes, body
offsets, targets, index lists) inside every planning rollout. Copying them from the host at each call costs a GPU
a synchronising copy each time and cannot be recorded in a CUDA graph (planners.graph_capture); here each value is
copied once per dtype and device and kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["device_constant"]

_CONSTANTS: dict[tuple, torch.Tensor] = {}
_LIMIT = 4096  # per-episode targets would otherwise accumulate without bound


def device_constant(x: Any, like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The numbers x (array-like) as a tensor on like's device, of `dtype` (default like's), made once per value.

    Callers must not modify the tensor returned. Inside a torch.compile region the tensor is made directly
    (traced as a constant; no Python cache is consulted there).
    """
    dtype = like.dtype if dtype is None else dtype
    a = np.ascontiguousarray(x, dtype=np.float64)
    if torch.compiler.is_compiling():
        return torch.as_tensor(a, dtype=dtype, device=like.device)
    key = (a.shape, a.tobytes(), dtype, like.device)
    t = _CONSTANTS.get(key)
    if t is None:
        if len(_CONSTANTS) >= _LIMIT:
            _CONSTANTS.clear()
        t = _CONSTANTS[key] = torch.as_tensor(a, dtype=dtype, device=like.device)
    return t
