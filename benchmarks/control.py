"""Control with learned models: each planner's episode return with the learned GN, the learned
MLP and the TRUE simulator as its model, against random actions, per task; plus planning time
per control step and the real-time factor (planning time / control period).

    python -m benchmarks.control --quick                       # minutes: tiny models, short episodes
    python -m benchmarks.control --models runs/bench_forward_reduced --tasks cartpole-swingup

Learned models are the checkpoints `<models>/<task>/<gn|mlp>/model.pt` written by
`benchmarks/forward_models.py` (same data and budget for GN and MLP); a missing one is trained
here with `--train-steps` on `--episodes` OU random-control episodes. Cheetah is planned with
ONE model for both rewards (running forward and backward); its mean forward speed is reported.
The gradient planner needs a differentiable model, so on the true simulator the sampling
planners stand in as the honest upper bound ("true-model planner": the best of them). RATIO
columns: return / the true-model planner's return, and / random actions' return.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import CSVRows, add_csv_argument, csv_path

# task -> [(reward planned with, scored on "env" (the env's own reward) or on the "planned" reward)]
# Pendulum's own reward is sparse (no gradient, and sampling planners see zeros): plan with the
# smooth variant, score with the env's. Cheetah backward has no env reward of its own.
TASKS = {
    "pendulum-swingup": [("pendulum-swingup-smooth", "env")],
    "cartpole-swingup": [("cartpole-swingup", "env")],
    "acrobot-swingup": [("acrobot-swingup", "env")],
    "swimmer6": [("swimmer6", "env")],
    "cheetah-run": [("cheetah-run", "env"), ("cheetah-run-backward", "planned")],
}
QUICK_TASKS = ["pendulum-swingup", "cartpole-swingup"]


def planner_settings(name: str, args: argparse.Namespace) -> argparse.Namespace:
    """The options planners_true_model.make_planner reads, per planner kind."""
    iterations = args.grad_iterations if name == "gradient" else args.iterations
    return argparse.Namespace(horizon=args.horizon, repeat=args.repeat, seed=args.seed, samples=args.samples,
                              iterations=iterations, lr=args.lr, restarts=args.restarts, init_noise=args.init_noise,
                              temperature=0.5, mcts_width=8, discrete=0, terminal_weight=args.terminal_weight)


def learned_model(task: str, kind: str, args: argparse.Namespace):
    """The checkpoint `<models>/<task>/<kind>/model.pt`, trained here first if it is missing."""
    from benchmarks.forward_models import load_or_collect, train
    from gncontrol.forward.training import load_forward_model

    path = Path(args.models) / task / kind / "model.pt"
    if not path.exists():
        data = load_or_collect(task, args.episodes, args.episode_steps, Path(args.data_dir), args.seed, "ou")
        tr, va = data.split(0.1)
        targs = argparse.Namespace(latent=args.latent, hidden=[args.latent], steps=args.train_steps,
                                   batch_size=128, seed=args.seed, device=args.device)
        train(kind, [tr], [va], targs, path.parent)
    model, _ = load_forward_model(path, device=args.device)
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    """Runs every (task, reward, model, planner) episode and prints a markdown table; writes its rows as CSV."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="pendulum and cartpole, 100-step episodes, tiny models")
    p.add_argument("--tasks", nargs="+", default=list(TASKS))
    p.add_argument("--models", default="runs/bench_forward_reduced", help="folder of <task>/<gn|mlp>/model.pt")
    p.add_argument("--kinds", nargs="+", default=["gn", "mlp", "true"], help="models to plan with")
    p.add_argument("--planners", nargs="+", default=["gradient", "cem"],
                   help="planners (gradient runs on learned models only)")
    p.add_argument("--steps", type=int, default=None, help="env steps per episode (task length if unset)")
    p.add_argument("--horizon", type=int, default=12, help="planned decisions")
    p.add_argument("--repeat", type=int, default=4, help="action repeat (control steps per decision)")
    p.add_argument("--grad-iterations", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--restarts", type=int, default=16)
    p.add_argument("--terminal-weight", type=float, default=0.0,
                   help="gradient MPC and CEM: add this many times the last step's reward (cost-to-go; cartpole: 25)")
    p.add_argument("--init-noise", type=float, default=0.5,
                   help="gradient restarts start uniform in this fraction of the action box around its centre")
    p.add_argument("--samples", type=int, default=200, help="CEM population")
    p.add_argument("--iterations", type=int, default=4, help="CEM iterations")
    p.add_argument("--train-steps", type=int, default=20_000, help="for checkpoints trained here")
    p.add_argument("--episodes", type=int, default=200, help="data episodes for models trained here")
    p.add_argument("--episode-steps", type=int, default=200)
    p.add_argument("--latent", type=int, default=128)
    p.add_argument("--data-dir", default="runs/bench_data")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    add_csv_argument(p, "control")
    args = p.parse_args(argv)
    if args.quick:
        args.tasks = [t for t in args.tasks if t in QUICK_TASKS] or QUICK_TASKS
        args.steps, args.train_steps, args.episodes, args.episode_steps = 100, 300, 20, 100
        args.latent, args.samples, args.restarts, args.horizon = 32, 60, 4, 8
        args.models = os.path.join(args.models, "quick")
    torch.set_num_threads(1)

    from benchmarks.planners_true_model import ScoredEnv, make_planner
    from envs.tasks import get_task, random_policy_return
    from envs.true_model import TaskEnv, TrueModel
    from planners import run_episode

    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, cpus={os.cpu_count()}, "
          f"load={os.getloadavg()[0]:.1f}, torch {torch.__version__}, device {args.device}, 1 thread")
    print(f"config: {vars(args)}")
    print("\n| task | planned reward | model | planner | return | / true-model planner | / random | "
          "mean speed | plan ms per control step | real-time factor |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    table = CSVRows(csv_path(args, "control"))
    config = {"horizon": args.horizon, "repeat": args.repeat, "samples": args.samples,
              "iterations": args.iterations, "grad_iterations": args.grad_iterations, "restarts": args.restarts,
              "terminal_weight": args.terminal_weight, "seed": args.seed}
    for task_name in args.tasks:
        task = get_task(task_name)
        steps = args.steps or task.episode_length
        params = task.graph().graph_system()
        models = {k: (TrueModel.from_task(task) if k == "true" else learned_model(task_name, k, args))
                  for k in args.kinds}
        random_ret = float(np.mean([random_policy_return(task, steps, args.seed + e) for e in range(3)]))
        for reward_name, scored_by in TASKS.get(task_name, [(task_name, "env")]):
            reward = get_task(reward_name).reward
            rows = []
            for kind, model in models.items():
                for planner_name in args.planners:
                    if planner_name == "gradient" and not getattr(model, "differentiable", False):
                        continue
                    planner = make_planner(planner_name, task, planner_settings(planner_name, args))
                    env = ScoredEnv(TaskEnv(task, seed=args.seed, true_model=model if kind == "true" else None),
                                    reward)
                    t0 = time.perf_counter()
                    res = run_episode(env, planner, model, reward, params=None if kind == "true" else params,
                                      max_steps=steps, progress=False, tag=f"{task_name}/{kind}/{planner_name}")
                    speed = float(np.mean(env.speeds)) if env.speeds else float("nan")
                    ret = res.episode_return if scored_by == "env" else env.total
                    rows.append((kind, planner_name, ret, res.plan_time_per_step, speed,
                                 time.perf_counter() - t0))
            best_true = max([r[2] for r in rows if r[0] == "true"], default=float("nan"))
            for kind, planner_name, ret, per_step, speed, wall in rows:
                over_true = ret / best_true if best_true > 0 else float("nan")
                over_random = ret / random_ret if random_ret > 1e-6 and scored_by == "env" else float("nan")
                print(f"| {task_name} | {reward_name} | {kind} | {planner_name} | {ret:.1f} | "
                      f"{over_true:.2f} | {over_random:.1f} | {speed:+.2f} | {per_step * 1e3:.0f} | "
                      f"{per_step / task.control_timestep:.1f} |", flush=True)
                table.add({"task": task_name, "planned_reward": reward_name, "model": kind, "planner": planner_name,
                           "return": ret, "over_true_model_planner": over_true, "over_random": over_random,
                           "mean_speed": speed, "plan_ms_per_control_step": per_step * 1e3,
                           "real_time_factor": per_step / task.control_timestep, "episode_wall_s": wall, "steps": steps,
                           **config})
            if scored_by == "env":
                print(f"| {task_name} | {reward_name} | random actions | - | {random_ret:.1f} | | | | | |", flush=True)
                table.add({"task": task_name, "planned_reward": reward_name, "model": "random actions",
                           "planner": "-", "return": random_ret, "steps": steps, **config})
    table.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
