"""`gncontrol identify`: infer a system's latent parameter graph once from a short window, and save it.

The window is either freshly collected (N steps of uniform random control on the task,
optionally with randomised parameters) or the first N steps of an episode of an HDF5 file.
The saved latent GraphSystem is reused for new start states of the same system
(`gncontrol.sysid.model.load_identified`; a planner passes it as `params`).
"""

from __future__ import annotations

import argparse

from gncontrol.cli._options import DEVICE_FORMS, device, nonnegative_int, positive_int
from gncontrol.errors import InputError

HELP = "identify a system's latent parameter graph from a short window (system-ID model)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `gncontrol identify`."""
    p.add_argument("--model", required=True, help="checkpoint (model.pt) from `gncontrol train-sysid`")
    p.add_argument("--task", default=None, help="task to collect the window on (e.g. pendulum-swingup)")
    p.add_argument("--steps", type=positive_int, default=20, help="window length (steps of random control)")
    p.add_argument("--randomise", action="store_true", help="randomise the collected system's parameters")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed (>= 0) of the collected window (and its parameters)")
    p.add_argument("--data", default=None, help="take the window from this HDF5 file instead of collecting")
    p.add_argument("--episode", type=nonnegative_int, default=0,
                   help="episode of --data to read the window from (index >= 0)")
    p.add_argument("--refine-steps", type=nonnegative_int, default=0, help="then this many Adam steps on the latent "
                   "graph to fit the window's own transitions (semi-amortised; 200 cut pendulum's error ~2.6x; "
                   "0: off)")
    p.add_argument("--out", default="identified.pt", help="where to save the latent GraphSystem")
    p.add_argument("--device", type=device, default="cpu", help=f"torch device: {DEVICE_FORMS}")


def run(args: argparse.Namespace) -> int:
    """Builds the window, identifies, saves the latent graph; prints its sizes and where it went."""

    import torch

    from gncontrol.cli._common import check_output_file, resolve_device
    from gncontrol.forward.datasets import load_trajectories
    from gncontrol.forward.transitions import SystemTrajectories
    from gncontrol.sysid.model import identify, refine, save_identified
    from gncontrol.sysid.training import load_system_id_model, windows_of

    if args.steps < 1 or args.refine_steps < 0:
        raise InputError(f"--steps must be >= 1 and --refine-steps >= 0, got {args.steps} and {args.refine_steps}")
    check_output_file(args.out, "--out")
    device = resolve_device(args.device)
    model, record = load_system_id_model(args.model, device)
    if args.data is not None:
        raw = load_trajectories(args.data)
        if not 0 <= args.episode < raw.num_episodes:
            raise InputError(f"--episode {args.episode} is not in [0, {raw.num_episodes}) of {args.data}")
        raw = raw.select([args.episode])
        source = {"data": str(args.data), "episode": args.episode}
    elif args.task is not None:
        from envs.collect import collect

        raw = collect(args.task, 1, steps=args.steps, seed=args.seed, randomise=args.randomise, progress=False)
        source = {"task": args.task, "seed": args.seed, "randomise": args.randomise}
    else:
        raise InputError("give --task (collect a window) or --data (read one from a file)")
    data = SystemTrajectories.from_arrays(str(raw.metadata.get("task", "data")), raw)
    if args.steps > data.episode_length:
        raise InputError(f"--steps {args.steps} exceeds the episode's {data.episode_length} steps")
    ep = torch.zeros(1, dtype=torch.long)
    window = windows_of(data, ep, ep, args.steps).to(device)
    latent = refine(model, window, identify(model, window), args.refine_steps)
    meta = {**source, "task": data.name, "steps": args.steps, "refine_steps": args.refine_steps,
            "model": str(args.model),
            "parameters": (raw.metadata.get("parameters") or [None])[0]}
    save_identified(args.out, latent, meta)
    s = latent.static
    print(f"identified {data.name} from {args.steps} steps: latent graph nodes {tuple(s.nodes.shape)}, "
          f"edges {tuple(s.edges.shape)}, globals {tuple(s.globals.shape)} -> {args.out}")
    return 0
