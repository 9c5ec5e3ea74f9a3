"""System identification: 100-step rollout error without / with identification / with true parameters.

Per task, on parameter-randomised data (envs/randomisation.py: masses, lengths, damping; gear too
except on pendulum and cartpole, where it would make mass unidentifiable),
three models get the same data and training budget (steps x transitions per step):
  (a) no ID      a GN forward model whose static graph is one fixed system's (no per-episode info)
  (c) true       a GN forward model given each episode's true static graph
  (b) ID         the recurrent-GN encoder + GN forward model (gncontrol.sysid.model), jointly
Held-out episodes: the encoder reads steps 0..20 (20 steps of random control), then the model rolls
out 100 steps from step 20 (true controls in, predictions fed back); the paper's normalised
error (constant model = 1). Also (d) the window of a DIFFERENT held-out system and (e) a window of the
same system (same start state) with zero controls. A ridge-regularised linear probe maps the latent
graph (training episodes' windows) to the true parameter scales; R^2 on 400 further held-out systems
(a 90% bootstrap interval beside it) and, as before, on the 40 rollout systems.

    python -m benchmarks.system_id --quick                                  # pendulum, minutes
    python -m benchmarks.system_id --quick --tasks pendulum-swingup cartpole-swingup
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import CSVRows, add_csv_argument, csv_path

WINDOW = 20
HORIZON = 100


def load_or_collect(task: str, kind: str, episodes: int, seed: int, data_dir: Path):
    """(SystemTrajectories, parameter dicts) of randomised episodes; kind 'zero' = zero controls."""
    from envs.collect import collect
    from gncontrol.forward.datasets import load_trajectories
    from gncontrol.forward.transitions import SystemTrajectories

    steps = WINDOW + HORIZON
    path = data_dir / f"{task}_{kind}_{episodes}x{steps}_s{seed}_r{ranges_tag(task)}.h5"
    if not path.exists():
        policy = None
        if kind == "zero":
            from envs.tasks import get_task

            a = get_task(task).action_dim
            policy = lambda s, t: np.zeros(a)  # noqa: E731
        collect(task, episodes, steps=steps, seed=seed, out=path, randomise=True, progress=False, policy=policy)
    data = load_trajectories(path)
    if data.num_episodes != episodes:
        raise ValueError(f"{path} holds {data.num_episodes} episodes, expected {episodes} (still being written?)")
    return SystemTrajectories.from_arrays(task, data), data.metadata["parameters"]


def ranges_tag(task: str) -> str:
    """Short hash of the task's randomisation ranges: cached data of other ranges is never reused."""
    from envs.randomisation import ranges_for

    return hashlib.sha1(json.dumps(ranges_for(task), sort_keys=True).encode()).hexdigest()[:8]


def add_mass_range_option(ap: argparse.ArgumentParser) -> None:
    """`--mass-range LOW HIGH`: the experiment's mass scale range for its tasks (see apply_mass_range)."""
    ap.add_argument("--mass-range", type=float, nargs=2, metavar=("LOW", "HIGH"),
                    help="override the tasks' mass scale range (envs.randomisation), e.g. 0.5 3.0")
    ap.add_argument("--mass-range-body", type=int, metavar="J",
                    help="--mass-range for body J only (cartpole's pole: 2); default every body")


def apply_mass_range(args: argparse.Namespace) -> None:
    """Overrides the mass range of every task in args.tasks when --mass-range was given (data files follow)."""
    if args.mass_range:
        from envs.randomisation import override_ranges

        key = "mass" if args.mass_range_body is None else f"mass[{args.mass_range_body}]"
        for task in args.tasks:
            override_ranges(task, **{key: tuple(args.mass_range)})


def parameter_table(params: list[dict]) -> tuple[list[str], np.ndarray]:
    """(names, [n_ep, P]) of the randomised scales that vary across episodes (world body excluded).

    For a body whose mass and length both vary, a diagnostic column "m*l^2[j]" = mass x length^2
    follows: the combination a pendulum's motion under a known torque reveals (mass alone is
    identifiable only through it and the length), so its probe tells an encoder that keeps the
    physics from one that lost it.
    """
    names, cols = [], []
    for key in ("mass_scale", "length_scale", "damping_scale", "gear_scale"):
        if key not in params[0]:
            continue
        arr = np.array([p[key] for p in params])
        for j in range(arr.shape[1]):
            if arr[:, j].std() > 1e-9:
                names.append(f"{key.replace('_scale', '')}[{j}]")
                cols.append(arr[:, j])
    for name in list(names):
        j = name[name.index("["):]
        if name.startswith("mass") and f"length{j}" in names:
            names.append(f"m*l^2{j}")
            cols.append(cols[names.index(name)] * cols[names.index(f"length{j}")] ** 2)
    return names, np.stack(cols, 1)


def no_id_view(data, ref):
    """The data with every episode's static graph replaced by `ref`'s episode 0 (no per-episode information)."""
    return dataclasses.replace(data, static_nodes=ref.static_nodes[:1].expand_as(data.static_nodes).clone(),
                               static_edges=ref.static_edges[:1].expand_as(data.static_edges).clone(),
                               static_globals=ref.static_globals[:1].expand_as(data.static_globals).clone())


def after_window(data):
    """The episodes from step WINDOW on (the part predicted after identification)."""
    return dataclasses.replace(data, states=data.states[:, WINDOW:], actions=data.actions[:, WINDOW:])


def train_rollout_baseline(fcfg, data, tcfg, horizon: int, targets_per_window: int, device: str):
    """A GN forward model trained with the same H-step rollout loss and the same start states as the ID model.

    (the fair peer of an ID model trained with --sysid-horizon H: same loss, same batches.)
    """
    from gncontrol.forward.graph_forward import GNForwardModel
    from gncontrol.forward.training import fit_model_normalisers, lr_at, step_generator
    from gncontrol.sysid.model import rollout_loss
    from gncontrol.sysid.training import sample_sysid_batch

    torch.manual_seed(tcfg.seed)
    model = GNForwardModel(fcfg)
    fit_model_normalisers(model, [data], seed=tcfg.seed)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    for step in range(tcfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(tcfg, step)
        gen = step_generator(tcfg, step, 0)
        b = sample_sysid_batch(data, tcfg.batch_size // targets_per_window, targets_per_window, WINDOW, gen,
                               horizon).to(device)
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
        loss = rollout_loss(model, b.state, b.action, b.next_nodes, b.system, tcfg.noise_std)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
        opt.step()
    return model.eval()


def r2_scores(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
              ridge: float = 1e-3) -> np.ndarray:
    """Per-column R^2 on the test set of a ridge linear regression from standardised features."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-8
    a = np.c_[(x_train - mu) / sd, np.ones(len(x_train))]
    w = np.linalg.solve(a.T @ a + ridge * len(a) * np.eye(a.shape[1]), a.T @ y_train)
    pred = np.c_[(x_test - mu) / sd, np.ones(len(x_test))] @ w
    ss_res = ((pred - y_test) ** 2).sum(0)
    ss_tot = ((y_test - y_test.mean(0)) ** 2).sum(0)
    return 1 - ss_res / ss_tot


def r2_interval(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                draws: int = 500, seed: int = 0) -> np.ndarray:
    """[2, P] 5th and 95th percentiles of the test R^2 over bootstrap resamples of the test episodes."""
    rng = np.random.default_rng(seed)
    n = len(x_test)
    scores = [r2_scores(x_train, y_train, x_test[i], y_test[i]) for i in (rng.integers(0, n, n) for _ in range(draws))]
    return np.percentile(scores, [5, 95], axis=0)


def run_task(task: str, args: argparse.Namespace, tcfg) -> tuple[tuple, tuple]:
    """Trains (a), (c), (b) on one task; returns (error row, probe row)."""
    from gncontrol.forward.graph_forward import ForwardModelConfig
    from gncontrol.forward.metrics import normalised_rollout_error
    from gncontrol.forward.training import load_forward_model, train_forward_model
    from gncontrol.sysid.model import IdentifiedModel, SystemIDConfig, identify, latent_features, refine
    from gncontrol.sysid.training import load_system_id_model, train_system_id, windows_of

    data_dir, out = Path(args.data_dir), Path(args.out)
    train, p_train = load_or_collect(task, "train", args.episodes, args.seed, data_dir)
    test, p_test = load_or_collect(task, "eval", args.eval_episodes, args.seed + 1, data_dir)
    zero, _ = load_or_collect(task, "zero", args.eval_episodes, args.seed + 1, data_dir)
    s = train
    sizes = (s.static_nodes.shape[-1], s.static_edges.shape[-1], s.static_globals.shape[-1])
    fcfg = ForwardModelConfig("gn", sizes, latent=args.latent, hidden=tuple(args.hidden))
    times, models = {}, {}
    for name, view in (("noid", lambda d: no_id_view(d, train)), ("true", lambda d: d)):
        t0 = time.time()
        ckpt = out / task / name / "model.pt"
        if args.baseline_horizon > 1:  # same H-step loss and batches as the ID model (no checkpoint)
            models[name] = train_rollout_baseline(fcfg, view(train), tcfg, args.baseline_horizon,
                                                  args.targets_per_window, args.device)
        elif args.reuse and ckpt.exists() and load_forward_model(ckpt)[1]["step"] == tcfg.steps:
            models[name] = load_forward_model(ckpt, args.device)[0]
            print(f"[{task}] reusing {ckpt}", flush=True)
        else:
            models[name] = train_forward_model(fcfg, [view(train)], [], tcfg, out / task / name,
                                               device=args.device, progress=False).eval()
        times[name] = time.time() - t0
    t0 = time.time()
    scfg = SystemIDConfig(forward_latent=args.latent, forward_hidden=tuple(args.hidden), window=WINDOW,
                          encoder_update=args.encoder_update)
    scfg_train = dataclasses.replace(tcfg, steps=args.sysid_steps or tcfg.steps,
                                     checkpoint_every=args.sysid_steps or tcfg.steps)
    ckpt = out / task / args.sysid_name / "model.pt"
    cached = load_system_id_model(ckpt, args.device) if args.reuse and ckpt.exists() else None
    if cached and (cached[1]["step"], cached[1].get("horizon", 1),
                   cached[1]["model_config"].get("encoder_update", "gru")) == (
                       scfg_train.steps, args.sysid_horizon, args.encoder_update):
        sysid = cached[0]
        print(f"[{task}] reusing {ckpt}", flush=True)
    else:
        sysid = train_system_id(scfg, [train], [], scfg_train, out / task / args.sysid_name,
                                args.targets_per_window, device=args.device, progress=False,
                                horizon=args.sysid_horizon).eval()
    times["sysid"] = time.time() - t0

    eps = torch.arange(test.num_episodes)
    zeros = torch.zeros_like(eps)
    rest = after_window(test)

    def id_error(window_data, episodes, refine_steps: int = 0) -> float:
        w = windows_of(window_data, episodes, zeros, WINDOW)
        w = dataclasses.replace(w, system=test.system(eps)).to(args.device)
        latent = refine(sysid, w, identify(sysid, w), refine_steps)
        return normalised_rollout_error(IdentifiedModel(sysid, latent), rest, HORIZON, 1, args.device)

    err = {
        "(a) no ID": normalised_rollout_error(models["noid"], no_id_view(rest, train), HORIZON, 1, args.device),
        "(b) ID, 20-step window": id_error(test, eps),
        "(c) true parameters": normalised_rollout_error(models["true"], rest, HORIZON, 1, args.device),
        "(d) ID, window of another system": id_error(test, (eps + 1) % len(eps)),
        "(e) ID, zero-control window": id_error(zero, eps),
    }
    if args.refine_steps:
        err[f"(b+) ID refined, {args.refine_steps} Adam steps"] = id_error(test, eps, args.refine_steps)
    b, a, c = err["(b) ID, 20-step window"], err["(a) no ID"], err["(c) true parameters"]

    # linear probe: latent graph of each episode's first window -> true parameter scales
    def latents(data, refine_steps: int = 0) -> np.ndarray:
        e = torch.arange(data.num_episodes)
        w = windows_of(data, e, torch.zeros_like(e), WINDOW).to(args.device)
        return latent_features(refine(sysid, w, identify(sysid, w), refine_steps)).cpu().numpy()

    # probe scored on its own held-out set: 40 systems put the R^2 of a 0.9 probe within about +-0.05
    probe, p_probe = load_or_collect(task, "probe", args.probe_episodes, args.seed + 2, data_dir)
    names, y_tr = parameter_table(p_train)
    _, y_te = parameter_table(p_test)
    _, y_pr = parameter_table(p_probe)

    def probe_scores(refine_steps: int = 0) -> np.ndarray:
        """[P, 4]: R^2 on the probe systems, its 90% interval, R^2 on the rollout systems."""
        x_tr, x_pr = latents(train, refine_steps), latents(probe, refine_steps)
        return np.stack([r2_scores(x_tr, y_tr, x_pr, y_pr), *r2_interval(x_tr, y_tr, x_pr, y_pr),
                         r2_scores(x_tr, y_tr, latents(test, refine_steps), y_te)], 1)

    r2 = probe_scores()
    if args.refine_steps:
        names = names + [f"{n}, refined" for n in names]
        r2 = np.concatenate([r2, probe_scores(args.refine_steps)])
    print(f"[{task}] done: errors {({k: round(v, 4) for k, v in err.items()})}, train s {times}", flush=True)

    return (task, err, b / c, b / a, times), (task, names, r2)


def main(argv: list[str] | None = None) -> None:
    """Trains the three models per task and prints the markdown tables for benchmarks/RESULTS.md; writes their
    rows as one CSV (column `table`: error or probe)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short training (minutes per task)")
    ap.add_argument("--tasks", nargs="+", default=["pendulum-swingup", "cartpole-swingup"])
    ap.add_argument("--episodes", type=int, default=400, help="training episodes (each a random system)")
    ap.add_argument("--eval-episodes", type=int, default=40)
    ap.add_argument("--probe-episodes", type=int, default=400,
                    help="held-out systems (seed + 2) the linear probe is scored on")
    add_mass_range_option(ap)
    ap.add_argument("--steps", type=int, default=None, help="training steps (default 20000; --quick 2000)")
    ap.add_argument("--batch-size", type=int, default=128, help="transitions per step (all models)")
    ap.add_argument("--targets-per-window", type=int, default=8)
    ap.add_argument("--latent", type=int, default=128)
    ap.add_argument("--hidden", type=int, nargs="+", default=[128])
    ap.add_argument("--lr-final", type=float, default=1e-5)
    ap.add_argument("--data-dir", default="runs/sysid_data")
    ap.add_argument("--out", default="runs/bench_sysid")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true", help="load checkpoints of the same budget if present")
    ap.add_argument("--sysid-steps", type=int, default=0, help="ID training steps (default: --steps, same budget)")
    ap.add_argument("--sysid-name", default="sysid", help="subfolder of the ID model's run")
    ap.add_argument("--sysid-horizon", type=int, default=1,
                    help="ID training loss: H-step rollout per target (1 = one-step, as the other models)")
    ap.add_argument("--encoder-update", choices=("gru", "mean"), default="gru",
                    help="ID encoder's recurrent update: GRU, or the running mean of its GN messages")
    ap.add_argument("--refine-steps", type=int, default=0,
                    help="also report ID with the latent refined by N Adam steps on the window "
                    "(models.system_id.refine)")
    ap.add_argument("--baseline-horizon", type=int, default=1,
                    help="no-ID/true models: H-step rollout loss on the ID model's batches (1 = one-step trainer)")
    add_csv_argument(ap, "system_id")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps = args.steps or 2000
        args.latent, args.hidden, args.lr_final = 64, [64], 1e-4
    args.steps = args.steps or 20_000
    torch.set_num_threads(args.threads)
    apply_mass_range(args)

    from gncontrol.forward.training import TrainConfig

    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"config: {args.episodes} randomised training episodes, {args.eval_episodes} held-out, "
          f"{WINDOW + HORIZON} steps each (uniform random controls); {args.steps} steps x {args.batch_size} "
          f"transitions (ID: {args.batch_size // args.targets_per_window} windows x {args.targets_per_window}); "
          f"ID steps {args.sysid_steps or args.steps}, encoder update {args.encoder_update}, "
          f"loss horizon ID {args.sysid_horizon} / "
          f"baselines {args.baseline_horizon}; "
          f"MLPs {args.hidden} -> latent {args.latent}; "
          f"window {WINDOW}, horizon {HORIZON}; seed {args.seed}")
    tcfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=1e-3, lr_final=args.lr_final,
                       val_every=10**9, checkpoint_every=args.steps, seed=args.seed)
    rows, probes = [], []
    for task in args.tasks:
        row, probe = run_task(task, args, tcfg)
        rows.append(row)
        probes.append(probe)
    print(f"\n### System identification: {HORIZON}-step normalised rollout error (constant model = 1)\n")
    columns = list(rows[0][1])
    print("| task | " + " | ".join(columns) + " | ID / true | ID / no ID | train s (noID/true/ID) |")
    print("|" + " --- |" * (len(columns) + 4))
    table = CSVRows(csv_path(args, "system_id"))
    config = {"episodes": args.episodes, "eval_episodes": args.eval_episodes, "probe_episodes": args.probe_episodes,
              "steps": args.steps, "sysid_steps": args.sysid_steps or args.steps, "batch_size": args.batch_size,
              "latent": args.latent, "hidden": " ".join(map(str, args.hidden)), "encoder_update": args.encoder_update,
              "sysid_horizon": args.sysid_horizon, "baseline_horizon": args.baseline_horizon,
              "refine_steps": args.refine_steps, "seed": args.seed}
    for task, err, r_true, r_noid, times in rows:
        cells = [f"{v:.4f}" for v in err.values()]
        print(f"| {task} | " + " | ".join(cells) + f" | {r_true:.2f} | {r_noid:.2f} | "
              f"{times['noid']:.0f}/{times['true']:.0f}/{times['sysid']:.0f} |")
        table.add({"table": "error", "task": task, **err, "ID / true": r_true, "ID / no ID": r_noid,
                   "train_s_noid": times["noid"], "train_s_true": times["true"], "train_s_id": times["sysid"],
                   **config})
    print("\n### Linear probe latent graph -> true parameter scales (R^2 on held-out episodes)\n")
    print(f"| task | parameter | R^2, {args.probe_episodes} probe systems | 90% bootstrap | "
          f"R^2, the {args.eval_episodes} rollout systems | Done-when target (mass/length, >= 0.9) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for task, names, r2 in probes:
        for n, (v, lo, hi, v_eval) in zip(names, r2):
            target = n.startswith(("mass", "length")) and "refined" not in n
            print(f"| {task} | {n} | {v:.3f} | {lo:.3f} to {hi:.3f} | {v_eval:.3f} | "
                  f"{('met' if v >= 0.9 else 'NOT met') if target else '-'} |")
            table.add({"table": "probe", "task": task, "parameter": n, "r2_probe_systems": float(v),
                       "r2_bootstrap_5pct": float(lo), "r2_bootstrap_95pct": float(hi),
                       "r2_rollout_systems": float(v_eval),
                       "done_when_target": ("met" if v >= 0.9 else "NOT met") if target else "", **config})
    table.save()


if __name__ == "__main__":
    main()
