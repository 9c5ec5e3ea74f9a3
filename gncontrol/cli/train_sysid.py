"""`gncontrol train-sysid`: train the system-ID encoder and its GN forward model jointly."""

from __future__ import annotations

import argparse

from gncontrol.cli._common import add_config_argument

HELP = "train a system-identification model (recurrent GN encoder + GN forward model) end to end"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `gncontrol train-sysid`."""
    add_config_argument(p)
    p.add_argument("--data", nargs="+", help="HDF5 files of parameter-randomised episodes (collect --randomise)")
    p.add_argument("--out", default="runs/sysid", help="output folder (model.pt, tb/)")
    p.add_argument("--window", type=int, default=20, help="identification window (steps)")
    p.add_argument("--targets-per-window", type=int, default=8, help="one-step targets per window")
    p.add_argument("--latent-sizes", type=int, nargs=3, default=[16, 16, 16], help="latent node/edge/global sizes")
    p.add_argument("--encoder-hidden", type=int, default=64)
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--batch-size", type=int, default=128, help="transitions per step and system")
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
    p.add_argument("--resume", action="store_true", help="continue from OUT/model.pt")


def run(args: argparse.Namespace) -> int:
    """Loads data, trains with progress bar and TensorBoard, writes OUT/model.pt."""
    from gncontrol.cli._common import load_systems, resolve_device
    from gncontrol.models.system_id import SystemIDConfig
    from gncontrol.system_id_training import train_system_id
    from gncontrol.training import TrainConfig

    if not args.data:
        raise ValueError("--data needs at least one HDF5 file")
    systems = load_systems(args.data)
    for s in systems:
        if s.episode_length < args.window:
            raise ValueError(f"{s.name}: episodes of {s.episode_length} steps are shorter than --window "
                             f"{args.window}")
    splits = [s.split(args.val_fraction) for s in systems]
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, lr_final=args.lr_final,
                         noise_std=args.noise, val_every=args.val_every,
                         checkpoint_every=args.checkpoint_every, seed=args.seed)
    model_config = SystemIDConfig(latent_sizes=tuple(args.latent_sizes), encoder_hidden=args.encoder_hidden,
                                  forward_latent=args.latent, forward_hidden=tuple(args.hidden),
                                  window=args.window)
    train_system_id(model_config, [t for t, _ in splits], [v for _, v in splits], config, args.out,
                    targets_per_window=args.targets_per_window, device=resolve_device(args.device),
                    resume=args.resume, metadata={"data": list(args.data)})
    print(f"model written to {args.out}/model.pt; TensorBoard logs in {args.out}/tb")
    return 0
