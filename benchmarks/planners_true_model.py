"""Sampling planners and MCTS on the TRUE MuJoCo model in the real dm_control env (the honest
upper bound for learned models), against random actions measured in the same run; with
`--model CKPT` every planner (gradient MPC included) plans with a learned forward model.

    python -m benchmarks.planners_true_model --task cartpole-swingup --planners cem,mppi,mcts
    python -m benchmarks.planners_true_model --quick          # ~1-2 minutes, 200-step episodes

Prints the configuration, the machine, and per planner: episode return, its RATIO to the
random-action return, planning seconds per control step and the real-time factor
(planning time / control period; < 1 is faster than real time). Action repeat is reported:
each planned action is held `repeat` control steps and the planner replans every `repeat`
steps. `--logdir` writes TensorBoard scalars; `--video` an mp4/gif of each episode.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch

from benchmarks.common import CSVRows, add_csv_argument, csv_path


def make_planner(name: str, task, args) -> object:
    """A planner with this benchmark's settings (horizon in decisions, each held `repeat` steps). Random
    shooting and MCTS get the sampling planners' whole budget (samples x iterations) in one go."""
    import planners

    discrete = discrete_grid(task.action_low, task.action_high, args.discrete) if args.discrete else None
    one_shot = name in ("random", "mcts")
    return planners.make(name, (task.action_low, task.action_high), horizon=args.horizon, action_repeat=args.repeat,
                         seed=args.seed, iterations=args.iterations,
                         samples=args.samples * args.iterations if one_shot else args.samples,
                         momentum=0.1, noise_std=0.5, temperature=args.temperature, lr=args.lr,
                         restarts=args.restarts, init_noise=args.init_noise, terminal_weight=args.terminal_weight,
                         expand_width=args.mcts_width, discrete_actions=discrete)


def discrete_grid(low: np.ndarray, high: np.ndarray, k: int) -> np.ndarray:
    """[k**A, A] grid of k evenly spaced values per action dimension (for discrete planning)."""
    axes = [np.linspace(lo, hi, k) for lo, hi in zip(low, high)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints one line per (planner, episode) plus a summary table; writes both as CSV rows
    (column `episode`: its number, or "mean" for the summary)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="cartpole-swingup")
    p.add_argument("--planners", default="cem,mppi,mcts")
    p.add_argument("--reward", default=None,
                   help="task whose reward the planner maximises (e.g. pendulum-swingup-smooth); the "
                        "episode return is always the environment's own reward")
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--steps", type=int, default=None, help="env steps per episode (task length if unset)")
    p.add_argument("--horizon", type=int, default=15, help="planned decisions")
    p.add_argument("--repeat", type=int, default=4, help="action repeat (control steps per decision)")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--mcts-width", type=int, default=8)
    p.add_argument("--discrete", type=int, default=0,
                   help="MCTS and random shooting choose among K evenly spaced values per action dim")
    p.add_argument("--nthread", type=int, default=1)
    p.add_argument("--model", default=None, help="plan with this learned forward-model checkpoint instead "
                   "of the true model (gradient MPC needs one)")
    p.add_argument("--lr", type=float, default=0.1, help="gradient MPC: Adam learning rate")
    p.add_argument("--restarts", type=int, default=4, help="gradient MPC: batched restarts")
    p.add_argument("--terminal-weight", type=float, default=0.0,
                   help="gradient MPC and CEM: add this many times the last step's reward (cost-to-go)")
    p.add_argument("--init-noise", type=float, default=0.5,
                   help="gradient MPC: restarts start uniform in this fraction of the action box around its centre")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--logdir", default=None)
    p.add_argument("--video", default=None, help="folder for episode videos")
    p.add_argument("--quick", action="store_true", help="200-step episodes, smaller search")
    p.add_argument("--progress", action="store_true", help="show a progress bar per episode")
    add_csv_argument(p, "planners_true_model")
    args = p.parse_args(argv)
    if args.quick:
        args.steps = args.steps or 200
        args.samples = min(args.samples, 60)
    torch.set_num_threads(1)

    from envs.tasks import get_task, random_policy_return
    from envs.true_model import TaskEnv, TrueModel
    from planners import run_episode

    task = get_task(args.task)
    plan_reward = get_task(args.reward).reward if args.reward else task.reward
    steps = args.steps or task.episode_length
    tm = TrueModel.from_task(task, nthread=args.nthread)
    model, params = tm, None
    if args.model:
        from gncontrol.forward.training import load_forward_model

        model, _ = load_forward_model(args.model)
        params = task.graph().graph_system()
        print(f"model: learned {type(model).__name__} from {args.model}")
    period = task.control_timestep
    print(f"config: {vars(args)}")
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"cpus={os.cpu_count()}, load={os.getloadavg()[0]:.1f}, torch {torch.__version__}")
    print(f"task {args.task}: {steps} steps, control period {period:.3f}s, action repeat {args.repeat} "
          f"(replan every {args.repeat * period:.2f}s), horizon {args.horizon} decisions = "
          f"{args.horizon * args.repeat} control steps")
    base = [random_policy_return(task, steps, args.seed + e) for e in range(args.episodes)]
    print(f"random actions: return {np.mean(base):.1f}")
    writer = None
    if args.logdir:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(args.logdir)
    rows = []
    table = CSVRows(csv_path(args, "planners_true_model"))
    config = {"task": args.task, "model": args.model or "true", "reward": args.reward or args.task, "steps": steps,
              "horizon": args.horizon, "repeat": args.repeat, "samples": args.samples, "iterations": args.iterations,
              "seed": args.seed}
    for name in [n.strip() for n in args.planners.split(",") if n.strip()]:
        for e in range(args.episodes):
            planner = make_planner(name, task, args)
            env = ScoredEnv(TaskEnv(task, seed=args.seed + e, true_model=None if args.model else tm), plan_reward)
            tm.transitions = 0
            t0 = time.perf_counter()
            res = run_episode(env, planner, model, plan_reward, params=params, max_steps=steps, writer=writer,
                              render=env.render if args.video else None, tag=f"{args.task}/{name}/ep{e}",
                              progress=args.progress)
            wall = time.perf_counter() - t0
            per_step = res.plan_time_per_step
            rows.append((name, e, res.episode_return, per_step, per_step / period, tm.transitions / res.steps))
            print(f"{name:7s} ep{e}: return {res.episode_return:7.1f}  ratio-to-random "
                  f"{_ratio(res.episode_return, base[e])}  plan {per_step * 1e3:7.1f} ms/step  "
                  f"real-time factor {per_step / period:6.1f}  model steps/control step "
                  f"{tm.transitions / res.steps:8.0f}  wall {wall:6.1f}s"
                  + (f"  planned-reward return {env.total:.1f}" if args.reward else ""), flush=True)
            table.add({"planner": name, "episode": e, "return": res.episode_return,
                       "random_return": base[e], "ratio_to_random": _ratio_value(res.episode_return, base[e]),
                       "plan_ms_per_step": per_step * 1e3, "real_time_factor": per_step / period,
                       "model_steps_per_control_step": tm.transitions / res.steps, "wall_s": wall,
                       "planned_reward_return": env.total if args.reward else "", **config})
            if args.video and res.frames:
                _save_video(res.frames, os.path.join(args.video, f"{args.task}_{name}_ep{e}.gif"), period)
    print("\nsummary (mean over episodes):")
    print("planner | return | ratio to random | plan ms/step | real-time factor")
    for name in dict.fromkeys(r[0] for r in rows):
        sel = [r for r in rows if r[0] == name]
        ret = np.mean([r[2] for r in sel])
        print(f"{name} | {ret:.1f} | {_ratio(ret, float(np.mean(base)))} | "
              f"{np.mean([r[3] for r in sel]) * 1e3:.1f} | {np.mean([r[4] for r in sel]):.1f}")
        table.add({"planner": name, "episode": "mean", "return": float(ret), "random_return": float(np.mean(base)),
                   "ratio_to_random": _ratio_value(float(ret), float(np.mean(base))),
                   "plan_ms_per_step": float(np.mean([r[3] for r in sel])) * 1e3,
                   "real_time_factor": float(np.mean([r[4] for r in sel])), **config})
    if writer is not None:
        writer.close()
    table.save()
    return 0


class ScoredEnv:
    """Wraps a TaskEnv: also sums the planner's own reward on the real states (`total`, for
    --reward) and records the body's forward speed each step (`speeds`, where the physics has one)."""

    def __init__(self, env, reward_fn):
        self.env, self.reward_fn, self.total, self.speeds = env, reward_fn, 0.0, []
        self.render = env.render

    def reset(self):
        self.total, self.speeds = 0.0, []
        return self.env.reset()

    def step(self, action):
        state, r, done = self.env.step(action)
        self.total += float(self.reward_fn(state, action.reshape(1, -1)))
        speed = getattr(self.env.env.physics, "speed", None)
        if speed is not None:
            self.speeds.append(float(speed()))
        return state, r, done


def _ratio(x: float, base: float) -> str:
    """x / base as text, or 'n/a' when the baseline return is ~0 (sparse rewards)."""
    return f"{x / base:6.1f}x" if base > 1e-6 else "  n/a (random 0)"


def _ratio_value(x: float, base: float) -> float | str:
    """x / base for the CSV, blank where _ratio prints 'n/a' (baseline return ~0)."""
    return x / base if base > 1e-6 else ""


def _save_video(frames: list, path: str, period: float) -> None:
    """Writes frames as a GIF with matplotlib's animation writer (Pillow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.animation as animation
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig = plt.figure(figsize=(2, 2), dpi=64)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.axis("off")
    im = ax.imshow(frames[0])

    def update(i):
        im.set_data(frames[i])
        return (im,)

    anim = animation.FuncAnimation(fig, update, frames=len(frames), interval=1000 * period, blit=True)
    anim.save(path, writer=animation.PillowWriter(fps=max(int(round(1 / period)), 1)))
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
