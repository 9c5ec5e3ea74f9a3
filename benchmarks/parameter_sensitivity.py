"""How much does each randomised parameter move a 100-step rollout? The true simulator, told it wrong.

For the held-out episodes of benchmarks/system_id.py (same seeds: same systems, start states and
random controls), the episode is simulated again in MuJoCo, and at the end of the 20-step
identification window ONE parameter scale (a body's mass, with its inertia, or a dof's damping) is
set back to nominal; the next 100 steps are scored against the recorded episode with the
forward-model metric (gncontrol.forward.metrics: squared error per quantity / the constant
model's, averaged). That is the error a PERFECT simulator makes when it does not know that
parameter, the most a model can gain by identifying it, to hold against the learnt models' errors
(benchmarks/system_id.py). Row "all": every mass and damping nominal (lengths stay true).
With `--true-model OUT`, also the true-parameter GN of that benchmark run given the static graph with
the parameter at nominal, beside its error given the truth: a model that predicts as well either way
does not use the parameter, and an encoder trained through it has no reason to identify it.
Lengths are not reset: they need a recompiled model, and the encoders identify them anyway.

    python -m benchmarks.parameter_sensitivity                       # pendulum and cartpole, ~1 min
    python -m benchmarks.parameter_sensitivity --tasks cartpole-swingup --true-model runs/sysid_c60k_e2000
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import platform
from pathlib import Path

import mujoco
import numpy as np
import torch

import envs  # noqa: F401 - chooses MUJOCO_GL before dm_control is imported
from benchmarks.common import CSVRows, add_csv_argument, csv_path
from benchmarks.system_id import (
    HORIZON,
    WINDOW,
    add_mass_range_option,
    after_window,
    apply_mass_range,
    load_or_collect,
)


def reset_at_window_end(task: str, params: dict, reset: list[tuple[str, int]], actions: np.ndarray):
    """A collect_episode policy: the recorded `actions` [T, A]; at step WINDOW the listed scales -> 1."""
    from envs.collect import _setup
    from envs.randomisation import apply_parameters

    def act(_state: np.ndarray, t: int) -> np.ndarray:
        if t == WINDOW and reset:
            c = _setup(task)
            m, d = c["env"].physics.model.ptr, c["env"].physics.data.ptr
            changed = copy.deepcopy(params)
            for key, j in reset:
                changed[key][j] = 1.0
            keep = [a.copy() for a in (d.qpos, d.qvel, d.act)]
            apply_parameters(m, d, c["nominal"], changed)  # mj_setConst may use d as scratch
            d.qpos[:], d.qvel[:], d.act[:] = keep
            mujoco.mj_forward(m, d)
        return actions[t]

    return act


def rerun(task: str, seed: int, episode: int, steps: int, params: dict, reset: list[tuple[str, int]],
          actions: np.ndarray) -> dict:
    """One recorded episode re-simulated with `reset` applied at step WINDOW (collect_episode's dict).

    Its "states" [T+1, N, 13] follow the reset after the window; its static arrays are those of the
    system as it ends, i.e. with the reset parameters.
    """
    from envs.collect import collect_episode

    policy = reset_at_window_end(task, params, reset, actions)
    return collect_episode(task, seed, episode, steps, randomise=True, policy=policy, with_rewards=False)


def model_error(model, data, episodes: list[dict]) -> float:
    """The GN's 100-step error after the window when given the static graphs of `episodes` (not data's)."""
    from gncontrol.forward.metrics import normalised_rollout_error

    def stack(key: str) -> torch.Tensor:
        return torch.as_tensor(np.stack([ep[key] for ep in episodes]), dtype=torch.float32)

    told = dataclasses.replace(data, static_nodes=stack("static_nodes"), static_edges=stack("static_edges"),
                               static_globals=stack("static_globals"))
    return normalised_rollout_error(model, after_window(told), HORIZON, 1)


def normalised_error(pred: np.ndarray, true: np.ndarray, start: np.ndarray) -> float:
    """The forward-model metric on numpy arrays: pred/true [E, H, N, 13], start [E, N, 13]."""
    from gncontrol.forward.metrics import error_ratios, squared_errors

    return error_ratios(*squared_errors(*(torch.from_numpy(np.asarray(a)) for a in (pred, true, start))))["mean"]


def main(argv: list[str] | None = None) -> None:
    """Prints, per task and parameter, the 100-step error of the simulator with that parameter nominal; writes the
    rows as CSV."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["pendulum-swingup", "cartpole-swingup"])
    ap.add_argument("--eval-episodes", type=int, default=40)
    ap.add_argument("--data-dir", default="runs/sysid_data")
    ap.add_argument("--seed", type=int, default=0, help="benchmarks/system_id.py's seed (held-out: seed + 1)")
    ap.add_argument("--true-model", metavar="OUT",
                    help="benchmarks/system_id.py's --out: also score its true-parameter GN (OUT/<task>/true) "
                    "given each parameter at nominal, i.e. does the learnt model use that parameter at all")
    add_mass_range_option(ap)
    add_csv_argument(ap, "parameter_sensitivity")
    args = ap.parse_args(argv)
    apply_mass_range(args)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores; {args.eval_episodes} held-out randomised "
          f"episodes (seed {args.seed + 1}), mass range {args.mass_range or 'default'}"
          f"{'' if args.mass_range_body is None else f' (body {args.mass_range_body})'}; "
          f"parameter reset at step {WINDOW}, scored over the next {HORIZON}")
    print("\n| task | parameter set to nominal | its scale's range | simulator: 100-step normalised error |"
          + (" true-parameter GN told nominal (told the truth) |" if args.true_model else ""))
    print("| --- | --- | --- | --- |" + (" --- |" if args.true_model else ""))
    table = CSVRows(csv_path(args, "parameter_sensitivity"))
    config = {"eval_episodes": args.eval_episodes, "seed": args.seed,
              "mass_range": " ".join(map(str, args.mass_range)) if args.mass_range else "default",
              "mass_range_body": "" if args.mass_range_body is None else args.mass_range_body}
    for task in args.tasks:
        data, params = load_or_collect(task, "eval", args.eval_episodes, args.seed + 1, Path(args.data_dir))
        model = None
        if args.true_model:
            from gncontrol.forward.training import load_forward_model

            model = load_forward_model(Path(args.true_model) / task / "true" / "model.pt")[0].eval()
        states = data.states.double().numpy()
        actions = data.actions.double().numpy()
        steps = actions.shape[1]
        varied = [(key, j) for key in ("mass_scale", "damping_scale")
                  for j in range(len(params[0][key])) if np.ptp([p[key][j] for p in params]) > 1e-9]
        for reset in [[]] + [[v] for v in varied] + [varied]:
            eps = [rerun(task, args.seed + 1, e, steps, params[e], reset, actions[e]) for e in range(len(params))]
            sims = np.stack([ep["states"] for ep in eps])
            err = normalised_error(sims[:, WINDOW + 1:WINDOW + 1 + HORIZON],
                                   states[:, WINDOW + 1:WINDOW + 1 + HORIZON], states[:, WINDOW])
            told_err = None if model is None else model_error(model, data, eps)
            told = "" if told_err is None else f" {told_err:.5f}"
            if not reset:  # the re-simulation must reproduce the recorded episodes
                if err > 1e-8:
                    raise RuntimeError(f"{task}: re-simulated episodes differ from the recorded ones ({err:.2e})")
                truth, truth_err = told, told_err
                continue
            key, j = reset[0]
            name = "all masses and dampings" if len(reset) > 1 else f"{key.replace('_scale', '')}[{j}]"
            vals = [p[k][j] for p in params for k, j in reset]
            print(f"| {task} | {name} | {min(vals):.2f}-{max(vals):.2f} | {err:.5f} |"
                  + (f"{told} ({truth.strip()}) |" if model is not None else ""), flush=True)
            table.add({"task": task, "parameter": name, "scale_min": min(vals), "scale_max": max(vals),
                       "simulator_error": err, **({} if model is None else {"gn_told_nominal_error": told_err,
                                                                              "gn_told_truth_error": truth_err}),
                       **config})
    table.save()


if __name__ == "__main__":
    main()
