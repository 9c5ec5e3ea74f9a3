"""Helpers shared by the CLI subcommands: config files, data loading, devices."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from gncontrol.cli._options import (
    DEVICE_FORMS,
    LR_MAX,
    device,
    fraction,
    learning_rate,
    nonnegative_float,
    nonnegative_int,
    positive_int,
)
from gncontrol.errors import InputError

__all__ = ["add_config_argument", "add_training_arguments", "check_output_dir", "check_output_file",
           "check_training_out", "config_defaults", "load_systems", "resolve_device", "train_config_from_args"]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Adds --config FILE.json: its keys become defaults that command-line flags override."""
    parser.add_argument("--config", type=Path, default=None,
                        help="JSON file of option defaults (see configs/); flags override it")


def config_defaults(parser: argparse.ArgumentParser, path: str | Path) -> dict:
    """Reads a JSON config into {dest: value} for `parser`; unknown keys are an error.

    Each value passes the same check as the flag would (the option's `type=`, nargs and
    choices), so a config cannot smuggle in a value the command line refuses.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"config {path} is not valid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise InputError(f"config {path} must be a JSON object of option names and values, "
                         f"got a JSON {type(values).__name__}")
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", argparse.SUPPRESS)}
    out = {}
    for key, value in values.items():
        dest = key.replace("-", "_")
        if dest.startswith("_"):
            continue  # notes such as "_paper" or "_comment"
        if dest not in actions:
            raise InputError(f"config {path}: unknown option '{key}'")
        try:
            out[dest] = _config_value(actions[dest], value)
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            raise InputError(f"config {path}: option '{key}': {exc}") from None
    return out


def _config_value(action: argparse.Action, value):
    """`value` from a JSON config converted and checked as argparse would the flag's text."""
    if value is None:
        if action.default is None:
            return None  # "unset": the command's own default
        raise argparse.ArgumentTypeError("null is only allowed for an option whose default is unset")
    if action.nargs == 0:  # store_true / store_false
        if not isinstance(value, bool):
            raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")
        return value
    if action.nargs in ("+", "*") or isinstance(action.nargs, int):
        if not isinstance(value, list):
            raise argparse.ArgumentTypeError(f"expected a JSON list, got {value!r}")
        if isinstance(action.nargs, int) and len(value) != action.nargs:
            raise argparse.ArgumentTypeError(f"expected {action.nargs} values, got {len(value)}")
        if action.nargs == "+" and not value:
            raise argparse.ArgumentTypeError("expected at least one value")
        return [_config_scalar(action, v) for v in value]
    return _config_scalar(action, value)


def _config_scalar(action: argparse.Action, value):
    kind = action.type
    if kind is None or kind is str or kind is Path:
        if not isinstance(value, str):
            raise argparse.ArgumentTypeError(f"expected a string, got {value!r}")
        out = value if kind is None else kind(value)
    else:
        out = kind(value)
    if action.choices is not None and out not in action.choices:
        raise argparse.ArgumentTypeError(f"{out!r} is not one of {', '.join(map(str, action.choices))}")
    return out


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """Optimisation, model-width, validation and device options shared by the training commands."""
    p.add_argument("--steps", type=positive_int, default=20_000, help="optimisation steps (>= 1)")
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--lr", type=learning_rate, default=1e-3, help=f"initial Adam learning rate, in (0, {LR_MAX:g}]")
    p.add_argument("--lr-final", type=learning_rate, default=1e-5,
                   help=f"learning rate reached at the last step (exponential decay), in (0, {LR_MAX:g}]")
    p.add_argument("--noise", type=nonnegative_float, default=0.02,
                   help="input noise std (normalised units), >= 0 (0: no noise)")
    p.add_argument("--latent", type=positive_int, default=128, help="forward model latent size")
    p.add_argument("--hidden", type=positive_int, nargs="+", default=[128], help="MLP hidden layer sizes")
    p.add_argument("--val-fraction", type=fraction(lo_open=True, hi_open=True), default=0.1,
                   help="fraction of each file's episodes held out for validation, in (0, 1) (at least one)")
    p.add_argument("--val-every", type=positive_int, default=1000, help="validate every this many steps")
    p.add_argument("--checkpoint-every", type=positive_int, default=1000,
                   help="write OUT/model.pt every this many steps (and at the end)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed (>= 0)")
    p.add_argument("--device", type=device, default="cpu", help=f"torch device: {DEVICE_FORMS}")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch CPU threads (default: torch's choice; 1 is far faster for small models on a "
                        "busy machine)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/model.pt")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run in OUT if OUT/model.pt exists (without it, or --resume, that is refused)")


def train_config_from_args(args: argparse.Namespace):
    """The TrainConfig that `add_training_arguments`' options describe (and applies --threads)."""
    import torch

    from gncontrol.forward.training import TrainConfig

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)

    return TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, lr_final=args.lr_final,
                       noise_std=args.noise, val_every=args.val_every, checkpoint_every=args.checkpoint_every,
                       seed=args.seed)


def load_systems(paths: list[str], dtype=None):
    """Loads HDF5 trajectory files as SystemTrajectories (name = the file's task)."""
    import torch

    from gncontrol.forward.datasets import load_trajectories
    from gncontrol.forward.transitions import SystemTrajectories

    out = []
    for p in paths:
        data = load_trajectories(p)
        name = str(data.metadata.get("task", Path(p).stem))
        out.append(SystemTrajectories.from_arrays(name, data, dtype or torch.float32))
    return out


def file_stem(task_name: str) -> str:
    """A file-name-safe form of a task name (`xml:models/arm.xml` -> `xml_models_arm.xml`)."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", task_name).strip("_") or "task"


def resolve_device(name: str):
    """torch.device from a flag, with a clear one-line error for an unknown or unavailable device."""
    import torch

    device(name)  # the same check as the flag's type (a config or a caller may pass anything)
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {name}: CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError(f"--device {name}: MPS is not available on this machine")
    return dev


def _nearest_existing(path: Path) -> Path:
    for p in (path, *path.parents):
        if p.exists():
            return p
    return Path(".")


def _check_writable_parent(path: Path, option: str, target: str) -> None:
    parent = _nearest_existing(path.parent)
    if not parent.is_dir():
        raise InputError(f"{option} {target}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {target}: no permission to write in {parent}")


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Refuses, before any work, an output folder that is a file, lies under a file or cannot be written.

    Creates nothing; returns the path. (Writability is what os.access says: as root, everything.)
    """
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise InputError(f"{option} {p}: is an existing file, not a folder")
        if not os.access(p, os.W_OK | os.X_OK):
            raise InputError(f"{option} {p}: no permission to write in this folder")
        return p
    _check_writable_parent(p, option, str(p))
    return p


def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """Refuses, before any work, an output file that is a folder, lies under a file or cannot be written."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{option} {p}: is a folder, not a file")
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(f"{option} {p}: no permission to write this file")
    _check_writable_parent(p, option, str(p))
    return p


def check_training_out(args: argparse.Namespace, kind: str) -> int | None:
    """Checks a training command's --out before any work; the step of the checkpoint --resume continues.

    An OUT/model.pt from an earlier run is refused unless --resume (continue it) or --overwrite
    (replace it) is given. Returns the checkpoint's step when resuming one, else None.
    """
    from gncontrol.checkpoints import load_checkpoint

    out = check_output_dir(args.out, "--out")
    if args.resume and args.overwrite:
        raise InputError("--resume continues the run in --out and --overwrite replaces it: give only one")
    ckpt = out / "model.pt"
    if ckpt.is_dir():
        raise InputError(f"--out {out}: {ckpt} is a folder, not a checkpoint")
    if not ckpt.exists():
        return None
    if args.resume:
        return int(load_checkpoint(ckpt, kind)["step"])
    if not args.overwrite:
        raise InputError(f"--out {out} already holds a trained model ({ckpt}): give --resume to continue it "
                         "or --overwrite to replace it")
    return None


def training_start(args: argparse.Namespace, kind: str) -> tuple[bool, int | None]:
    """(whether there is anything to train, the step a --resume continues from), after `check_training_out`.

    Says so in one line when a --resume finds the run already at --steps (nothing to do) or finds
    no checkpoint yet (training from scratch).
    """
    start = check_training_out(args, kind)
    ckpt = f"{args.out}/model.pt"
    if start is not None and start >= args.steps:
        print(f"nothing to train: {ckpt} is already at step {start} (--steps {args.steps}); model unchanged "
              "(raise --steps to train further)")
        return False, start
    if args.resume and start is None:
        print(f"--resume: no {ckpt} yet, training from scratch")
    return True, start


def training_run_inputs(args: argparse.Namespace, kind: str) -> tuple[Any, int | None, list] | None:
    """What `train` and `train-sysid` check before any work: --data given, the device, the output
    (`training_start`); then the loaded systems. None when there is nothing to train."""
    if not args.data:
        raise InputError("--data needs at least one HDF5 file")
    device = resolve_device(args.device)
    needed, start = training_start(args, kind)
    if not needed:
        return None
    return device, start, load_systems(args.data)


def say_trained(args: argparse.Namespace, start: int | None) -> None:
    """The one line a finished training run prints: steps trained, where the model and logs are."""
    done = f"resumed at step {start}, trained to step {args.steps}" if start else f"trained {args.steps} steps"
    print(f"{done}; model written to {args.out}/model.pt; TensorBoard logs in {args.out}/tb")
