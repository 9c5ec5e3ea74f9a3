"""`gncontrol train`: fit a GN / recurrent GN / MLP forward model on trajectory files."""

from __future__ import annotations

import argparse
import dataclasses

from gncontrol.cli._common import add_config_argument, add_training_arguments
from gncontrol.cli._options import nonnegative_int, positive_int
from gncontrol.errors import InputError

HELP = "train a forward model (gn, recurrent or mlp) on HDF5 trajectory files"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `gncontrol train`."""
    add_config_argument(p)
    p.add_argument("--data", nargs="+", help="HDF5 files from `gncontrol collect` (several = multi-system)")
    p.add_argument("--model", default="gn", choices=["gn", "recurrent", "mlp"])
    p.add_argument("--out", default="runs/forward", help="output folder (model.pt, tb/)")
    p.add_argument("--control-steps", type=positive_int, default=1,
                   help="control steps per model step: k > 1 trains a model at the decision time step on k-step "
                   "transitions (data collected with --hold k); planners with action repeat k then take one model "
                   "step per decision")
    p.add_argument("--positions", default="auto", choices=["auto", "relative", "absolute", "per-system"],
                   help="x, y inputs: relative to the bodies' mean (translation invariant), or absolute for systems "
                   "whose dynamics depend on where they are (walls, rail limits); auto: absolute when a limited "
                   "slide joint hangs a body from the world (cartpole), else relative; per-system (auto for a mix): "
                   "absolute only in the graphs that need it")
    p.add_argument("--sequence-length", type=positive_int, default=1,
                   help="recurrent model: train on windows of this many consecutive transitions (truncated "
                   "backpropagation through time); 1 = single transitions")
    p.add_argument("--burn-in", type=nonnegative_int, default=0,
                   help="recurrent model: steps of each window that only warm up the hidden state (0: none)")
    p.add_argument("--rollout-steps", type=positive_int, default=1,
                   help="gn / mlp model: train on the error of its own rollout over windows of this many "
                   "consecutive model steps (it learns to correct the drift a planner's rollout meets); "
                   "1 = the one-step loss")
    p.add_argument("--balance-systems", action="store_true",
                   help="several --data: weigh each system's errors by its own delta variance and node share, so "
                   "each counts as in its single-system model's loss (gncontrol.forward.balance)")
    add_training_arguments(p)


def model_config_for(kind: str, latent: int, hidden, systems, positions: str = "auto",
                     control_steps: int = 1) -> object:
    """The ForwardModelConfig of a `kind` model matching the data's static feature sizes ("auto" positions:
    absolute if any system's dynamics depend on where it is, envs.mujoco_graph.position_mode)."""
    from envs.mujoco_graph import positions_for
    from gncontrol.forward.graph_forward import ForwardModelConfig

    positions = positions_for(systems, positions)

    s0 = systems[0]
    sizes = (s0.static_nodes.shape[-1], s0.static_edges.shape[-1], s0.static_globals.shape[-1])
    for s in systems[1:]:
        other = (s.static_nodes.shape[-1], s.static_edges.shape[-1], s.static_globals.shape[-1])
        if other != sizes:
            raise InputError(f"{s.name} has static feature sizes {other}, {s0.name} has {sizes}")
    if kind == "mlp" and len(systems) > 1:
        raise InputError("the MLP baseline flattens one fixed topology: train it on one system")
    return ForwardModelConfig(kind=kind, static_sizes=sizes, latent=latent, hidden=tuple(hidden),
                              num_nodes=s0.num_nodes, num_edges=s0.num_edges, positions=positions,
                              control_steps=control_steps)


def run(args: argparse.Namespace) -> int:
    """Loads data, trains with progress bar and TensorBoard, writes OUT/model.pt."""
    from gncontrol.cli._common import say_trained, train_config_from_args, training_run_inputs
    from gncontrol.forward.training import CHECKPOINT_KIND, train_forward_model

    inputs = training_run_inputs(args, CHECKPOINT_KIND)
    if inputs is None:
        return 0
    device, start, systems = inputs
    systems = [s.every(args.control_steps) for s in systems]
    splits = [s.split(args.val_fraction) for s in systems]
    config = dataclasses.replace(train_config_from_args(args), sequence_length=args.sequence_length,
                                 burn_in=args.burn_in, balance_systems=args.balance_systems,
                                 rollout_steps=args.rollout_steps)
    model_config = model_config_for(args.model, args.latent, args.hidden, systems, args.positions,
                                    args.control_steps)
    train_forward_model(model_config, [t for t, _ in splits], [v for _, v in splits],
                        config, args.out, device=device, resume=args.resume,
                        metadata={"data": list(args.data)})
    say_trained(args, start)
    return 0
