"""Which planner wins at a given planning time: sampling planners at larger populations vs gradient MPC.

When one model step is overhead-bound, a bigger batch costs little, so a forward-only sampling
planner (CEM, MPPI, random shooting; warm-started from the previous plan) can trade iterations for
population. This benchmark runs each planner over a grid of recipes through ONE learned GN on the
same env seeds and reports, per recipe, the mean return and the planning time per control step;
then, for each wall-time budget per control step, the best recipe of each planner within it
(equal wall time). The true-model CEM with the demo's recipe is the RATIO's denominator, measured
in the same run.

    gncontrol demo                                            # trains runs/demo/model.pt (k = 8)
    python -m benchmarks.planner_budget --model runs/demo/model.pt
    python -m benchmarks.planner_budget --model runs/demo/model.pt --quick

Shapes: the model plans `--horizon` decisions of `--action-repeat` control steps each; it must have
been trained at a time step that divides the repeat (`gncontrol train --control-steps`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.common import (
    RESULTS,
    RUNS,
    add_csv_argument,
    csv_path,
    machine,
    run_plan,
    save_figure,
    task_panels,
    write_csv,
)

# (planner, population: samples or restarts, iterations)
GRID = [("cem", 32, 1), ("cem", 32, 3), ("cem", 64, 1), ("cem", 64, 3), ("cem", 256, 1), ("cem", 256, 2),
        ("cem", 1024, 1), ("cem", 1024, 2),
        ("mppi", 64, 1), ("mppi", 64, 3), ("mppi", 256, 1), ("mppi", 256, 2), ("mppi", 1024, 1),
        ("random", 256, 1), ("random", 1024, 1), ("random", 4096, 1),
        ("gradient", 1, 2), ("gradient", 4, 2), ("gradient", 4, 6), ("gradient", 16, 6)]
QUICK_GRID = [("cem", 32, 1), ("cem", 256, 1), ("mppi", 256, 1), ("random", 1024, 1), ("gradient", 4, 2)]
BUDGETS_MS = (5, 10, 20, 50, 100)


def recipe_argv(planner: str, population: int, iterations: int, args: argparse.Namespace) -> list[str]:
    """The `gncontrol plan` flags of one recipe (population = samples, or restarts for the gradient planner)."""
    size = ["--restarts", str(population)] if planner == "gradient" else ["--samples", str(population)]
    return ["--task", args.task, "--planner", planner, *size, "--iterations", str(iterations),
            "--horizon", str(args.horizon), "--action-repeat", str(args.action_repeat),
            "--terminal-weight", str(args.terminal_weight), "--episodes", str(args.episodes),
            "--steps", str(args.steps), "--seed", str(args.seed), "--threads", str(args.threads),
            "--device", args.device, "--no-video"]


def best_within(rows: list[dict], planner: str, budget_ms: float) -> dict | None:
    """The highest-return recipe of `planner` whose planning time per control step is within the budget."""
    fits = [r for r in rows if r["planner"] == planner and r["ms_per_step"] <= budget_ms]
    return max(fits, key=lambda r: r["mean_return"]) if fits else None


def plot(rows: list[dict], reference: float, path: Path, title: str) -> Path:
    """Mean return against planning ms per control step (log axis): each recipe a point, and per planner
    the best return within each budget (its frontier) as a step line."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    fig, (ax,) = task_panels(1)
    for planner in dict.fromkeys(r["planner"] for r in rows):
        rs = sorted((r for r in rows if r["planner"] == planner), key=lambda r: r["ms_per_step"])
        ms = [r["ms_per_step"] for r in rs]
        line = ax.step(ms, [best_within(rs, planner, t)["mean_return"] for t in ms], where="post", label=planner)
        ax.plot(ms, [r["mean_return"] for r in rs], "o", color=line[0].get_color(), alpha=0.6)
    ax.axhline(reference, color="k", ls="--", lw=1, label="true-model CEM")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))  # 1, 2, 5, 10, 20, ...: labels apart
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("planning ms per control step")
    ax.set_ylabel("mean return (points: recipes)")
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    """Runs the grid, prints a row per recipe and the equal-wall-time table, writes the CSV and the plot."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 recipes, one 300-step episode each")
    ap.add_argument("--model", required=True, help="a forward-model checkpoint of --task (gncontrol train / demo)")
    ap.add_argument("--task", default="cartpole-swingup")
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--action-repeat", type=int, default=8)
    ap.add_argument("--terminal-weight", type=float, default=25.0)
    ap.add_argument("--episodes", type=int, default=3, help="episodes per recipe (env seeds --seed, --seed + 1, ...)")
    ap.add_argument("--steps", type=int, default=1000, help="control steps per episode")
    ap.add_argument("--reference-samples", type=int, default=200)
    ap.add_argument("--reference-iterations", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="runs/planner_budget")
    add_csv_argument(ap, "planner_budget")
    if ap.parse_known_args(argv)[0].quick:
        ap.set_defaults(episodes=1, steps=300)
    args = ap.parse_args(argv)
    if not Path(args.model).is_file():
        ap.error(f"--model {args.model!r}: no such checkpoint (train one: gncontrol demo, or gncontrol train)")
    grid = QUICK_GRID if args.quick else GRID
    print(f"machine: {machine()}")
    print(f"config: {args.task}, model {args.model}, horizon {args.horizon} x repeat {args.action_repeat}, "
          f"cost-to-go weight {args.terminal_weight}; {args.episodes} episode(s) x {args.steps} steps per recipe "
          f"(env seeds from {args.seed}); {args.threads} thread(s), device {args.device}")
    out = Path(args.out)
    ref = run_plan(recipe_argv("cem", args.reference_samples, args.reference_iterations, args)
                   + ["--model", "true", "--out", str(out / "true_cem")])
    reference = ref["mean_return"]
    print(f"true-model CEM {args.reference_samples} x {args.reference_iterations}: return {reference:.1f}, "
          f"{ref['plan_time_per_step_s'] * 1000:.1f} ms per control step")
    rows: list[dict] = []
    print("| planner | population | iterations | mean return | returns | ms per control step | real-time factor "
          "| / true-model CEM |")
    print("|---|---|---|---|---|---|---|---|")
    for planner, population, iterations in grid:
        s = run_plan(recipe_argv(planner, population, iterations, args)
                     + ["--model", args.model, "--out", str(out / f"{planner}_{population}_{iterations}")])
        row = _row(args, planner, population, iterations, s, reference)
        rows.append(row)
        print(f"| {planner} | {population} | {iterations} | {row['mean_return']:.1f} | {row['returns']} | "
              f"{row['ms_per_step']:.1f} | {row['real_time_factor']:.2f} | {row['over_true_cem']:.2f} |", flush=True)
        write_csv(csv_path(args, "planner_budget"), rows + [_row(args, "true-model cem", args.reference_samples,
                                                                 args.reference_iterations, ref, reference)])
    planners = list(dict.fromkeys(p for p, _, _ in grid))
    print("\nequal wall time: the best recipe of each planner within a planning budget per control step")
    print("| budget ms | " + " | ".join(planners) + " | winner |")
    print("|---|" + "---|" * (len(planners) + 1))
    for budget in BUDGETS_MS:
        best = {p: best_within(rows, p, budget) for p in planners}
        cells = [f"{b['mean_return']:.1f} ({b['population']} x {b['iterations']})" if b else "-"
                 for b in best.values()]
        fitting = {p: b for p, b in best.items() if b}
        winner = max(fitting, key=lambda p: fitting[p]["mean_return"]) if fitting else "-"
        print(f"| {budget} | " + " | ".join(cells) + f" | {winner} |")
    figure = plot(rows, reference, (RUNS if args.quick else RESULTS) / f"planner_budget_{args.task}.png",
                  f"{args.task}: return vs planning time\n(lines: the best recipe within each time)")
    print(f"rows: {csv_path(args, 'planner_budget')}; plot: {figure}")
    return 0


def _row(args: argparse.Namespace, planner: str, population: int, iterations: int, summary: dict,
         reference: float) -> dict:
    """The CSV row of one recipe from its plan summary; `reference` is the true-model CEM's mean return."""
    return {"task": args.task, "planner": planner, "population": population, "iterations": iterations,
            "mean_return": summary["mean_return"], "returns": " ".join(f"{r:.1f}" for r in summary["returns"]),
            "ms_per_step": summary["plan_time_per_step_s"] * 1000, "real_time_factor": summary["real_time_factor"],
            "over_true_cem": summary["mean_return"] / reference if reference > 0 else float("nan"),
            "episodes": args.episodes, "steps": args.steps}


if __name__ == "__main__":
    raise SystemExit(main())
