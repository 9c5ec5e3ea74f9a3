"""Timing shared by the speed benchmarks (`from benchmarks._timing import interleaved`)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

__all__ = ["interleaved", "device_sync"]


def interleaved(fns: dict[str, Callable[[], object]], reps: int, warmup: int = 1,
                sync: Callable[[], object] | None = None) -> dict[str, float]:
    """Median seconds per call of each function, the calls alternating between them (fair on a loaded machine).

    `sync`: called before each timer start and stop (e.g. torch.cuda.synchronize), so work a GPU still has
    queued is counted in the call that queued it (`device_sync`)."""
    sync = sync or (lambda: None)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def device_sync(device: object) -> Callable[[], object] | None:
    """torch.cuda.synchronize for a CUDA device (what `interleaved`'s `sync` needs there), else None."""
    import torch

    return torch.cuda.synchronize if torch.device(device).type == "cuda" else None
