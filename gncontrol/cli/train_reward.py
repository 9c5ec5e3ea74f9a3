"""`gncontrol train-reward`: a learned reward model from the environment rewards stored with the data."""

from __future__ import annotations

import argparse

from gncontrol.cli._options import fraction, learning_rate, nonnegative_int, positive_int

HELP = "train a reward model (state, action -> reward) on a dataset's rewards, for tasks with no torch reward"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `gncontrol train-reward`."""
    p.add_argument("--data", required=True, help="HDF5 dataset from `gncontrol collect` (its rewards are the env's)")
    p.add_argument("--out", default="runs/reward", help="output folder (reward.pt)")
    p.add_argument("--steps", type=positive_int, default=2000)
    p.add_argument("--hidden", type=positive_int, nargs="+", default=[256, 256], help="MLP hidden widths")
    p.add_argument("--lr", type=learning_rate, default=1e-3)
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--val-fraction", type=fraction(lo_open=True), default=0.2, help="held-out share of the episodes")
    p.add_argument("--absolute-xy", action="store_true", help="keep world x, y of the bodies (rewards tied to a "
                   "place in the world); default: x, y relative to body 1 (locomotion)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing reward.pt in --out")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed (>= 0)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Trains, writes OUT/reward.pt, prints the held-out error against a constant predictor."""
    import json

    import torch

    from gncontrol.cli._common import check_output_dir
    from gncontrol.errors import InputError
    from gncontrol.forward.datasets import load_trajectories
    from gncontrol.forward.reward_model import RewardModelConfig, save_reward_model, train_reward_model
    from gncontrol.forward.transitions import SystemTrajectories
    from gncontrol.system_signature import signature_of

    out = check_output_dir(args.out, "--out")
    path = out / "reward.pt"
    if path.exists() and not args.overwrite:
        raise InputError(f"{path} exists; pass --overwrite to replace it")
    torch.set_num_threads(1)
    data = load_trajectories(args.data)
    task = str(data.metadata.get("task", "unknown"))
    config = RewardModelConfig(data.states.shape[2], data.actions.shape[2], tuple(args.hidden), args.absolute_xy)
    model, report = train_reward_model(data, config, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                       val_fraction=args.val_fraction, seed=args.seed,
                                       progress=not args.no_progress)
    signature = signature_of(SystemTrajectories.from_arrays(task, data))
    save_reward_model(path, model, task, signature, {**report, "rewards": data.metadata.get("rewards", "torch")})
    (out / "reward_report.json").write_text(json.dumps(report, indent=2))
    print(f"reward model for {task}: held-out RMSE {report['val_rmse']:.4g} vs {report['constant_rmse']:.4g} for "
          f"a constant (ratio {report['ratio']:.3f}, {report['val_episodes']} held-out episodes); written to {path}")
    return 0
