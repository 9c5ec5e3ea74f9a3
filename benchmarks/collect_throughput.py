"""Collector throughput vs a plain dm_control env.step loop gathering the same data.

Baseline: for each episode, `env.reset()` then `env.step(a)` per control step, reading the
body states with the adapter and keeping the env's reward (what one would write without
our collector). Ours: `envs.collect.collect` end to end (direct physics stepping, batched
torch rewards, HDF5 file written), with 1 and 2 worker processes. Both gather the same
transitions (states, actions, rewards). Prints transitions/s and the RATIO ours/baseline.

    python -m benchmarks.collect_throughput            # full: 3 tasks, 8 episodes x 1000 steps
    python -m benchmarks.collect_throughput --quick    # seconds: 4 episodes x 250 steps
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import torch

from benchmarks.common import CSVRows, add_csv_argument, csv_path


def baseline(task_name: str, episodes: int, steps: int, seed: int) -> float:
    """Transitions/s of a plain env.step loop (env built before timing)."""
    from envs.tasks import get_task

    task = get_task(task_name)
    env = task.make_env(seed=seed)
    graph = task.graph()
    rng = np.random.default_rng(seed)
    env.reset()
    env.step(np.zeros(task.action_dim))  # warm
    t0 = time.perf_counter()
    for _ in range(episodes):
        env.reset()
        states, rewards = [graph.body_states(env.physics)], []
        acts = rng.uniform(task.action_low, task.action_high, size=(steps, task.action_dim))
        for a in acts:
            ts = env.step(a)
            states.append(graph.body_states(env.physics))
            rewards.append(ts.reward)
        np.array(states), np.array(rewards)
    return episodes * steps / (time.perf_counter() - t0)


def ours(task_name: str, episodes: int, steps: int, seed: int, workers: int) -> float:
    """Transitions/s of envs.collect.collect end to end, file written (env warm in this process)."""
    from envs.collect import _setup, collect

    _setup(task_name)  # same footing as the baseline: env construction not timed
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        collect(task_name, episodes, steps=steps, seed=seed, workers=workers,
                out=os.path.join(tmp, "d.h5"), progress=False)
        return episodes * steps / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    """Runs the comparison and prints configuration, machine and ratios; writes the rows as CSV."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few seconds per task")
    p.add_argument("--tasks", nargs="+", default=["cartpole-swingup", "cheetah-run", "swimmer6"])
    p.add_argument("--seed", type=int, default=0)
    add_csv_argument(p, "collect_throughput")
    args = p.parse_args(argv)
    rows = CSVRows(csv_path(args, "collect_throughput"))
    torch.set_num_threads(1)
    episodes, steps = (4, 250) if args.quick else (8, 1000)
    print(f"config: tasks={args.tasks} episodes={episodes} steps={steps} seed={args.seed} quick={args.quick}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'task':18s} {'env.step/s':>11s} {'ours 1p/s':>10s} {'ratio 1p':>8s} {'ours 2p/s':>10s} {'ratio 2p':>8s}")
    for name in args.tasks:
        base = baseline(name, episodes, steps, args.seed)
        one = ours(name, episodes, steps, args.seed, 1)
        two = ours(name, episodes, steps, args.seed, 2)
        print(f"{name:18s} {base:11.0f} {one:10.0f} {one / base:8.2f} {two:10.0f} {two / base:8.2f}", flush=True)
        rows.add({"task": name, "env_step_per_s": base, "ours_1p_per_s": one, "ratio_1p": one / base,
                  "ours_2p_per_s": two, "ratio_2p": two / base, "episodes": episodes, "steps": steps,
                  "seed": args.seed})
    rows.save()


if __name__ == "__main__":
    main()
