"""Pieces every benchmark shares: the one-line machine description and CSV output under results/."""

from __future__ import annotations

import csv
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

__all__ = ["RESULTS", "machine", "write_csv"]


def machine() -> str:
    """This machine in one line (processor, cores, Python, torch, threads, CUDA device), printed by every benchmark."""
    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"{platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
            f"python={platform.python_version()} torch={torch.__version__} threads={torch.get_num_threads()} "
            f"cuda={cuda}")


def write_csv(path: str | Path, rows: list[dict]) -> Path:
    """Writes dict rows (keys of the first row as the header) to `path` (relative: under results/); returns it."""
    path = Path(path)
    if not path.is_absolute():
        path = RESULTS / path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
