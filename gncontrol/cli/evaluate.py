"""`gncontrol evaluate`: the paper's normalised one-step and rollout errors, with plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from gncontrol.cli._options import DEVICE_FORMS, device, positive_int

HELP = "evaluate a forward model: error per quantity relative to the constant baseline"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `gncontrol evaluate`."""
    p.add_argument("--model", required=True, help="checkpoint (model.pt) from `gncontrol train`")
    p.add_argument("--data", nargs="+", required=True, help="HDF5 trajectory files to evaluate on")
    p.add_argument("--horizons", type=positive_int, nargs="+", default=[1, 20, 100],
                   help="rollout horizons in control steps (each >= 1; capped at the episode length; a model "
                   "of k control steps per step is rolled out round(h / k) steps, at least 1)")
    p.add_argument("--starts", type=positive_int, default=4, help="rollout start times per episode")
    p.add_argument("--out", default=None, help="folder for the rollout plot (default: beside the model)")
    p.add_argument("--reward-model", default=None, help="also report this learned reward's error (reward.pt from "
                   "`gncontrol train-reward`) against the data's recorded rewards")
    p.add_argument("--allow-other-system", action="store_true", help="evaluate on systems the model was not trained "
                   "on (zero-shot, e.g. a SwimmerN of an unseen N); refused otherwise")
    p.add_argument("--device", type=device, default="cpu", help=f"torch device: {DEVICE_FORMS}")


def run(args: argparse.Namespace) -> int:
    """Prints a table per system and writes a rollout plot (true vs predicted)."""
    from gncontrol.cli._common import check_output_dir, file_stem, load_systems, resolve_device
    from gncontrol.forward.metrics import rollout_errors
    from gncontrol.forward.plots import plot_rollout
    from gncontrol.forward.training import load_forward_model
    from gncontrol.system_signature import check_trained_on, signature_of

    out = check_output_dir(args.out if args.out else Path(args.model).parent,
                           "--out" if args.out else "--out (default: the --model folder)")
    device = resolve_device(args.device)
    model, record = load_forward_model(args.model, device)
    print(f"model {args.model}: {record['model_config']['kind']}, trained {record['step']} steps")
    print(f"{'system':22s} {'horizon':>7s} {'mean':>8s} {'pos':>8s} {'orient':>8s} {'linvel':>8s} {'angvel':>8s}")
    k = model.control_steps
    if k > 1:
        print(f"the model steps {k} control steps at once: rolled out on the data at that time step (horizons in "
              "control steps)")
    for data in load_systems(args.data):
        check_trained_on(record, data.name, signature_of(data), source=f"--model {args.model}",
                         allow_other=args.allow_other_system)
        data = data.every(k)
        for h in args.horizons:
            h_eff = min(max(1, round(h / k)), data.episode_length)
            e = rollout_errors(model, data, h_eff, args.starts, device)
            cells = [e["mean"], e["position"], e["orientation"], e["linear_velocity"], e["angular_velocity"]]
            print(f"{data.name:22s} {h_eff * k:7d} " + " ".join(f"{c:8.4f}" for c in cells))
        path = plot_rollout(model, data, min(100, data.episode_length), out / f"rollout_{file_stem(data.name)}.png",
                            device)
        print(f"rollout plot: {path}")
    if args.reward_model:
        report_reward_model(args.reward_model, args.data, args.allow_other_system)
    return 0


def report_reward_model(path: str, data_paths: list[str], allow_other: bool) -> None:
    """Prints the reward model's RMSE on each dataset's recorded rewards beside a constant's."""
    from gncontrol.forward.datasets import load_trajectories
    from gncontrol.forward.reward_model import load_reward_model, reward_model_error
    from gncontrol.forward.transitions import SystemTrajectories
    from gncontrol.system_signature import check_trained_on, signature_of

    model, record = load_reward_model(path)
    for p in data_paths:
        raw = load_trajectories(p)
        name = str(raw.metadata.get("task", Path(p).stem))
        check_trained_on(record, name, signature_of(SystemTrajectories.from_arrays(name, raw)),
                         source=f"--reward-model {path}", allow_other=allow_other)
        e = reward_model_error(model, raw)
        print(f"reward model on {name}: RMSE {e['rmse']:.4g} vs {e['constant_rmse']:.4g} for a constant "
              f"(ratio {e['ratio']:.3f}) over {raw.num_episodes} episodes")
