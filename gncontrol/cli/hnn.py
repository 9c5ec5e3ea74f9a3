"""`gncontrol hnn`: train an HNN (or its MLP baseline) on a Hamiltonian system and report it."""

from __future__ import annotations

import argparse

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

HELP = "train an HNN or baseline on a Hamiltonian system (mass_spring, pendulum, two_body, ...)"

SYSTEM_NAMES = ("mass_spring", "pendulum", "damped_pendulum", "two_body", "three_body")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags: system, model, sizes, optimisation, output checkpoint and TensorBoard folder."""
    parser.add_argument("--config", default=None,
                        help="JSON file of flag defaults, flags win (e.g. configs/hamiltonian/hnn_two_body.json)")
    parser.add_argument("--system", default="mass_spring", help=f"one of {', '.join(SYSTEM_NAMES)}")
    parser.add_argument("--baseline", action="store_true", help="train the MLP baseline instead")
    parser.add_argument("--trajectories", type=positive_int, default=50)
    parser.add_argument("--train-fraction", type=fraction(lo_open=True, hi_open=True), default=0.5,
                        help="fraction of the trajectories trained on, in (0, 1); the rest are the test set")
    parser.add_argument("--steps", type=positive_int, default=2000)
    parser.add_argument("--batch-size", type=positive_int, default=None, help="default: full batch")
    parser.add_argument("--lr", type=learning_rate, default=1e-3, help=f"Adam learning rate, in (0, {LR_MAX:g}]")
    parser.add_argument("--weight-decay", type=nonnegative_float, default=1e-4, help="Adam weight decay, >= 0")
    parser.add_argument("--hidden", type=positive_int, default=200)
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="seed (>= 0)")
    parser.add_argument("--device", type=device, default="cpu", help=f"torch device: {DEVICE_FORMS}")
    parser.add_argument("--out", default=None, help="checkpoint path (written atomically)")
    parser.add_argument("--logdir", default=None, help="TensorBoard folder for the loss curve")


def run(args: argparse.Namespace) -> int:
    """Generates data, trains, prints train/test derivative MSE, optionally saves a checkpoint."""
    import torch

    from envs.particles.hamiltonian_systems import make_dataset, make_system
    from gncontrol.checkpoints import count_non_finite, save_checkpoint
    from gncontrol.cli._common import check_output_dir, check_output_file, resolve_device
    from gncontrol.hamiltonian.hnn import HNN, BaselineMLP, fit_derivatives
    from gncontrol.hamiltonian.metrics import derivative_mse
    from gncontrol.run_guard import TrainingInterrupted, say

    if args.system not in SYSTEM_NAMES:
        raise InputError(f"unknown system '{args.system}', expected one of {', '.join(SYSTEM_NAMES)}")
    if not 0 < args.train_fraction < 1:
        raise InputError(f"--train-fraction must be in (0, 1), got {args.train_fraction}")
    if args.out:
        check_output_file(args.out, "--out")
    if args.logdir:
        check_output_dir(args.logdir, "--logdir")
    dev = resolve_device(args.device)
    torch.manual_seed(args.seed)
    system = make_system(args.system)
    train, test = make_dataset(system, args.trajectories, seed=args.seed).split(args.train_fraction)
    xtr, dxtr = (torch.tensor(a, dtype=torch.float32, device=dev) for a in train.flat())
    xte, dxte = (torch.tensor(a, dtype=torch.float32, device=dev) for a in test.flat())
    cls = BaselineMLP if args.baseline else HNN
    model = cls(system.dim, hidden=args.hidden).to(dev)
    config = {"model": cls.__name__, "state_dim": system.dim, "hidden": args.hidden, "system": args.system,
              "seed": args.seed}
    try:
        losses = fit_derivatives(model, xtr, dxtr, steps=args.steps, batch_size=args.batch_size,
                                 lr=args.lr, weight_decay=args.weight_decay, seed=args.seed,
                                 progress=True)
    except TrainingInterrupted as stop:  # Ctrl-C: keep the completed steps' weights (there is no --resume)
        kept = "nothing saved"
        if args.out and stop.consistent and stop.step and not count_non_finite(model.state_dict())[0]:
            save_checkpoint(args.out, "hnn", {"config": config, "weights": model.state_dict(), "step": stop.step,
                                              "complete": False})
            kept = f"its weights are in {args.out} (hnn has no --resume: rerun to train all {args.steps} steps)"
        say(f"interrupted at step {stop.step} of {args.steps}: {kept}")
        raise
    if args.logdir:
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(args.logdir) as writer:
            for i, loss in enumerate(losses):
                writer.add_scalar("train/derivative_mse", loss, i)
    tr = derivative_mse(model.derivative, xtr, dxtr)
    te = derivative_mse(model.derivative, xte, dxte)
    print(f"{cls.__name__} on {args.system}: train derivative MSE {tr:.4g}, test {te:.4g}")
    if args.out:
        save_checkpoint(args.out, "hnn", {
            "config": config, "weights": model.state_dict(), "train_mse": tr, "test_mse": te, "step": args.steps,
            "complete": True})
        print(f"checkpoint written to {args.out}")
    return 0

