"""Where does a cartpole MPC episode's return go? The reward's four factors over recorded episodes.

dm_control's cartpole reward is upright x centered x small_control x small_velocity
(`envs.rewards.cartpole_factors`). For every episode of the given files (`gncontrol plan --record`),
prints its return, the return of the swing-up (t < --split) and, after it, the mean reward per step
and the mean of each factor: a planner that balances but lets the cart wander loses in "centered".

    python -m benchmarks.reward_factors runs/cp/grad2.h5 runs/cp/cem_dagger2.h5
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import torch

from benchmarks.common import CSVRows, add_csv_argument, csv_path


def main(argv: list[str] | None = None) -> int:
    """Prints one markdown row per recorded episode; writes the rows as CSV."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="HDF5 episodes recorded by `gncontrol plan --record`")
    ap.add_argument("--task", default="cartpole-swingup")
    ap.add_argument("--split", type=int, default=300, help="control steps counted as the swing-up")
    add_csv_argument(ap, "reward_factors")
    args = ap.parse_args(argv)

    from envs.rewards import cartpole_factors, cartpole_reward_of
    from envs.tasks import get_task
    from gncontrol.forward.datasets import load_trajectories

    factors = cartpole_factors(get_task(args.task).graph())
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}")
    print(f"config: {args.task}, swing-up = the first {args.split} control steps\n")
    names = ("upright", "centered", "small_control", "small_velocity")
    print("| file | episode | return | swing-up return | reward / step after | " + " | ".join(names) + " |")
    print("|---|---|---|---|---|" + "---|" * len(names))
    table = CSVRows(csv_path(args, "reward_factors"))
    for path in args.files:
        data = load_trajectories(path)
        for e in range(data.states.shape[0]):
            states, actions = torch.as_tensor(data.states[e, 1:]), torch.as_tensor(data.actions[e])
            f = factors(states, actions)
            reward = cartpole_reward_of(f)
            after = slice(args.split, None)
            cells = " | ".join(f"{float(f[n][after].mean()):.4f}" for n in names)
            print(f"| {path} | {e} | {float(reward.sum()):.1f} | {float(reward[:args.split].sum()):.1f} | "
                  f"{float(reward[after].mean()):.4f} | {cells} |")
            table.add({"file": path, "episode": e, "return": float(reward.sum()),
                       "swingup_return": float(reward[:args.split].sum()),
                       "reward_per_step_after": float(reward[after].mean()),
                       **{n: float(f[n][after].mean()) for n in names}, "task": args.task, "split": args.split})
    table.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
