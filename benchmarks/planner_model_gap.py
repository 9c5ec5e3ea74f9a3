"""How much does each optimiser's plan exploit the learned model? Predicted vs true return.

Replays a recorded MPC episode (`gncontrol plan --record FILE.h5`) in the real environment; at
every `--every`-th control step it hands the recorded state to each planner (cold start, one
call), then scores the plan it returns twice: by the learned model (what the planner believed)
and by the TRUE simulator from the same MuJoCo state (what it would get). The gap between the
two is the plan's model exploitation. Peer in the same run: CEM on the same learned model.

    python -m benchmarks.planner_model_gap --model runs/cp/gn_dagger2/model.pt \
        --episodes-file runs/cp/grad2.h5 --episode 0 --env-seed 2 --every 20

Prints the configuration, the machine, and per planner: mean predicted and true return of its
plans (horizon x repeat steps each) and their gap, overall and for the swing-up (t < 300) and
balancing (t >= 300) phases, plus the ratio of each gap to CEM's.
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
import torch

from benchmarks.common import CSVRows, add_csv_argument, csv_path

PLANNERS = {  # name -> (kind, options); horizon and repeat are shared
    "cem200x4": ("cem", dict(iterations=4, population=200, elites=20)),
    "grad16x6": ("gradient", dict(iterations=6, restarts=16)),
    "grad16x20": ("gradient", dict(iterations=20, restarts=16)),
    "grad16x6_smooth0.2": ("gradient", dict(iterations=6, restarts=16, smoothness=0.2)),
    "grad16x6_smooth1": ("gradient", dict(iterations=6, restarts=16, smoothness=1.0)),
    "grad16x6_lr0.03": ("gradient", dict(iterations=6, restarts=16, lr=0.03)),
}


def main(argv: list[str] | None = None) -> int:
    """Runs the replay and prints the table; writes its rows as CSV."""
    import h5py

    import planners
    from envs.tasks import get_task
    from envs.true_model import TaskEnv, TrueModel
    from gncontrol.ensemble import EnsembleModel
    from gncontrol.forward.training import load_forward_model
    from planners.base import predicted_return

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="cartpole-swingup")
    ap.add_argument("--model", required=True, nargs="+", help="learned forward-model checkpoint(s); several "
                    "are planned through as an ensemble (mean predicted return over the members)")
    ap.add_argument("--episodes-file", required=True, help="HDF5 episodes recorded by `gncontrol plan --record`")
    ap.add_argument("--episode", type=int, default=0)
    ap.add_argument("--env-seed", type=int, default=0, help="the env seed the episode was recorded with")
    ap.add_argument("--every", type=int, default=40, help="evaluate every N-th control step")
    ap.add_argument("--horizon", type=int, default=25)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--planners", default=",".join(PLANNERS), help=f"comma list of {list(PLANNERS)}")
    add_csv_argument(ap, "planner_model_gap")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    names = args.planners.split(",")
    unknown = [n for n in names if n not in PLANNERS]
    if unknown:
        raise SystemExit(f"unknown planner {unknown[0]!r}; known: {', '.join(PLANNERS)}")
    task = get_task(args.task)
    members = [load_forward_model(path)[0] for path in args.model]
    model = members[0] if len(members) == 1 else EnsembleModel(members)
    params = task.graph().graph_system()
    with h5py.File(args.episodes_file, "r") as f:
        states = torch.as_tensor(f["states"][args.episode], dtype=torch.float32)
        actions = torch.as_tensor(f["actions"][args.episode], dtype=torch.float32)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, 1 thread")
    print(f"config: {args.task}, model {' + '.join(args.model)}, episode {args.episode} of {args.episodes_file} "
          f"(env seed {args.env_seed}), every {args.every} steps, horizon {args.horizon} x repeat {args.repeat}, "
          "cold start")
    true_model, env, graph = TrueModel.from_task(task), TaskEnv(task, seed=args.env_seed), task.graph()
    env.reset()
    lo, hi = task.action_low, task.action_high

    def make(n: str):
        kind, opts = PLANNERS[n]
        cls = planners.CEMPlanner if kind == "cem" else planners.GradientPlanner
        return cls(lo, hi, horizon=args.horizon, action_repeat=args.repeat, seed=0, **opts)

    scores = {n: [] for n in names}
    times = []
    for t in range(len(actions)):
        if t % args.every == 0:
            replayed = torch.as_tensor(graph.body_states(env.env.physics), dtype=torch.float32)
            if not torch.allclose(replayed, states[t], atol=1e-5):
                raise SystemExit(f"replay diverged from the recording at step {t}: wrong --env-seed or --task?")
            state = graph.dynamic_graph(states[t][None], actions[t - 1][None] if t else torch.zeros(1, 1))
            true_state = true_model.state_from_physics(env.env.physics)
            for n in names:
                p = make(n)
                p.plan(model, task.reward, state, params)
                with torch.no_grad():
                    pred = predicted_return(model, task.reward, state, p.plan_[None], params, 1.0, args.repeat)
                    real = predicted_return(true_model, task.reward, true_state, p.plan_[None], None, 1.0,
                                            args.repeat)
                scores[n].append((float(pred[0]), float(real[0])))
            times.append(t)
        env.step(actions[t])
    ts = np.array(times)
    phases = (("all", ts >= 0), ("t<300", ts < 300), ("t>=300", ts >= 300))
    ref = {ph: np.subtract(*np.array(scores[names[0]])[m].T).mean() for ph, m in phases if m.any()}
    print(f"\n| planner | phase | states | predicted | true | gap | gap / {names[0]}'s |")
    print("|---|---|---|---|---|---|---|")
    table = CSVRows(csv_path(args, "planner_model_gap"))
    config = {"task": args.task, "model": " ".join(args.model), "episodes_file": args.episodes_file,
              "episode": args.episode, "env_seed": args.env_seed, "every": args.every, "horizon": args.horizon,
              "repeat": args.repeat}
    for n in names:
        v = np.array(scores[n])
        for ph, m in phases:
            if m.any():
                gap = (v[m, 0] - v[m, 1]).mean()
                print(f"| {n} | {ph} | {int(m.sum())} | {v[m, 0].mean():.2f} | {v[m, 1].mean():.2f} | {gap:.2f} "
                      f"| {gap / ref[ph]:.2f} |")
                table.add({"planner": n, "phase": ph, "states": int(m.sum()), "predicted": float(v[m, 0].mean()),
                           "true": float(v[m, 1].mean()), "gap": float(gap), "gap_over_reference": float(gap / ref[ph]),
                           "reference_planner": names[0], **config})
    table.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
