"""`gncontrol collect`: random-control trajectories of a task into an HDF5 dataset."""

from __future__ import annotations

import argparse

from gncontrol.cli._options import nonnegative_int, positive_int

TASK_SCHEMES = "dmc:DOMAIN-TASK, gym:ENV_ID, xml:PATH"

HELP = "collect trajectories of a task (random controls) into an HDF5 dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the collect options to `parser`."""
    parser.add_argument("--task", required=True, help=f"task: a name from `gncontrol tasks` or {TASK_SCHEMES}")
    parser.add_argument("--reward", default=None, help="the task's reward for the data: module:function or "
                        "file.py:function, reward(state [B, N, 13], action [B, A]) -> [B] in torch (default: the "
                        "task's torch reward, else the environment's own)")
    parser.add_argument("--episodes", type=positive_int, required=True, help="number of episodes")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="control steps per episode (default: the task's episode length)")
    parser.add_argument("--controller", choices=["uniform", "ou"], default="uniform",
                        help="random controls: i.i.d. uniform or Ornstein-Uhlenbeck (correlated)")
    parser.add_argument("--hold", type=positive_int, default=1,
                        help="hold each random control for this many control steps (data for a model at the decision "
                        "time step: train --control-steps)")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="seed (>= 0): same seed, bit-identical data")
    parser.add_argument("--workers", type=positive_int, default=1, help="worker processes")
    parser.add_argument("--out", required=True, help="output HDF5 file")
    parser.add_argument("--randomise", action="store_true",
                        help="randomise masses, damping and gears per episode (system identification)")
    parser.add_argument("--append", action="store_true", help="append to an existing file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Collects and writes the episodes; prints a one-line summary."""
    import torch

    from envs.collect import collect
    from gncontrol.cli._common import check_output_file

    check_output_file(args.out, "--out")
    torch.set_num_threads(1)
    data = collect(args.task, args.episodes, steps=args.steps, controller=args.controller, seed=args.seed,
                   workers=args.workers, out=args.out, randomise=args.randomise, append=args.append,
                   progress=not args.no_progress, reward=args.reward, hold=args.hold)
    print(f"wrote {data.num_episodes} episodes x {data.episode_length} steps of {args.task} to {args.out} "
          f"(mean reward {float(data.rewards.mean()):.4f})")
    return 0
