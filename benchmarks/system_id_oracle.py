"""Are the randomised parameters identifiable from the 20-step window at all? A least-squares oracle.

For pendulum and cartpole the equations of motion are known up to a few coefficients; a
per-episode least-squares fit of those coefficients on the SAME 20-step random-control window
the system-ID encoder reads (finite differences of the recorded body states), followed by the
same ridge linear probe as benchmarks/system_id.py, gives the R^2 an encoder could reach from
that window. Baseline in the same run: the probe from the window's raw mean/std features.

    pendulum  d(omega)/dt = -a sin(theta) - c omega + d u           (a, c, d per episode)
    cartpole  x''      = k_u u + k_1 theta'' cos(theta) + k_2 theta'^2 sin(theta) + k_3 x'
              theta''  = j_1 sin(theta) + j_2 x'' cos(theta) + j_3 theta'

    python -m benchmarks.system_id_oracle            # uses (or collects) benchmarks/system_id.py's data
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np

from benchmarks.common import CSVRows, add_csv_argument, csv_path
from benchmarks.system_id import WINDOW, load_or_collect, r2_scores


def _angle(quat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sin, cos) of the rotation about y of quaternions [..., 4] (w, x, y, z) of a hinge about y."""
    w, x, y, z = np.moveaxis(quat, -1, 0)
    return 2 * (w * y + x * z), 1 - 2 * (x * x + y * y)


def pendulum_features(states: np.ndarray, actions: np.ndarray, dt: float) -> np.ndarray:
    """[E, 6] least-squares (a, c, d) of the window and their logs; states [E, W+1, N, 13], actions [E, W, 1]."""
    sin, _ = _angle(states[:, :, 1, 3:7])
    w = states[:, :, 1, 11]
    out = []
    for e in range(len(states)):
        x = np.c_[sin[e, :-1], w[e, :-1], actions[e, :, 0]]
        out.append(np.linalg.lstsq(x, (w[e, 1:] - w[e, :-1]) / dt, rcond=None)[0])
    c = np.array(out)
    return np.c_[c, np.log(np.abs(c) + 1e-9)]


def cartpole_features(states: np.ndarray, actions: np.ndarray, dt: float) -> np.ndarray:
    """[E, 11] least-squares cart and pole coefficients of the window and products of them (see module doc)."""
    v = states[:, :, 1, 7]
    sin, cos = _angle(states[:, :, 2, 3:7])
    w = states[:, :, 2, 11]
    out = []
    for e in range(len(states)):
        xdd, wdd = (v[e, 1:] - v[e, :-1]) / dt, (w[e, 1:] - w[e, :-1]) / dt
        k = np.linalg.lstsq(np.c_[actions[e, :, 0], wdd * cos[e, :-1], w[e, :-1] ** 2 * sin[e, :-1], v[e, :-1]],
                            xdd, rcond=None)[0]
        j = np.linalg.lstsq(np.c_[sin[e, :-1], xdd * cos[e, :-1], w[e, :-1]], wdd, rcond=None)[0]
        total = 1 / k[0]  # total mass / gear
        out.append([total, -k[1] * total, k[2] * total, j[0], j[1], j[2], k[0], k[1], k[2]])
    c = np.array(out)
    return np.c_[c, c[:, 1] / np.abs(c[:, 4]), c[:, 2] / np.abs(c[:, 4])]


def raw_features(states: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """[E, F] mean and std of the window's states and actions (the baseline: no model of the physics)."""
    s = states.reshape(len(states), states.shape[1], -1)
    return np.c_[s.mean(1), s.std(1), actions.mean(1), actions.std(1)]


ORACLES = {"pendulum-swingup": (pendulum_features, 0.02, ["mass[1]", "length[1]", "damping[0]"]),
           "cartpole-swingup": (cartpole_features, 0.01, ["mass[1]", "mass[2]", "length[2]"])}


def targets(params: list[dict], names: list[str]) -> np.ndarray:
    """[E, P] the named parameter scales ("mass[1]" = mass_scale[1]) of each episode."""
    cols = []
    for n in names:
        key, idx = n[:-1].split("[")
        cols.append([p[f"{key}_scale"][int(idx)] for p in params])
    return np.array(cols).T


def main(argv: list[str] | None = None) -> None:
    """Prints the oracle and baseline probe R^2 per task and parameter (markdown); writes the rows as CSV."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(ORACLES))
    ap.add_argument("--episodes", type=int, default=400)
    ap.add_argument("--eval-episodes", type=int, default=40)
    ap.add_argument("--data-dir", default="runs/sysid_data")
    ap.add_argument("--seed", type=int, default=0)
    add_csv_argument(ap, "system_id_oracle")
    args = ap.parse_args(argv)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores; window {WINDOW} steps of uniform random control; "
          f"{args.episodes} training / {args.eval_episodes} held-out randomised episodes, seed {args.seed}")
    print("\n| task | parameter | oracle least-squares R^2 | raw-feature baseline R^2 |")
    print("| --- | --- | --- | --- |")
    table = CSVRows(csv_path(args, "system_id_oracle"))
    for task in args.tasks:
        if task not in ORACLES:
            raise ValueError(f"no oracle for {task!r}; known: {', '.join(ORACLES)}")
        feats, dt, names = ORACLES[task]
        data_dir = Path(args.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        train, p_train = load_or_collect(task, "train", args.episodes, args.seed, data_dir)
        test, p_test = load_or_collect(task, "eval", args.eval_episodes, args.seed + 1, data_dir)

        def window(d):
            return d.states[:, :WINDOW + 1].double().numpy(), d.actions[:, :WINDOW].double().numpy()

        (s_tr, a_tr), (s_te, a_te) = window(train), window(test)
        y_tr, y_te = targets(p_train, names), targets(p_test, names)
        oracle = r2_scores(feats(s_tr, a_tr, dt), y_tr, feats(s_te, a_te, dt), y_te)
        raw = r2_scores(raw_features(s_tr, a_tr), y_tr, raw_features(s_te, a_te), y_te)
        for n, o, r in zip(names, oracle, raw):
            print(f"| {task} | {n} | {o:.3f} | {r:.3f} |")
            table.add({"task": task, "parameter": n, "oracle_r2": float(o), "raw_feature_r2": float(r),
                       "episodes": args.episodes, "eval_episodes": args.eval_episodes, "window": WINDOW,
                       "seed": args.seed})
    table.save()


if __name__ == "__main__":
    main()
