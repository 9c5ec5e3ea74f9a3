"""`gncontrol train-sysid`: train the system-ID encoder and its GN forward model jointly."""

from __future__ import annotations

import argparse

from gncontrol.cli._common import add_config_argument, add_training_arguments
from gncontrol.cli._options import positive_int
from gncontrol.errors import InputError

HELP = "train a system-identification model (recurrent GN encoder + GN forward model) end to end"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `gncontrol train-sysid`."""
    add_config_argument(p)
    p.add_argument("--data", nargs="+", help="HDF5 files of parameter-randomised episodes (collect --randomise)")
    p.add_argument("--out", default="runs/sysid", help="output folder (model.pt, tb/)")
    p.add_argument("--window", type=positive_int, default=20, help="identification window (model steps)")
    p.add_argument("--control-steps", type=positive_int, default=1,
                   help="control steps per model step: k > 1 trains encoder and model on k-step transitions "
                   "(data collected with --hold k), so the window spans window x k control steps")
    p.add_argument("--targets-per-window", type=positive_int, default=8, help="one-step targets per window")
    p.add_argument("--horizon", type=positive_int, default=1,
                   help="loss horizon: 1 = one-step targets, H > 1 = H-step rollout from each target")
    p.add_argument("--latent-sizes", type=positive_int, nargs=3, default=[16, 16, 16],
                   help="latent node/edge/global sizes")
    p.add_argument("--encoder-hidden", type=positive_int, default=64)
    p.add_argument("--encoder-update", choices=("gru", "mean"), default="gru",
                   help="encoder's recurrent update: GRU, or the running mean of its GN messages")
    add_training_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Loads data, trains with progress bar and TensorBoard, writes OUT/model.pt."""
    from gncontrol.cli._common import say_trained, train_config_from_args, training_run_inputs
    from gncontrol.sysid.model import SystemIDConfig
    from gncontrol.sysid.training import CHECKPOINT_KIND, train_system_id

    inputs = training_run_inputs(args, CHECKPOINT_KIND)
    if inputs is None:
        return 0
    device, start, systems = inputs
    systems = [s.every(args.control_steps) for s in systems]
    for s in systems:
        if s.episode_length < args.window:
            raise InputError(f"{s.name}: episodes of {s.episode_length} steps are shorter than --window "
                             f"{args.window}")
    splits = [s.split(args.val_fraction) for s in systems]
    config = train_config_from_args(args)
    model_config = SystemIDConfig(latent_sizes=tuple(args.latent_sizes), encoder_hidden=args.encoder_hidden,
                                  encoder_update=args.encoder_update,
                                  forward_latent=args.latent, forward_hidden=tuple(args.hidden),
                                  window=args.window, control_steps=args.control_steps)
    train_system_id(model_config, [t for t, _ in splits], [v for _, v in splits], config, args.out,
                    targets_per_window=args.targets_per_window, device=device,
                    resume=args.resume, metadata={"data": list(args.data)}, horizon=args.horizon)
    say_trained(args, start)
    return 0
