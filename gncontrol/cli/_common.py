"""Helpers shared by the CLI subcommands: config files, data loading, devices."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gncontrol.errors import InputError

__all__ = ["add_config_argument", "add_training_arguments", "config_defaults", "load_systems", "resolve_device",
           "train_config_from_args"]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Adds --config FILE.json: its keys become defaults that command-line flags override."""
    parser.add_argument("--config", type=Path, default=None,
                        help="JSON file of option defaults (see configs/); flags override it")


def config_defaults(parser: argparse.ArgumentParser, path: str | Path) -> dict:
    """Reads a JSON config into {dest: value} for `parser`; unknown keys are an error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"config {path} is not valid JSON: {exc}") from None
    known = {a.dest for a in parser._actions}
    out = {}
    for key, value in values.items():
        dest = key.replace("-", "_")
        if dest.startswith("_"):
            continue  # notes such as "_paper" or "_comment"
        if dest not in known:
            raise InputError(f"config {path}: unknown option '{key}'")
        out[dest] = value
    return out


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """Optimisation, model-width, validation and device options shared by the training commands."""
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-final", type=float, default=1e-5)
    p.add_argument("--noise", type=float, default=0.02, help="input noise std (normalised units)")
    p.add_argument("--latent", type=int, default=128, help="forward model latent size")
    p.add_argument("--hidden", type=int, nargs="+", default=[128], help="MLP hidden layer sizes")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--val-every", type=int, default=1000)
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; 1 is far faster for small models on a "
                        "busy machine)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/model.pt")


def train_config_from_args(args: argparse.Namespace):
    """The TrainConfig that `add_training_arguments`' options describe (and applies --threads)."""
    import torch

    from gncontrol.training import TrainConfig

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)

    return TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, lr_final=args.lr_final,
                       noise_std=args.noise, val_every=args.val_every, checkpoint_every=args.checkpoint_every,
                       seed=args.seed)


def load_systems(paths: list[str], dtype=None):
    """Loads HDF5 trajectory files as SystemTrajectories (name = the file's task)."""
    import torch

    from gncontrol.datasets import load_trajectories
    from gncontrol.transitions import SystemTrajectories

    out = []
    for p in paths:
        data = load_trajectories(p)
        name = str(data.metadata.get("task", Path(p).stem))
        out.append(SystemTrajectories.from_arrays(name, data, dtype or torch.float32))
    return out


def resolve_device(name: str):
    """torch.device from a flag, with a clear error for an unavailable CUDA device."""
    import torch

    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {name}: CUDA is not available on this machine")
    return dev
