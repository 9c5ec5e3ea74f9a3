"""`gncontrol nri-train`: train NRI / fNRI / sfNRI (or a trained baseline) from a JSON config.

Every key of gncontrol.nri.training.NRIConfig is also a flag (`--hidden 128`, `--layer-sizes
[2,2]`); a `--config` file's keys are defaults and flags override them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing

from gncontrol.cli._options import (
    DEVICE_FORMS,
    LR_MAX,
    device,
    fraction,
    json_list,
    learning_rate,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)

HELP = "train NRI/fNRI/sfNRI or an NRI baseline from a JSON config (configs/nri/*.json)"


def _bool(text: str) -> bool:
    if str(text).lower() in ("1", "true", "yes"):
        return True
    if str(text).lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got '{text}'")


# The checked type and meaning of each numeric NRIConfig field; a numeric field missing here gets a plain
# int/float type, which tests/test_cli_options.py refuses (it accepts 0, -1, NaN and inf).
_NUMERIC = {
    "hidden": (positive_int, "hidden units"),
    "edge_types": (positive_int, "edge types (NRI's K)"),
    "layer_sizes": (json_list(positive_int), "fNRI edge types per layer, a JSON list such as [2, 2]"),
    "prior": (json_list(fraction(lo_open=True, hi_open=False)),
              "edge-type prior, a JSON list of probabilities in (0, 1] (default: uniform)"),
    "tau": (positive_float, "Gumbel-softmax temperature, > 0"),
    "variance": (positive_float, "decoder output variance, > 0"),
    "dropout": (fraction(), "dropout probability, in [0, 1) (0: off)"),
    "timesteps": (positive_int, "time steps per sample the encoder sees"),
    "prediction_steps": (positive_int, "decoder steps between teacher-forced inputs"),
    "epochs": (positive_int, "training epochs"),
    "batch_size": (positive_int, "batch size"),
    "lr": (learning_rate, f"Adam learning rate, in (0, {LR_MAX:g}]"),
    "lr_decay": (positive_int, "StepLR period in epochs"),
    "gamma": (fraction(lo_open=True, hi_open=False), "learning-rate decay factor, in (0, 1] (1: no decay)"),
    "lr_min": (nonnegative_float, "floor under the decayed learning rate, >= 0 (0: none)"),
    "lr_milestones": (json_list(positive_int), "epochs after which lr *= gamma, a JSON list (MultiStepLR)"),
    "weight_decay": (nonnegative_float, "Adam weight decay, >= 0 (0: off)"),
    "train_size": (positive_int, "training samples used (default: all)"),
    "valid_size": (positive_int, "validation samples used (default: all)"),
    "test_size": (positive_int, "test samples used (default: all)"),
    "seed": (nonnegative_int, "seed (>= 0)"),
    "threads": (positive_int, "torch CPU threads"),
    "fnri_accuracy_batch": (positive_int, "batch size of the fNRI accuracy evaluation"),
}


def _converter(name: str, annotation: str):
    if name in _NUMERIC:
        return _NUMERIC[name][0]
    if name == "device":
        return device
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
    from gncontrol.nri.training import NRIConfig

    parser.add_argument("--config", default=None, help="JSON config (keys of NRIConfig); flags override it")
    hints = typing.get_type_hints(NRIConfig)
    for f in dataclasses.fields(NRIConfig):
        ann = str(hints[f.name]).replace("typing.", "")
        ann = ann.replace("<class '", "").replace("'>", "")
        meaning = _NUMERIC[f.name][1] + "; " if f.name in _NUMERIC else ""
        if f.name == "device":
            meaning = f"torch device: {DEVICE_FORMS}; "
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None,
                            type=_converter(f.name, ann), help=f"{meaning}NRIConfig.{f.name}")
    parser.add_argument("--resume", action="store_true", help="continue from <out-dir>/last.pt")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Trains, evaluates on the test split and prints the test metrics as JSON."""
    from gncontrol.cli._common import check_output_dir, resolve_device
    from gncontrol.nri.training import NRIConfig, load_config, train_nri

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(NRIConfig)}
    cfg = load_config(args.config, **overrides) if args.config else NRIConfig(
        **{k: v for k, v in overrides.items() if v is not None})
    resolve_device(cfg.device)  # a full (GPU) recipe on a CPU-only torch: one clear line, not a traceback
    check_output_dir(cfg.out_dir, "--out-dir")
    res = train_nri(cfg, resume=args.resume, progress=not args.no_progress)
    print(json.dumps({"system": res["system"], "best_epoch": res["best_epoch"],
                      "train_time_s": round(res["train_time_s"], 1), "test": res["test"]}, indent=1))
    return 0
