"""The whole suite: every dm_control domain and Gymnasium MuJoCo env through the same commands.

Per system, with the same data and training budget for every model: the GN's and the MLP's
normalised rollout error at 1 / 20 / 100 steps (constant model = 1; held-out episodes); the
reward used by the planner (the torch twin, or a learned reward model and its held-out RMSE
against a constant's); and the return of CEM MPC through the learned GN beside CEM through the
true simulator with the same horizon and random actions, over the same short episode. RATIO
columns: GN / MLP error, GN-MPC / random (strict, and with random floored at 1% of the best
dm_control return, for sparse rewards where random scores 0) and GN-MPC / true-model CEM return.

Gymnasium envs are rewarded by Gymnasium's own terms in torch (envs/gym_rewards.py).

    python -m benchmarks.suite --quick                     # small data and budget (about an hour on 2 CPU cores)
    python -m benchmarks.suite --systems dmc:hopper-stand gym:Hopper-v5 --quick
    python -m benchmarks.suite --systems dmc:reacher-easy --reuse-models --plan-reward smooth   # replan only
    python -m benchmarks.suite --merge suite.csv suite_replan.csv --csv suite_all.csv           # one table
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import RESULTS, machine, run_plan, write_csv
from benchmarks.forward_models import errors, fmt_row, train
from gncontrol.errors import InputError

DMC = ["acrobot-swingup", "ball_in_cup-catch", "cartpole-swingup", "cheetah-run", "finger-spin", "fish-swim",
       "hopper-stand", "humanoid-stand", "humanoid_CMU-stand", "lqr-lqr_2_1", "manipulator-bring_ball",
       "pendulum-swingup", "point_mass-easy", "quadruped-walk", "reacher-easy", "stacker-stack_2",
       "swimmer-swimmer6", "walker-walk", "dog-stand"]
GYM = ["Ant-v5", "HalfCheetah-v5", "Hopper-v5", "Humanoid-v5", "HumanoidStandup-v5", "InvertedDoublePendulum-v5",
       "InvertedPendulum-v5", "Pusher-v5", "Reacher-v5", "Swimmer-v5", "Walker2d-v5"]
SYSTEMS = [f"dmc:{t}" for t in DMC] + [f"gym:{g}" for g in GYM]


def dataset(task: str, args: argparse.Namespace):
    """(raw Trajectories, SystemTrajectories) of `task`, collected once into --data-dir and reused; with
    --control-steps k, each random control is held k control steps (data for a model at the decision time step)."""
    from envs.collect import collect
    from gncontrol.cli._common import file_stem
    from gncontrol.forward.datasets import load_trajectories
    from gncontrol.forward.transitions import SystemTrajectories

    hold = f"_hold{args.control_steps}" if args.control_steps > 1 else ""
    path = Path(args.data_dir) / f"{file_stem(task)}_{args.episodes}x{args.episode_steps}{hold}_s{args.seed}.h5"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        collect(task, args.episodes, steps=args.episode_steps, seed=args.seed, out=path, progress=False,
                hold=args.control_steps)
    raw = load_trajectories(path)
    return raw, SystemTrajectories.from_arrays(task, raw)


def planning_reward(task: str, choice: str) -> str | None:
    """The registered reward a planner maximises for `task` (None: the task's own): with `choice` "smooth",
    the task's shaped twin `<name>-smooth` where one is registered (the env's sparse reward still scores)."""
    from envs.tasks import list_tasks

    name = f"{task.partition(':')[2] if task.startswith('dmc:') else task}-smooth"
    return name if choice == "smooth" and name in list_tasks() else None


def planned_return(task: str, model: str, args: argparse.Namespace, out: Path, reward_model: Path | None) -> float:
    """The mean return of `args.mpc_episodes` CEM MPC episodes of `args.mpc_steps` through `model` ('true' or a
    checkpoint), env seeds args.seed, args.seed + 1, ..."""
    argv = ["--task", task, "--model", model, "--planner", "cem", "--horizon", str(args.horizon),
            "--samples", str(args.samples), "--iterations", str(args.iterations), "--steps", str(args.mpc_steps),
            "--episodes", str(args.mpc_episodes),
            "--action-repeat", str(args.action_repeat), "--seed", str(args.seed), "--out", str(out), "--no-video",
            "--keep-elites", str(args.keep_elites), "--noise-beta", str(args.noise_beta)]
    if reward_model is not None:
        argv += ["--reward-model", str(reward_model)]
    elif planning_reward(task, args.plan_reward):
        argv += ["--reward", planning_reward(task, args.plan_reward)]
    return float(np.mean(run_plan(argv)["returns"]))


def trained(kind: str, train_set, val_set, args: argparse.Namespace, out: Path):
    """The `kind` model of this budget: trained into `out`, or with --reuse-models loaded from there when its
    checkpoint reached args.steps with the same position inputs and rollout loss (to rerun the planning columns
    with another recipe)."""
    from envs.mujoco_graph import positions_for
    from gncontrol.checkpoints import load_checkpoint
    from gncontrol.forward.training import CHECKPOINT_KIND, load_forward_model

    path = out / "model.pt"
    if args.reuse_models and path.exists():
        record = load_checkpoint(path, CHECKPOINT_KIND)
        same = (record.get("step") == args.steps
                and record["model_config"].get("positions") == positions_for([train_set], args.positions)
                and record["model_config"].get("control_steps", 1) == args.control_steps
                and record["train_config"].get("rollout_steps", 1) == args.rollout_steps)
        if same:
            return load_forward_model(path)[0]
    return train(kind, [train_set.every(args.control_steps)], [val_set.every(args.control_steps)], args, out)


def run_system(task_name: str, args: argparse.Namespace, out: Path) -> dict:
    """One row of the suite table (see module doc)."""
    from envs.tasks import get_task, random_policy_return
    from gncontrol.forward.reward_model import (
        RewardModelConfig,
        load_reward_model,
        save_reward_model,
        train_reward_model,
    )
    from gncontrol.system_signature import signature_of

    t0 = time.time()
    task = get_task(task_name)
    raw, data = dataset(task_name, args)
    train_set, val_set = data.split(0.1)
    row: dict = {"system": task_name, "bodies": data.num_nodes, "actions": task.action_dim,
                 "control_steps": args.control_steps}
    res = {}
    for kind in ("gn", "mlp"):
        model = trained(kind, train_set, val_set, args, out / task_name.replace(":", "_") / kind)
        res[kind] = errors(model, val_set, [1, 20, 100], args.device)
        for h, e in zip((1, 20, 100), res[kind]):
            row[f"{kind}_{h}"] = e
    row["gn_over_mlp_20"] = res["gn"][1] / res["mlp"][1]
    reward_model = None
    if task.has_reward:
        row["reward"] = "torch"
    elif task_name.startswith("gym:"):
        row["reward"] = "none"
    else:
        reward_model = out / task_name.replace(":", "_") / "reward.pt"
        if args.reuse_models and reward_model.exists():
            report = load_reward_model(reward_model)[1]["report"]
        else:
            cfg = RewardModelConfig(data.num_nodes, task.action_dim, tuple(args.reward_hidden))
            rmodel, report = train_reward_model(raw, cfg, steps=args.reward_steps, val_fraction=0.2, seed=args.seed)
            save_reward_model(reward_model, rmodel, task_name, signature_of(data), report)
        row["reward"] = "learned"
        row["reward_rmse_ratio"] = report["ratio"]
    if row["reward"] != "none" and args.mpc_steps > 0:
        base = out / task_name.replace(":", "_")
        row["gn_mpc"] = planned_return(task_name, str(base / "gn" / "model.pt"), args, base / "plan_gn", reward_model)
        try:
            row["true_cem"] = planned_return(task_name, "true", args, base / "plan_true", reward_model)
        except RuntimeError as e:  # no true model of this system (lqr's generated XML): say so, go on
            row["true_cem"] = "n/a"
            print(f"{task_name}: no true-model CEM ({str(e).strip().splitlines()[-1]})", flush=True)
        row["random"] = float(np.mean([random_policy_return(task, args.mpc_steps, args.seed + i)
                                       for i in range(args.mpc_episodes)]))
        row["mpc_steps"], row["mpc_episodes"] = args.mpc_steps, args.mpc_episodes
    row["seconds"] = time.time() - t0
    return with_ratios(row)


def with_ratios(row: dict) -> dict:
    """The row with its RATIO columns; a denominator under 1e-3 (a return that is zero in practice, as a
    sparse reward's) gives nan, not a huge meaningless ratio."""

    def ratio(a, b):
        ok = all(isinstance(x, (int, float)) and np.isfinite(x) for x in (a, b)) and b > 1e-3
        return a / b if ok else float("nan")

    if isinstance(row.get("gn_mpc"), (int, float)):
        row["gn_mpc_over_random"] = ratio(row["gn_mpc"], row.get("random"))
        row["gn_mpc_over_true"] = ratio(row["gn_mpc"], row.get("true_cem"))
        row["gn_mpc_over_floored_random"] = ratio(row["gn_mpc"], floored_random(row))
    return row


def floored_random(row: dict) -> float:
    """Random actions' return floored at 1% of the episode's best possible return, for dm_control rows (rewards
    in [0, 1] per step, so the best is the episode's steps); nan otherwise. Why: a sparse reward gives random
    actions exactly 0, where "3x random" means nothing; with the floor, 3x means at least 3% of the best."""
    steps, random = row.get("mpc_steps"), row.get("random")
    if not str(row.get("system", "")).startswith("dmc:") or not all(
            isinstance(x, (int, float)) and np.isfinite(x) for x in (steps, random)):
        return float("nan")
    return max(random, 0.01 * steps)


COLUMNS = ["system", "bodies", "actions", "gn_1", "gn_20", "gn_100", "mlp_1", "mlp_20", "mlp_100", "gn_over_mlp_20",
           "reward", "reward_rmse_ratio", "gn_mpc", "true_cem", "random", "mpc_steps", "gn_mpc_over_random",
           "gn_mpc_over_floored_random", "gn_mpc_over_true", "control_steps", "mpc_episodes",
           "seconds"]


def main(argv: list[str] | None = None) -> int:
    """Runs every system, printing a markdown row and rewriting results/suite[_quick].csv after each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small data and budget")
    ap.add_argument("--systems", nargs="+", default=SYSTEMS)
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--episode-steps", type=int, default=200)
    ap.add_argument("--steps", type=int, default=10_000, help="training steps per forward model")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--latent", type=int, default=128)
    ap.add_argument("--hidden", type=int, nargs="+", default=[128, 128])
    ap.add_argument("--reward-steps", type=int, default=3000)
    ap.add_argument("--reward-hidden", type=int, nargs="+", default=[256, 256])
    ap.add_argument("--mpc-steps", type=int, default=200, help="control steps of each MPC episode (0: no MPC)")
    ap.add_argument("--mpc-episodes", type=int, default=1, help="MPC and random episodes per system (env seeds "
                    "--seed, --seed + 1, ...): the planning columns are their means")
    ap.add_argument("--horizon", type=int, default=15)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--action-repeat", type=int, default=4,
                    help="MPC: each planned action held this many control steps (as `gncontrol plan`)")
    ap.add_argument("--keep-elites", type=float, default=0.0, help="CEM (iCEM): share of elites kept across "
                    "iterations and control steps (as `gncontrol plan`)")
    ap.add_argument("--noise-beta", type=float, default=0.0, help="CEM (iCEM): colored sampling noise exponent "
                    "(as `gncontrol plan`; 0: white)")
    ap.add_argument("--plan-reward", default="task", choices=["task", "smooth"],
                    help="what CEM maximises: the task's reward, or its shaped twin <task>-smooth where one is "
                    "registered (pendulum, reacher, finger-spin); the env's reward scores either way")
    ap.add_argument("--positions", default="auto", choices=["auto", "relative", "absolute"],
                    help="the models' x, y inputs, as `gncontrol train --positions` (auto: absolute where a limited "
                    "slide hangs a body from the world: cartpole, point_mass, the Gymnasium pendulums, Reacher, "
                    "Pusher; the runs before 2026-12-03's replan used relative for all)")
    ap.add_argument("--rollout-steps", type=int, default=1,
                    help="GN and MLP: train on the error of their own rollout over this many steps (`gncontrol "
                    "train --rollout-steps`; 1: the one-step loss)")
    ap.add_argument("--control-steps", type=int, default=1,
                    help="GN and MLP at the decision time step: k control steps per model step, trained on random "
                    "controls held k steps (`gncontrol train --control-steps`); errors stay in control steps; "
                    "--action-repeat must be a multiple of k")
    ap.add_argument("--reuse-models", action="store_true",
                    help="load the GN, MLP and reward models already trained in --out (same budget) instead of "
                    "training them again: reruns the planning columns with another recipe")
    ap.add_argument("--data-dir", default="runs/suite_data")
    ap.add_argument("--out", default="runs/suite")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", default=None, help="rows CSV (default: results/suite.csv, results/suite_quick.csv "
                    "with --quick)")
    ap.add_argument("--report", action="store_true", help="print the counts and table of the rows in the CSV "
                    "(RESULTS.md's form) and stop")
    ap.add_argument("--merge", nargs="+", metavar="CSV", default=None,
                    help="write --csv from these runs' rows (a later file's row replaces an earlier one of the same "
                    "system; rows without mpc_steps get --mpc-steps), print the report and stop")
    ap.add_argument("--resume", action="store_true", help="keep the rows already in the CSV and run only the "
                    "systems it lacks (same options assumed)")
    if ap.parse_known_args(argv)[0].quick:  # the quick budget as defaults, so explicit flags still win
        ap.set_defaults(episodes=30, episode_steps=100, steps=1000, latent=64, hidden=[64], reward_steps=1000,
                        reward_hidden=[128, 128], mpc_steps=50, horizon=10, samples=64, iterations=3)
    args = ap.parse_args(argv)
    args.noise, args.sequence_length = 0.02, 1
    if args.mpc_episodes < 1:
        ap.error(f"--mpc-episodes must be >= 1, got {args.mpc_episodes}")
    if args.control_steps < 1 or args.action_repeat % args.control_steps:
        ap.error(f"--control-steps must be >= 1 and divide --action-repeat ({args.action_repeat}); got "
                 f"{args.control_steps}")
    torch.set_num_threads(1)
    rows = []
    csv = RESULTS / (args.csv or ("suite_quick.csv" if args.quick else "suite.csv"))
    if args.report and not csv.exists():
        ap.error(f"--report: no rows at {csv} (run the suite first, or give --csv)")
    if args.merge:
        rows = merged([RESULTS / m for m in args.merge], args.mpc_steps)
        write_csv(csv, rows)
        print(f"wrote {csv}: {len(rows)} rows from {', '.join(args.merge)}\n")
        print(report(rows))
        return 0
    if (args.resume or args.report) and csv.exists():
        rows = read_rows(csv)
    if args.report:
        print(report(rows))
        return 0
    print(f"machine: {machine()}")
    print(f"config: {args.episodes} episodes x {args.episode_steps} uniform random steps per system, 10% held out; "
          f"GN and MLP {args.steps} steps x batch {args.batch_size}, latent {args.latent}, hidden {args.hidden}, "
          f"positions {args.positions}, rollout loss over {args.rollout_steps} steps, {args.control_steps} control "
          f"step(s) per model step; "
          f"reward model {args.reward_steps} steps {args.reward_hidden}; CEM horizon {args.horizon} x "
          f"{args.samples} samples x {args.iterations} iterations (keep elites {args.keep_elites:g}, noise beta "
          f"{args.noise_beta:g}), action repeat {args.action_repeat}, planning "
          f"reward {args.plan_reward}, over {args.mpc_episodes} episode(s) of {args.mpc_steps} steps; seed {args.seed}")
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + " --- |" * len(COLUMNS))
    for r in rows:
        print(fmt_row([r[c] for c in COLUMNS]), flush=True)
    done = {r["system"] for r in rows}
    for name in [s for s in args.systems if s not in done]:
        row = run_system(name, args, Path(args.out))
        rows.append({c: row.get(c, "") for c in COLUMNS})
        print(fmt_row([row.get(c, "") for c in COLUMNS]), flush=True)
        write_csv(csv, rows)
    if rows:
        write_csv(csv, rows)  # resumed rows with their ratios recomputed
    print("\n" + report(rows))
    return 0


def read_rows(path: Path) -> list[dict]:
    """The suite rows of a CSV with their ratios recomputed."""
    import csv as csv_module

    with path.open() as f:
        return [with_ratios({c: _parsed(r.get(c, "")) for c in COLUMNS}) for r in csv_module.DictReader(f)]


def merged(paths: list[Path], mpc_steps: int) -> list[dict]:
    """The rows of several suite CSVs, in the first file's order: a later file's row replaces an earlier row of
    the same system (a rerun of some systems with another recipe); a row with MPC but no mpc_steps (written
    before the column existed) gets `mpc_steps`."""
    rows: dict[str, dict] = {}
    for path in paths:
        if not path.exists():
            raise InputError(f"--merge: no rows at {path}")
        for r in read_rows(path):
            rows[r["system"]] = r
    for r in rows.values():
        if isinstance(r.get("gn_mpc"), (int, float)) and not isinstance(r.get("mpc_steps"), (int, float)):
            r["mpc_steps"] = float(mpc_steps)
    return [with_ratios(r) for r in rows.values()]


def gap_closed(row: dict) -> float:
    """(GN MPC - random) / (true-model CEM - random): 1 = as good as planning on the simulator, 0 = random.

    Why: a ratio to random means nothing when returns are negative (Gymnasium's costs: Reacher, Pusher);
    this one does. nan without a true model or when the true CEM is no better than random."""
    g, t, r = (row.get(k) for k in ("gn_mpc", "true_cem", "random"))
    if not all(isinstance(x, (int, float)) and np.isfinite(x) for x in (g, t, r)) or t - r <= 1e-3:
        return float("nan")
    return (g - r) / (t - r)


def report(rows: list[dict]) -> str:
    """The Done-when counts and the per-system markdown table of RESULTS.md, from the suite's rows."""
    def cell(x, fmt="{:.2f}"):
        return fmt.format(x) if isinstance(x, (int, float)) and np.isfinite(x) else (x if isinstance(x, str) and x
                                                                                     else "-")

    ok20 = [r for r in rows if _num(r["gn_20"]) < 0.3]
    mpc = [r for r in rows if isinstance(r.get("gn_mpc"), (int, float))]
    x3 = [r for r in mpc if _num(r["gn_mpc_over_random"]) >= 3]
    x3_floored = [r for r in mpc if max(_num(r["gn_mpc_over_random"]), _num(r.get("gn_mpc_over_floored_random"))) >= 3]
    half = [r for r in mpc if _num(r["gn_mpc_over_true"]) >= 0.5]
    closed = [r for r in mpc if _num(gap_closed(r)) >= 0.5]
    lower = sum(1 for r in rows if _num(r["gn_over_mlp_20"]) < 1)
    ratios = sorted(_num(r["gn_over_mlp_20"]) for r in rows if np.isfinite(_num(r["gn_over_mlp_20"])))
    short = lambda rs: ", ".join(r["system"].partition(":")[2] for r in rs)  # noqa: E731
    lines = [f"GN 20-step error < 0.3 on {len(ok20)} of {len(rows)} systems ({short(ok20)})",
             f"MPC through the learned GN >= 3x random on {len(x3)} of {len(mpc)} with MPC ({short(x3)})",
             f"  ... with random floored at 1% of the best possible return (dm_control; a sparse reward gives random "
             f"0): {len(x3_floored)} ({short(x3_floored)})",
             f"MPC through the learned GN >= 50% of the true-model CEM on {len(half)} ({short(half)})",
             f"MPC through the learned GN closes >= half the gap from random to the true-model CEM on "
             f"{len(closed)} ({short(closed)})",
             f"GN lower than the MLP at 20 steps on {lower} of {len(rows)}"
             + (f" (median ratio {np.median(ratios):.2f})" if ratios else ""),
             "",
             "| system | bodies / actions | GN 20-step (MLP) | reward (model error) | MPC via GN / true CEM / random "
             "| GN MPC / random, / true CEM | gap closed |",  # (k=K): K control steps per model step
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        rmse = f" ({cell(r.get('reward_rmse_ratio'))})" if r.get("reward") == "learned" else ""
        plan = (f"{cell(r['gn_mpc'], '{:.1f}')} / {cell(r['true_cem'], '{:.1f}')} / {cell(r['random'], '{:.1f}')}"
                if r in mpc else "-")
        over = cell(r['gn_mpc_over_random'], '{:.1f}x')
        if over == "-" and np.isfinite(_num(r.get("gn_mpc_over_floored_random"))):
            over = f"{r['gn_mpc_over_floored_random']:.1f}x floored"
        ratio = f"{over}, {cell(r['gn_mpc_over_true'])}" if r in mpc else "-"
        k, n = _num(r.get("control_steps")), _num(r.get("mpc_episodes"))
        tags = ([f"k={k:.0f}"] if np.isfinite(k) and k > 1 else []) + ([f"{n:.0f} episodes"] if n > 1 else [])
        name = f"{r['system']} ({', '.join(tags)})" if tags else r["system"]
        lines.append(f"| {name} | {cell(r['bodies'], '{:.0f}')} / {cell(r['actions'], '{:.0f}')} | "
                     f"{cell(r['gn_20'])} ({cell(r['mlp_20'])}) | {r['reward']}{rmse} | {plan} | {ratio} | "
                     f"{cell(gap_closed(r)) if r in mpc else '-'} |")
    return "\n".join(lines)


def _parsed(text: str):
    """A CSV cell back as a float where it is a number."""
    try:
        return float(text)
    except ValueError:
        return text


def _num(x) -> float:
    return float(x) if isinstance(x, (int, float)) and np.isfinite(x) else float("-inf")


if __name__ == "__main__":
    raise SystemExit(main())
