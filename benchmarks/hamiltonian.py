"""Hamiltonian-model benchmarks: the HNN table, and DeltaGN vs OGN vs HOGN on n-body.

    python -m benchmarks.hamiltonian --section hnn [--tasks mass_spring two_body] [--quick]
    python -m benchmarks.hamiltonian --section ogn [--quick]

Prints the configuration, the machine, each number and the RATIO of the baseline's error
to the Hamiltonian model's error measured in the same run, beside the papers' numbers.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import numpy as np
import torch

from benchmarks.common import CSVRows, add_csv_argument, csv_path, machine
from envs.particles.hamiltonian_systems import authors_dataset, make_dataset, make_system
from gncontrol.hamiltonian.hnn import HNN, BaselineMLP, fit_derivatives
from gncontrol.hamiltonian.metrics import derivative_mse, energy_mse, model_rollout_ivp

# Paper (Greydanus et al. 2019, authors' README): test derivative MSE and energy MSE.
PAPER_HNN = {
    "mass_spring": (3.67e-2, 3.59e-2, 1.71e-1, 3.84e-4),
    "pendulum": (3.53e-2, 3.56e-2, 4.15e-2, 2.49e-2),
    "damped_pendulum": (2.19e-3, 5.96e-3, 3.86e-1, 1.45e-2),
    "two_body": (2.96e-5, 2.82e-6, 6.33e-2, 3.88e-5),
    "three_body": (3.80e-1, 4.88e-1, 1.09e2, 4.19e-2),
}

# name: (n_traj, train_fraction, steps, batch, weight_decay, energy t_end, energy points)
HNN_RECIPE = {
    "mass_spring": (50, 0.5, 2000, None, 1e-4, 20.0, 100),
    "pendulum": (50, 0.5, 2000, None, 1e-4, 20.0, 100),
    "damped_pendulum": (50, 0.5, 2000, None, 1e-4, 20.0, 100),
    "two_body": (1000, 0.8, 10000, 200, 0.0, 25.0, 500),
    "three_body": (5000, 0.8, 10000, 600, 0.0, 3.0, 100),
}


def notebook_energy_mse(models: dict[str, torch.nn.Module], system, seed: int, t_end: float = 20.0,
                        n_points: int = 100, trials: int = 15, compounding: bool = True
                        ) -> dict[str, np.ndarray]:
    """Per-trial energy MSE [trials] per model by the authors' analyze-spring.ipynb protocol.

    Why this protocol: it is the code that produced the paper's mass-spring numbers. Each trial
    draws x0 with each coordinate +-U(0.2, 1.0), integrates the truth on [0, T] at `n_points`
    and the float32 model on [0, T (1 + 0.9 sigma)] at the same points stretched by
    (1 + 0.9 sigma) ("rescale time to compensate for noise effects"), scipy RK45, rtol 1e-12,
    and takes the MSE between the true energies along both. The notebook stretches t_span and
    t_eval IN PLACE, so T grows by (1 + 0.9 sigma) per call: after the figure cell T = 21.8,
    and trial i integrates the truth to 20 * 1.09^(i+1) (up to 72.8; the model to 79.4).
    `compounding=False` keeps T = t_end for every trial (the protocol as described).
    """
    from scipy.integrate import solve_ivp

    rs = np.random.RandomState(seed + 1000)
    scale = 1 + 0.9 * system.noise
    t_span_end = t_end * scale if compounding else t_end

    def true_f(_t: float, y: np.ndarray) -> np.ndarray:
        return system.numpy_field(y[None])[0]

    def model_f(model: torch.nn.Module):
        def f(_t: float, y: np.ndarray) -> np.ndarray:
            x = torch.tensor(y, dtype=torch.float32).view(1, -1).requires_grad_(True)
            return model.derivative(x).detach().double().numpy().reshape(-1)
        return f

    out: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(trials):
        x0 = rs.rand(2) * 1.6 - 0.8
        x0 += 0.2 * np.sign(x0)
        t_eval = np.linspace(0.0, t_span_end, n_points)
        true_x = solve_ivp(true_f, (0.0, t_span_end), x0, t_eval=t_eval, rtol=1e-12).y.T
        e_true = system.energy_np(true_x)
        for name, model in models.items():
            sol = solve_ivp(model_f(model), (0.0, t_span_end * scale), x0, t_eval=t_eval * scale,
                            rtol=1e-12)
            if not sol.success or sol.y.shape[1] != n_points:
                out[name].append(float("inf"))
                continue
            out[name].append(float(np.mean((e_true - system.energy_np(sol.y.T)) ** 2)))
        if compounding:
            t_span_end *= scale
    return {k: np.asarray(v) for k, v in out.items()}


def hnn_task(task: str, quick: bool, seed: int, device: str, data_source: str = "authors"
             ) -> dict[str, float]:
    """Trains HNN and baseline on one task and seed; returns derivative and energy MSEs.

    2-D tasks get three energy numbers per model: `notebook` (the authors' analysis-notebook
    protocol, horizon compounding as they ran it), `rescaled` (same, fixed horizon [0, 20])
    and `fixed` (our batched float64 RK45 rtol 1e-9 rollouts on [0, 20], no time rescaling).
    """
    n_traj, frac, steps, batch, wd, t_end, n_pts = HNN_RECIPE[task]
    if quick:
        n_traj, steps = min(n_traj, 100), min(steps, 300)
    system = make_system(task)
    t0 = time.time()
    if system.dim == 2 and data_source == "authors":
        data = authors_dataset(system, n_traj, seed=seed)
    else:
        data = make_dataset(system, n_traj, seed=seed)
    train, test = data.split(frac)
    t_data = time.time() - t0
    xtr, dxtr = (torch.tensor(a, dtype=torch.float32, device=device) for a in train.flat())
    xte, dxte = (torch.tensor(a, dtype=torch.float32, device=device) for a in test.flat())

    # fixed protocol: 15 initial conditions, float64 model, batched adaptive solver
    rng = np.random.default_rng(seed + 1)
    if system.dim == 2:
        # the authors' analysis notebooks: each coordinate +-U(0.2, 1.0), so radii reach ~1.4,
        # partly beyond the training radii
        x0 = rng.uniform(-0.8, 0.8, (15, 2))
        x0 += 0.2 * np.sign(x0)
    else:
        x0 = system.sample_initial(15, rng)
    t_eval = np.linspace(0.0, t_end, n_pts)
    true_traj = system.trajectories(x0, t_eval)
    out: dict[str, float] = {"data_s": t_data}
    models = {}
    for name, cls in (("base", BaselineMLP), ("hnn", HNN)):
        torch.manual_seed(seed)
        model = cls(system.dim).to(device)
        t1 = time.time()
        fit_derivatives(model, xtr, dxtr, steps=steps + 1, batch_size=batch, weight_decay=wd,
                        seed=seed, progress=False)
        out[f"{name}_train_s"] = time.time() - t1
        out[f"{name}_train_mse"] = derivative_mse(model.derivative, xtr, dxtr)
        out[f"{name}_test_mse"] = derivative_mse(model.derivative, xte, dxte)
        models[name] = model.cpu()
        model64 = copy.deepcopy(model).double()
        t2 = time.time()
        traj = model_rollout_ivp(model64.derivative, x0, t_eval, rtol=1e-9, dtype=torch.float64,
                                 device=device)
        out[f"{name}_rollout_s"] = time.time() - t2
        out[f"{name}_energy_fixed"] = energy_mse(system.energy_np, true_traj, traj)
    if system.dim == 2:
        for label, comp in (("notebook", True), ("rescaled", False)):
            t3 = time.time()
            per = notebook_energy_mse(models, system, seed, t_end, n_pts, compounding=comp)
            for name in models:
                out[f"{name}_energy_{label}"] = float(per[name].mean())
            out[f"{label}_s"] = time.time() - t3
    return out


def run_hnn(args: argparse.Namespace, table: CSVRows) -> None:
    """The HNN table: per task and seed, derivative and energy MSE of baseline and HNN, ratios."""
    protocols = ("notebook", "rescaled", "fixed")
    for task in args.tasks:
        dim2 = make_system(task).dim == 2
        seeds = args.hnn_seeds if args.hnn_seeds is not None else ([0, 1, 2, 3, 4] if dim2 else [args.seed])
        pb, ph, peb, peh = PAPER_HNN[task]
        print(f"\n### {task}: data {args.hnn_data if dim2 else 'ours'}, seeds {seeds}; paper: test "
              f"{pb:.3g} / {ph:.3g}, energy {peb:.3g} / {peh:.3g} ({peb / peh:.0f}x)")
        shown = [p for p in protocols if dim2 or p == "fixed"]
        print("| seed | test base | test HNN | " + " | ".join(
            f"energy {p} base / HNN (ratio)" for p in shown) + " |")
        print("|---" * (3 + len(shown)) + "|")
        rows = []
        for seed in seeds:
            r = hnn_task(task, args.quick, seed, args.device, args.hnn_data)
            rows.append(r)
            table.add({"section": "hnn", "task": task, "seed": seed, "data": args.hnn_data if dim2 else "ours", **r,
                       **{f"energy_{p}_ratio": r[f"base_energy_{p}"] / max(r[f"hnn_energy_{p}"], 1e-30)
                          for p in shown}})
            cells = [f"{r[f'base_energy_{p}']:.3g} / {r[f'hnn_energy_{p}']:.3g} "
                     f"({r[f'base_energy_{p}'] / max(r[f'hnn_energy_{p}'], 1e-30):.0f}x)" for p in shown]
            print(f"| {seed} | {r['base_test_mse']:.3g} | {r['hnn_test_mse']:.3g} | " + " | ".join(cells)
                  + " |", flush=True)
            extra = "".join(f", {p} {r[f'{p}_s']:.0f}s" for p in shown if f"{p}_s" in r)
            print(f"    timings: data {r['data_s']:.1f}s, train base {r['base_train_s']:.1f}s "
                  f"hnn {r['hnn_train_s']:.1f}s, fixed rollouts {r['base_rollout_s']:.1f}s / "
                  f"{r['hnn_rollout_s']:.1f}s{extra}; train mse base {r['base_train_mse']:.3g} "
                  f"hnn {r['hnn_train_mse']:.3g}", flush=True)
        for p in shown:
            b = np.array([r[f"base_energy_{p}"] for r in rows])
            h = np.array([r[f"hnn_energy_{p}"] for r in rows])
            ratios = b / np.maximum(h, 1e-30)
            table.add({"section": "hnn summary", "task": task, "protocol": p, "seeds": len(rows),
                       "mean_energy_base": float(b.mean()), "mean_energy_hnn": float(h.mean()),
                       "ratio_of_means": float(b.mean() / h.mean()), "ratio_min": float(ratios.min()),
                       "ratio_median": float(np.median(ratios)), "ratio_max": float(ratios.max()),
                       "ratio_geometric_mean": float(np.exp(np.log(ratios).mean())),
                       "seeds_ge_100x": int((ratios >= 100).sum()), "paper_test_base": pb, "paper_test_hnn": ph,
                       "paper_energy_base": peb, "paper_energy_hnn": peh})
            print(f"{task} [{p}] over {len(rows)} seeds: mean energy base {b.mean():.3g} / HNN "
                  f"{h.mean():.3g}; RATIO of means {b.mean() / h.mean():.0f}x; per-seed ratios "
                  f"min {ratios.min():.1f}x median {np.median(ratios):.1f}x max {ratios.max():.1f}x, "
                  f"geometric mean {np.exp(np.log(ratios).mean()):.1f}x; seeds >= 100x: "
                  f"{int((ratios >= 100).sum())}/{len(rows)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parses arguments, prints the configuration and machine, runs the chosen sections; writes their rows as one
    CSV (column `section`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--section", choices=["hnn", "ogn", "nhf", "hgn", "swingup", "pixels"], nargs="+",
                   default=["hnn"])
    p.add_argument("--tasks", nargs="+", default=["mass_spring", "pendulum", "damped_pendulum",
                                                   "two_body"])
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hnn-seeds", type=int, nargs="+", default=None,
                   help="HNN-table seeds (default 0-4 for 2-D tasks, --seed otherwise)")
    p.add_argument("--hnn-data", choices=["authors", "ours"], default="authors",
                   help="2-D HNN data: the authors' numpy-legacy draw (seed 0 = their dataset) or ours")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ogn-steps", type=int, default=800, help="training steps per n-body model")
    p.add_argument("--nhf-steps", type=int, default=1500)
    p.add_argument("--pixel-steps", type=int, default=3000)
    p.add_argument("--hgn-steps", type=int, default=6000)
    p.add_argument("--hgn-minutes", type=float, default=None, help="wall-clock budget per HGN variant")
    p.add_argument("--hgn-lr", type=float, default=1.5e-3)
    p.add_argument("--hgn-output", choices=["linear", "sigmoid"], default="linear",
                   help="decoder output (sigmoid is the paper's; it saturates on our near-black scenes)")
    p.add_argument("--hgn-tolerance", type=float, default=1e-4, help="GECO bound on the recon MSE")
    p.add_argument("--hgn-train", type=int, default=2048, help="training sequences")
    p.add_argument("--hgn-train-len", type=int, default=30, help="frames per training window (<= 30)")
    p.add_argument("--hgn-curriculum", type=int, nargs=2, default=[10, 3000], metavar=("START_LEN", "RAMP_STEPS"),
                   help="grow the training window from START_LEN frames to --hgn-train-len over RAMP_STEPS steps "
                   "(START_LEN = --hgn-train-len: none)")
    p.add_argument("--hgn-eval-every", type=int, default=500, help="validation / test MSE every N steps (the "
                   "best validation step is reported beside the last)")
    p.add_argument("--hgn-save", default=None, help="save the (last) HGN state_dict here")
    p.add_argument("--hgn-scenes", nargs="+", default=["mass_spring", "pendulum"])
    p.add_argument("--hgn-pixel-hnn-steps", type=int, default=0,
                   help="also fit the paper's PixelHNN baseline on the same scenes for N steps (batch 64)")
    p.add_argument("--hgn-variants", nargs="*", default=["leapfrog"],
                   choices=["leapfrog", "euler", "no_f_psi", "deterministic", "separable"])
    add_csv_argument(p, "hamiltonian")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"config: {vars(args)}")
    print(f"machine: {machine()}")
    table = CSVRows(csv_path(args, "hamiltonian"))
    for section in args.section:
        print(f"\n## {section}")
        {"hnn": run_hnn, "ogn": run_ogn, "nhf": run_nhf, "hgn": run_hgn,
         "swingup": run_swingup, "pixels": run_pixels}[section](args, table)
    table.save()
    return 0


def run_ogn(args: argparse.Namespace, table: CSVRows) -> None:
    """DeltaGN vs OGN vs HOGN on n-body springs: rollout position MSE and energy error."""
    from gncontrol.hamiltonian.ogn import NBodyGraphModel, fit_one_step

    n_bodies, dt = 4, 0.1
    n_train, n_test, steps, batch, horizon = 200, 20, args.ogn_steps, 64, 100
    if args.quick:
        n_train, n_test, steps, horizon = 20, 5, 50, 20
    system = make_system("nbody_springs", n_bodies=n_bodies, t_span=(0.0, 10.0), n_points=101)
    t0 = time.time()
    train = make_dataset(system, n_train, seed=args.seed, noise=0.0, solver="rk4")
    test = make_dataset(system, n_test, seed=args.seed + 1000, noise=0.0, solver="rk4")
    print(f"data: {n_train} train / {n_test} test trajectories of {system.n_points} states, "
          f"dt {dt}, {n_bodies} bodies, springs k={system.k} L={system.rest_length} "
          f"({time.time() - t0:.1f}s); training {steps} steps, batch {batch}; rollout {horizon} steps")
    x = torch.tensor(train.states[:, :-1].reshape(-1, system.dim), dtype=torch.float32)
    xn = torch.tensor(train.states[:, 1:].reshape(-1, system.dim), dtype=torch.float32)
    truth = torch.tensor(test.states[:, : horizon + 1], dtype=torch.float64)
    e0 = system.hamiltonian(truth[:, 0])
    variants = [("DeltaGN", "delta", "rk4"), ("OGN", "ogn", "rk4"), ("HOGN", "hogn", "rk4"),
                ("HOGN", "hogn", "leapfrog")]
    results, rows = {}, {}
    print("| model | integrator | one-step test MSE | rollout position MSE | energy MSE | train s |")
    print("|---|---|---|---|---|---|")
    for label, kind, method in variants:
        torch.manual_seed(args.seed)
        model = NBodyGraphModel(n_bodies, kind, hidden=64, dt=dt, method=method)
        t1 = time.time()
        fit_one_step(model, x, xn, steps=steps, batch_size=batch, seed=args.seed)
        train_s = time.time() - t1
        xs = [truth[:, 0].float()]
        for _ in range(horizon):
            xs.append(model.step(xs[-1]).detach())
        roll = torch.stack(xs, 1).double()
        one = ((model.step(truth[:, :-1].reshape(-1, system.dim).float()).detach().double()
                - truth[:, 1:].reshape(-1, system.dim)) ** 2).mean()
        h = 2 * n_bodies
        pos_mse = float(((roll[..., :h] - truth[..., :h]) ** 2).mean())
        energy = system.hamiltonian(roll.reshape(-1, system.dim)).reshape(roll.shape[:2])
        e_mse = float(((energy - e0[:, None]) ** 2).mean())
        results[(label, method)] = e_mse
        print(f"| {label} | {method if kind != 'delta' else '-'} | {float(one):.3g} | {pos_mse:.3g} | "
              f"{e_mse:.3g} | {train_s:.0f} |", flush=True)
        rows[(label, method)] = table.add({
            "section": "ogn", "task": "nbody_springs", "model": label, "integrator": method if kind != "delta" else "-",
            "one_step_test_mse": float(one), "rollout_position_mse": pos_mse, "energy_mse": e_mse, "train_s": train_s,
            "steps": steps, "n_train": n_train, "horizon": horizon})
    hogn = results[("HOGN", "rk4")]
    for key, row in rows.items():
        row["energy_mse_over_hogn_rk4"] = results[key] / hogn
    table.write()
    print(f"energy-error RATIO vs HOGN(rk4): DeltaGN {results[('DeltaGN', 'rk4')] / hogn:.2f}x, "
          f"OGN {results[('OGN', 'rk4')] / hogn:.2f}x, HOGN-leapfrog "
          f"{results[('HOGN', 'leapfrog')] / hogn:.2f}x")


def run_nhf(args: argparse.Namespace, table: CSVRows) -> None:
    """NHF on a 2-D mixture of 4 Gaussians: test ELBO vs the best single Gaussian, invertibility."""
    from gncontrol.hamiltonian.nhf import NeuralHamiltonianFlow, fit_nhf

    steps = 60 if args.quick else args.nhf_steps
    gen = torch.Generator().manual_seed(args.seed)
    centres = torch.tensor([[1.5, 1.5], [-1.5, 1.5], [1.5, -1.5], [-1.5, -1.5]])

    def sample(n: int) -> torch.Tensor:
        k = torch.randint(0, 4, (n,), generator=gen)
        return centres[k] + 0.4 * torch.randn(n, 2, generator=gen)

    train, test = sample(4096), sample(2048)
    torch.manual_seed(args.seed)
    flow = NeuralHamiltonianFlow(d=2, stages=3, leapfrog_steps=2, hidden=64)
    t0 = time.time()
    fit_nhf(flow, train, steps=steps, batch_size=256, lr=3e-3, seed=args.seed)
    with torch.no_grad():
        elbo = float(torch.stack([flow.elbo(test, samples=4) for _ in range(4)]).mean())
    mu, cov = train.mean(0), torch.cov(train.T)
    gauss = float(torch.distributions.MultivariateNormal(mu, cov).log_prob(test).mean())
    true_ll = float(torch.logsumexp(torch.distributions.MultivariateNormal(
        centres, 0.16 * torch.eye(2)).log_prob(test[:, None]), -1).mean() - np.log(4))
    z = torch.randn(512, 4, dtype=torch.float64)
    f64 = flow.double()
    q1, p1 = f64.forward_flow(z[:, :2], z[:, 2:])
    q0, p0 = f64.inverse_flow(q1, p1)
    inv = float(torch.cat([q0, p0], -1).sub(z).abs().max().detach())
    seconds = time.time() - t0
    table.add({"section": "nhf", "task": "mixture of 4 Gaussians", "model": "NHF", "steps": steps, "seconds": seconds,
               "test_elbo": elbo, "gaussian_loglik": gauss, "true_loglik": true_ll,
               "gap_closed": (elbo - gauss) / (true_ll - gauss), "inversion_error": inv})
    print(f"NHF ({steps} steps, {seconds:.0f}s): test ELBO {elbo:.3f} nats; best single "
          f"Gaussian log-lik {gauss:.3f}; true mixture log-lik {true_ll:.3f}; gap closed "
          f"{(elbo - gauss) / (true_ll - gauss):.2f} of the way; float64 inversion error {inv:.2e}")


def run_hgn(args: argparse.Namespace, table: CSVRows) -> None:
    """HGN variants at a reduced size: 30-step pixel MSE vs a constant-first-frame baseline.

    Trains for --hgn-steps Adam steps or --hgn-minutes of wall time, whichever ends first,
    printing the test 30-step MSE every --hgn-eval-every steps (a learning curve).
    """
    from envs.particles.render import hgn_dataset
    from gncontrol.hamiltonian.hgn import GECO, HGN, HGNConfig
    from gncontrol.hamiltonian.metrics import pixel_mse_unroll

    n_train, n_test, steps, train_len = args.hgn_train, 64, args.hgn_steps, args.hgn_train_len
    if args.quick:
        n_train, n_test, steps = 32, 8, 5
    budget_s = 60 * args.hgn_minutes if args.hgn_minutes else float("inf")
    variants = {"leapfrog": {}, "euler": {"integrator": "euler"}, "no_f_psi": {"use_f_psi": False},
                "deterministic": {"deterministic": True}, "separable": {"separable": True}}
    for scene in args.hgn_scenes:
        train = torch.tensor(hgn_dataset(scene, n_train, 30, seed=args.seed)["frames"])
        test = torch.tensor(hgn_dataset(scene, n_test, 30, seed=args.seed + 1)["frames"])
        valid = torch.tensor(hgn_dataset(scene, n_test, 30, seed=args.seed + 2)["frames"])
        const = pixel_mse_unroll(test[:, :1].expand_as(test), test)
        ramp = (f" (from {args.hgn_curriculum[0]} frames over {args.hgn_curriculum[1]} steps)"
                if args.hgn_curriculum else "")
        print(f"{scene}: {n_train} train / {n_test} test sequences, up to {steps} steps "
              f"(budget {args.hgn_minutes or 'none'} min) of batch 16 on {train_len}-frame windows"
              f"{ramp}, "
              f"Adam {args.hgn_lr:g}, GECO tolerance {args.hgn_tolerance:g}, {args.hgn_output} decoder "
              f"output; constant-first-frame "
              f"baseline 30-step MSE x1e4 = {const * 1e4:.2f}", flush=True)
        if args.hgn_pixel_hnn_steps:  # the paper's PixelHNN row: MLP autoencoder, latent 2, batch 64
            t0 = time.time()
            flat = train.flatten(2)  # [S, 30, F]
            pairs = torch.cat([flat[:, :-1], flat[:, 1:]], -1)  # [S, 29, 2F]
            model = fit_pixel_hnn(pairs[:, :-1].reshape(-1, pairs.shape[-1]), pairs[:, 1:].reshape(-1, pairs.shape[-1]),
                                  args.hgn_pixel_hnn_steps, 64, False, args.seed)
            t_flat = test.flatten(2)
            first = torch.cat([t_flat[:, 0], t_flat[:, 1]], -1)
            tr = pixel_unroll_mse(model, pairs[:n_test, 0], flat[:n_test])
            te = pixel_unroll_mse(model, first, t_flat)
            seconds = time.time() - t0
            print(f"  pixel HNN ({args.hgn_pixel_hnn_steps} steps): 30-step pixel MSE x1e4 train "
                  f"{tr * 1e4:.2f} test {te * 1e4:.2f} ({seconds:.0f}s)", flush=True)
            table.add({"section": "hgn", "task": scene, "model": "pixel HNN", "steps": args.hgn_pixel_hnn_steps,
                       "train_mse_x1e4": tr * 1e4, "test_mse_x1e4": te * 1e4, "constant_mse_x1e4": const * 1e4,
                       "constant_over_model": const / te, "seconds": seconds})

        def test_mse(model: HGN, frames: torch.Tensor) -> float:
            model.eval()
            with torch.no_grad():
                out = pixel_mse_unroll(model.unroll(frames, 30, sample=False)[0], frames)
            model.train()
            return out

        for name in args.hgn_variants:
            torch.manual_seed(args.seed)
            cfg = HGNConfig(latent_channels=8, width=16, output=args.hgn_output, **variants[name])
            model = HGN(cfg)
            opt = torch.optim.Adam(model.parameters(), args.hgn_lr)
            geco = GECO(tolerance=args.hgn_tolerance)
            gen = torch.Generator().manual_seed(args.seed)
            t0 = time.time()
            done = 0
            best = (float("inf"), 0, None)  # (validation MSE, step, state_dict) at the evaluations
            while done < steps and time.time() - t0 < budget_s:
                train_len = window_length(done, args.hgn_train_len, args.hgn_curriculum)
                idx = torch.randint(0, n_train, (16,), generator=gen)
                start = int(torch.randint(0, 30 - train_len + 1, (1,), generator=gen))
                mse, kl = model.losses(train[idx, start:start + train_len])
                loss = geco.loss(mse, kl, 3 * 32 * 32)
                opt.zero_grad()
                loss.backward()
                opt.step()
                done += 1
                if args.hgn_eval_every and done % args.hgn_eval_every == 0:
                    va = test_mse(model, valid)
                    if va < best[0]:
                        best = (va, done, copy.deepcopy(model.state_dict()))
                    te = test_mse(model, test)
                    seconds = time.time() - t0
                    print(f"    step {done} ({seconds:.0f}s): {train_len}-frame window mse x1e4 "
                          f"{mse.item() * 1e4:.2f}, kl {kl.item():.1f}, lambda {geco.lam:.3g}, "
                          f"valid / test 30-step MSE x1e4 {va * 1e4:.2f} / {te * 1e4:.2f}",
                          flush=True)
                    table.add({"section": "hgn curve", "task": scene, "model": f"HGN ({name})", "steps": done,
                               "seconds": seconds, "window_frames": train_len, "window_mse_x1e4": mse.item() * 1e4,
                               "kl": kl.item(), "geco_lambda": geco.lam, "valid_mse_x1e4": va * 1e4,
                               "test_mse_x1e4": te * 1e4})
            tr = test_mse(model, train[:n_test])
            te = test_mse(model, test)
            row = {"section": "hgn", "task": scene, "model": f"HGN ({name})", "steps": done,
                   "train_mse_x1e4": tr * 1e4, "test_mse_x1e4": te * 1e4, "constant_mse_x1e4": const * 1e4,
                   "constant_over_model": const / te}
            if best[2] is not None:  # early stopping on the validation sequences (GECO's lambda can
                chosen = HGN(cfg)  # collapse late and wreck the reconstruction)
                chosen.load_state_dict(best[2])
                best_tr, best_te = test_mse(chosen, train[:n_test]), test_mse(chosen, test)
                print(f"  HGN ({name}) at its best validation step {best[1]} (valid {best[0] * 1e4:.2f}): "
                      f"30-step pixel MSE x1e4 train {best_tr * 1e4:.2f} test "
                      f"{best_te * 1e4:.2f}; the last step's numbers follow", flush=True)
                row.update(best_step=best[1], best_valid_mse_x1e4=best[0] * 1e4, best_train_mse_x1e4=best_tr * 1e4,
                           best_test_mse_x1e4=best_te * 1e4)
            row["seconds"] = time.time() - t0
            print(f"  HGN ({name}): {done} steps, 30-step pixel MSE x1e4 train {tr * 1e4:.2f} "
                  f"test {te * 1e4:.2f} (RATIO constant baseline / HGN {const / te:.2f}x; "
                  f"{row['seconds']:.0f}s)", flush=True)
            table.add(row)
            if args.hgn_save:
                torch.save(model.state_dict(), args.hgn_save)


def window_length(step: int, final: int, curriculum: tuple[int, int] | None) -> int:
    """Frames per HGN training window at `step`: `final`, or growing linearly from curriculum's
    START_LEN to `final` over its RAMP_STEPS (short windows first teach the autoencoder)."""
    if not curriculum:
        return final
    start, ramp = curriculum
    if not 2 <= start <= final:
        raise ValueError(f"--hgn-curriculum START_LEN must be in [2, --hgn-train-len={final}], got {start}")
    return min(final, start + (final - start) * step // max(ramp, 1))


def run_pixels(args: argparse.Namespace, table: CSVRows) -> None:
    """Pixel pendulum (HNN task 5): pixel HNN vs pixel baseline, 30-step latent-unroll pixel MSE."""
    from envs.particles.render import pixel_pendulum_dataset

    n_traj, steps = (40, 200) if args.quick else (200, args.pixel_steps)
    data = pixel_pendulum_dataset(n_traj, 100, seed=args.seed)["frames"].reshape(n_traj, 100, -1)
    k = int(0.8 * n_traj)
    pairs = torch.tensor(np.concatenate([data[:, :-1], data[:, 1:]], -1))  # [N, 99, 1568]
    train = pairs[:k, :-1].reshape(-1, pairs.shape[-1])
    train_next = pairs[:k, 1:].reshape(-1, pairs.shape[-1])
    test = pairs[k:]
    frame = data.shape[-1]
    const = float(((test[:, :1, :frame] - test[:, :30, :frame]) ** 2).mean())
    print(f"pixel pendulum: {n_traj} x 100 frames 28x28 (80/20), {steps} steps batch 200, wd 1e-5; "
          f"constant-first-frame 30-step MSE x1e4 {const * 1e4:.2f}")
    for label, baseline in (("pixel baseline", True), ("pixel HNN", False)):
        t0 = time.time()
        model = fit_pixel_hnn(train, train_next, steps, 200, baseline, args.seed, weight_decay=1e-5)
        mse = pixel_unroll_mse(model, test[:, 0], test[:, :30, :frame])
        seconds = time.time() - t0
        print(f"  {label}: 30-step pixel MSE x1e4 {mse * 1e4:.2f} (RATIO constant / model "
              f"{const / mse:.2f}x; {seconds:.0f}s)", flush=True)
        table.add({"section": "pixels", "task": "pixel pendulum", "model": label, "steps": steps, "n_train": k,
                   "test_mse_x1e4": mse * 1e4, "constant_mse_x1e4": const * 1e4, "constant_over_model": const / mse,
                   "seconds": seconds})


def fit_pixel_hnn(pairs: torch.Tensor, next_pairs: torch.Tensor, steps: int, batch: int, baseline: bool,
                  seed: int, weight_decay: float = 0.0):
    """A PixelHNN (latent 2; `baseline`: MLP dynamics) fitted to frame pairs [M, 2F] -> next pairs [M, 2F]."""
    from gncontrol.hamiltonian.hnn import PixelHNN

    torch.manual_seed(seed)
    model = PixelHNN(pairs.shape[-1], latent_dim=2, baseline=baseline, dt=1.0)
    opt = torch.optim.Adam(model.parameters(), 1e-3, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, pairs.shape[0], (batch,), generator=gen)
        loss, _ = model.loss(pairs[idx], next_pairs[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def pixel_unroll_mse(model, first_pairs: torch.Tensor, frames: torch.Tensor) -> float:
    """Pixel MSE of a PixelHNN's latent unroll from the encoded first pairs [B, 2F] against frames [B, T, F]."""
    with torch.no_grad():
        z = model.autoencoder.encode(first_pairs)
        out = []
        for _ in range(frames.shape[1]):
            out.append(model.autoencoder.decode(z)[:, :frames.shape[-1]])
            z = model.step(z)
    return float(((torch.stack(out, 1) - frames) ** 2).mean())


def run_swingup(args: argparse.Namespace, table: CSVRows) -> None:
    """Pendulum swing-up by CEM-MPC through a learned HNN vs the true model vs doing nothing."""
    from envs.particles.hamiltonian_systems import TrueHamiltonianModel
    from planners import CEMPlanner

    system = make_system("pendulum", r_range=(0.5, 3.6), n_points=45)
    data = make_dataset(system, 20 if args.quick else 100, seed=args.seed)
    x, dx = (torch.tensor(a, dtype=torch.float32) for a in data.flat())
    torch.manual_seed(args.seed)
    dt, steps = 0.1, 40 if args.quick else 80
    hnn = HNN(2, hidden=64, action_dim=1, dt=dt)
    t0 = time.time()
    fit_derivatives(hnn, x, dx, steps=200 if args.quick else 1500, weight_decay=1e-4, seed=args.seed)
    true = TrueHamiltonianModel(system, dt=dt, substeps=5)

    def reward(state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return -torch.cos(state[:, 0]) - 0.01 * action[:, 0] ** 2  # +1 upright, -1 hanging

    print(f"pendulum swing-up: |u| <= 1 (gravity torque up to 3), dt {dt}, {steps} MPC steps, "
          f"CEM horizon 15 x 150 samples x 4 iterations; HNN fit {time.time() - t0:.0f}s")
    for label, model in (("zero action", None), ("CEM on learned HNN", hnn), ("CEM on true model", true)):
        state = torch.tensor([[0.05, 0.0]])
        planner = CEMPlanner([-1.0], [1.0], horizon=15, population=150, elites=15, iterations=4,
                             seed=args.seed)
        ups = []
        for _ in range(steps):
            if model is None:
                a = torch.zeros(1)
            else:
                with torch.enable_grad():
                    a = planner.plan(model, lambda s, u: reward(s, u).detach(), state).detach()
            state = true.step(state.double(), a.double().reshape(1, 1)).float()
            ups.append(float(-torch.cos(state[0, 0])))
        tail = ups[-steps // 4:]
        print(f"  {label}: mean height over the last quarter {np.mean(tail):+.2f} (max {max(ups):+.2f}; "
              f"+1 is upright)", flush=True)
        table.add({"section": "swingup", "task": "pendulum", "model": label, "steps": steps,
                   "mean_height_last_quarter": float(np.mean(tail)), "max_height": max(ups)})


if __name__ == "__main__":
    sys.exit(main())
