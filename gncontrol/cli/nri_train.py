"""`gncontrol nri-train`: train NRI / fNRI / sfNRI (or a trained baseline) from a JSON config.

Every key of gncontrol.nri_training.NRIConfig is also a flag (`--hidden 128`, `--layer-sizes
[2,2]`); a `--config` file's keys are defaults and flags override them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing

HELP = "train NRI/fNRI/sfNRI or an NRI baseline from a JSON config (configs/nri/*.json)"


def _bool(text: str) -> bool:
    if str(text).lower() in ("1", "true", "yes"):
        return True
    if str(text).lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got '{text}'")


def _converter(annotation: str):
    if annotation.startswith("bool"):
        return _bool
    if annotation.startswith("int"):
        return int
    if annotation.startswith("float"):
        return float
    if annotation.startswith("list"):
        return json.loads
    return str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--config plus one flag per NRIConfig field (default None: the config or the dataclass decides)."""
    from gncontrol.nri_training import NRIConfig

    parser.add_argument("--config", default=None, help="JSON config (keys of NRIConfig); flags override it")
    hints = typing.get_type_hints(NRIConfig)
    for f in dataclasses.fields(NRIConfig):
        ann = str(hints[f.name]).replace("typing.", "")
        ann = ann.replace("<class '", "").replace("'>", "")
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None, type=_converter(ann),
                            help=f"NRIConfig.{f.name}")
    parser.add_argument("--resume", action="store_true", help="continue from <out-dir>/last.pt")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Trains, evaluates on the test split and prints the test metrics as JSON."""
    from gncontrol.cli._common import resolve_device
    from gncontrol.nri_training import NRIConfig, load_config, train_nri

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(NRIConfig)}
    cfg = load_config(args.config, **overrides) if args.config else NRIConfig(
        **{k: v for k, v in overrides.items() if v is not None})
    resolve_device(cfg.device)  # a full (GPU) recipe on a CPU-only torch: one clear line, not a traceback
    res = train_nri(cfg, resume=args.resume, progress=not args.no_progress)
    print(json.dumps({"system": res["system"], "best_epoch": res["best_epoch"],
                      "train_time_s": round(res["train_time_s"], 1), "test": res["test"]}, indent=1))
    return 0
