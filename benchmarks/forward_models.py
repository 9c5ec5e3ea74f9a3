"""Forward-model accuracy: GN vs MLP vs constant per system, one multi-system GN, zero-shot swimmers.

Every model of a table sees the same data and the same training budget (steps x batch).
Errors are the paper's: squared error per quantity divided by the constant model's
(copying the start state), averaged over quantities, on held-out episodes, for 1-, 20- and
100-step open-loop rollouts (true controls fed in). Constant model = 1.0.

    python -m benchmarks.forward_models --quick          # minutes: small data and budget
    python -m benchmarks.forward_models                  # the reduced CPU recipe (hours)
    python -m benchmarks.forward_models --device cuda --steps 200000 --episodes 1000   # paper-scale
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from benchmarks.common import CSVRows, add_csv_argument, csv_path

SYSTEMS = ["pendulum-swingup", "cartpole-swingup", "acrobot-swingup", "swimmer6", "cheetah-run", "walker-walk"]
MULTI = ["pendulum-swingup", "cartpole-swingup", "acrobot-swingup", "swimmer6", "cheetah-run", "walker-walk"]
SWIM_TRAIN = [3, 4, 5, 6, 8, 9]
SWIM_TEST = [7, 10, 11, 12, 13, 14, 15]


def load_or_collect(task: str, episodes: int, steps: int, data_dir: Path, seed: int, controller: str = "uniform"):
    """SystemTrajectories of `task`, collected once into data_dir and reused."""
    from envs.collect import collect
    from gncontrol.forward.datasets import load_trajectories
    from gncontrol.forward.transitions import SystemTrajectories

    tag = "" if controller == "uniform" else f"_{controller}"
    path = data_dir / f"{task}_{episodes}x{steps}{tag}_s{seed}.h5"
    if not path.exists():
        collect(task, episodes, steps=steps, seed=seed, out=path, controller=controller, progress=False)
    return SystemTrajectories.from_arrays(task, load_trajectories(path))


def train(kind: str, train_sets, val_sets, args, out: Path, steps: int | None = None):
    """A model of `kind` trained with the benchmark's budget (`steps`, default args.steps, Adam steps)."""
    from envs.mujoco_graph import positions_for
    from gncontrol.forward.graph_forward import ForwardModelConfig
    from gncontrol.forward.training import TrainConfig, train_forward_model

    s = train_sets[0]
    cfg = ForwardModelConfig(kind, (s.static_nodes.shape[-1], s.static_edges.shape[-1], s.static_globals.shape[-1]),
                             latent=args.latent, hidden=tuple(args.hidden), num_nodes=s.num_nodes,
                             num_edges=s.num_edges,
                             positions=positions_for(train_sets, getattr(args, "positions", "auto")),
                             control_steps=getattr(args, "control_steps", 1))
    steps = steps or args.steps
    tcfg = TrainConfig(steps=steps, batch_size=args.batch_size, lr=1e-3, lr_final=1e-5,
                       noise_std=getattr(args, "noise", 0.02), val_every=10**9, checkpoint_every=steps,
                       seed=args.seed, sequence_length=args.sequence_length if kind == "recurrent" else 1,
                       balance_systems=getattr(args, "balance_systems", False),
                       rollout_steps=1 if kind == "recurrent" else getattr(args, "rollout_steps", 1))
    return train_forward_model(cfg, train_sets, val_sets, tcfg, out, device=args.device, progress=False).eval()


def errors(model, data, horizons, device) -> list[float]:
    """Normalised rollout error for each horizon in control steps (capped at the episode length); a model of k
    control steps per step is rolled out round(h / k) steps (at least 1) on the data at its time step, as
    `gncontrol evaluate` does."""
    from gncontrol.forward.metrics import rollout_errors

    k = getattr(model, "control_steps", 1)
    data = data.every(k)
    return [rollout_errors(model, data, min(max(1, round(h / k)), data.episode_length), 4, device)["mean"]
            for h in horizons]


def fmt_row(cells) -> str:
    """A markdown table row of `cells`, floats to 4 decimals (the tables of benchmarks/RESULTS.md)."""
    return "| " + " | ".join(f"{c:.4f}" if isinstance(c, float) else str(c) for c in cells) + " |"


def main(argv: list[str] | None = None) -> None:
    """Runs the three tables and prints them as markdown (ready for benchmarks/RESULTS.md); writes their rows
    as one CSV (column `table`: single, multi or zeroshot)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small data and budget (minutes)")
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--episode-steps", type=int, default=200)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--latent", type=int, default=128)
    ap.add_argument("--hidden", type=int, nargs="+", default=[128, 128])
    ap.add_argument("--systems", nargs="+", default=SYSTEMS)
    ap.add_argument("--tables", nargs="+", default=["single", "multi", "zeroshot"])
    ap.add_argument("--data-dir", default="runs/bench_data")
    ap.add_argument("--out", default="runs/bench_forward")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", type=float, default=0.02, help="training input noise (normalised state units)")
    ap.add_argument("--controller", default="uniform", choices=["uniform", "ou"],
                    help="random controls: independent uniform per step, or temporally correlated (OU)")
    ap.add_argument("--positions", default="auto", choices=["auto", "relative", "legacy", "absolute", "per-system"],
                    help="x, y inputs (gncontrol.body_state.relative_positions): as `gncontrol train` chooses "
                    "(auto: envs.mujoco_graph.positions_for), translation invariant, the pre-2026-12 centring over "
                    "all nodes, or absolute")
    ap.add_argument("--kinds", nargs="+", default=["gn", "mlp"], choices=["gn", "mlp", "recurrent"],
                    help="models of the single-system table")
    ap.add_argument("--sequence-length", type=int, default=8,
                    help="recurrent model: training windows of this many transitions (truncated BPTT)")
    ap.add_argument("--rollout-steps", type=int, default=1,
                    help="gn / mlp: train on the error of the model's own rollout over this many steps (1: one-step)")
    ap.add_argument("--balance-systems", action="store_true",
                    help="multi-system and zero-shot GNs: each system's errors weighed as in its own model's loss "
                    "(gncontrol.forward.balance)")
    add_csv_argument(ap, "forward_models")
    args = ap.parse_args(argv)
    if args.quick:
        args.episodes, args.episode_steps, args.steps = 30, 120, 1500
        args.latent, args.hidden = 64, [64]
    torch.set_num_threads(args.threads)
    data_dir, out = Path(args.data_dir), Path(args.out)
    data_dir.mkdir(parents=True, exist_ok=True)
    horizons = [1, 20, 100]
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {args.device}")
    print(f"config: {args.episodes} episodes x {args.episode_steps} steps per system ({args.controller} random "
          f"controls), 10% held out; {args.steps} steps x batch {args.batch_size}, input noise {args.noise}; "
          f"MLPs {args.hidden} -> latent {args.latent}; seed {args.seed}; positions {args.positions}; "
          f"rollout loss over {args.rollout_steps} steps")
    table = CSVRows(csv_path(args, "forward_models"))
    config = {"episodes": args.episodes, "episode_steps": args.episode_steps, "controller": args.controller,
              "train_steps": args.steps, "batch_size": args.batch_size, "latent": args.latent,
              "hidden": " ".join(map(str, args.hidden)), "noise": args.noise, "positions": args.positions,
              "balance_systems": args.balance_systems, "rollout_steps": args.rollout_steps,
              "seed": args.seed}

    def add(name: str, system: str, model: str, errs: list[float], hs: list[int], **cells) -> None:
        """One CSV row of table `name`: the errors at horizons `hs`, extra cells, the configuration."""
        table.add({"table": name, "system": system, "model": model,
                   **{f"error_{h}step": e for h, e in zip(hs, errs)}, **cells, **config})

    if "single" in args.tables:
        print("\n### GN vs MLP vs constant (normalised rollout error; constant = 1)\n")
        print("| system | model | 1-step | 20-step | 100-step | train s |")
        print("| --- | --- | --- | --- | --- | --- |")
        for task in args.systems:
            train_set, val_set = load_or_collect(task, args.episodes, args.episode_steps, data_dir,
                                                 args.seed, args.controller).split(0.1)
            res = {}
            for kind in args.kinds:
                t0 = time.time()
                model = train(kind, [train_set], [val_set], args, out / task / kind)
                res[kind] = errors(model, val_set, horizons, args.device)
                train_s = time.time() - t0
                print(fmt_row([task, kind.upper(), *res[kind], f"{train_s:.0f}"]), flush=True)
                add("single", task, kind.upper(), res[kind], horizons, train_s=train_s)
            if "gn" in res and "mlp" in res:
                ratios = [g / m for g, m in zip(res["gn"], res["mlp"])]
                print(fmt_row([task, "GN/MLP ratio", *ratios, ""]), flush=True)
                add("single", task, "GN/MLP ratio", ratios, horizons)

    if "multi" in args.tables:
        print(f"\n### One GN trained on {len(MULTI)} systems at once, {args.steps} steps per system "
              f"({args.steps * len(MULTI)} in all; normalised rollout error)\n")
        print("| system | 1-step | 20-step | 100-step |")
        print("| --- | --- | --- | --- |")
        splits = [load_or_collect(t, args.episodes, args.episode_steps, data_dir, args.seed, args.controller).split(0.1)
                  for t in MULTI]
        model = train("gn", [s[0] for s in splits], [s[1] for s in splits], args, out / "multi",
                      steps=args.steps * len(MULTI))  # the same steps per system as each single-system model
        for task, (_, val_set) in zip(MULTI, splits):
            errs = errors(model, val_set, horizons, args.device)
            print(fmt_row([task, *errs]), flush=True)
            add("multi", task, "GN", errs, horizons)

    if "zeroshot" in args.tables:
        print(f"\n### Zero-shot swimmers: GN trained on {SWIM_TRAIN} links, {args.steps} steps per size "
              f"(normalised rollout error)\n")
        print("| links | seen in training | 20-step | 100-step |")
        print("| --- | --- | --- | --- |")
        sets = {n: load_or_collect(f"swimmer{n}", args.episodes, args.episode_steps, data_dir, args.seed,
                                     args.controller)
                for n in SWIM_TRAIN + SWIM_TEST}
        splits = {n: sets[n].split(0.1) for n in sets}
        model = train("gn", [splits[n][0] for n in SWIM_TRAIN], [splits[n][1] for n in SWIM_TRAIN], args,
                      out / "zeroshot", steps=args.steps * len(SWIM_TRAIN))
        for n in sorted(sets):
            e = errors(model, splits[n][1], [20, 100], args.device)
            print(fmt_row([n, "yes" if n in SWIM_TRAIN else "no", *e]), flush=True)
            add("zeroshot", f"swimmer{n}", "GN", e, [20, 100], links=n,
                seen_in_training="yes" if n in SWIM_TRAIN else "no")
    table.save()


if __name__ == "__main__":
    main()
