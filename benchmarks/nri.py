"""NRI / fNRI accuracy benchmark: learned edge accuracy and MSE beside the papers' numbers.

For each system it generates the recipe's dataset if missing, trains the recipe's config
(configs/nri/<name>_<recipe>.json), and measures in the same run the untrained baselines
on the same test data: Corr. (path) for edge accuracy and the static model for MSE. It
prints the configuration, the machine, run times, and RATIOS against those baselines.

    python -m benchmarks.nri --quick                      # smoke recipe, springs only (minutes)
    python -m benchmarks.nri --recipe reduced --systems springs,charged,kuramoto,ic
    python -m benchmarks.nri --recipe reduced --reuse     # re-print from finished runs' results.json
    python -m benchmarks.nri --diagnose runs/nri/springs5_reduced_h128/best.pt   # where a run's errors come from

fNRI I+C is compared against NRI with K = 4 under the same recipe (same data, epochs, width).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.common import CSVRows, add_csv_argument, csv_path, machine

ROOT = Path(__file__).resolve().parents[1]

PAPER = {  # Kipf et al. 2018 Tables 1-2 (5 objects); Webb et al. 2019 Table 1 (I+C)
    "springs5": {"acc": 99.9, "corr": 52.4, "mse": (3.12e-8, 3.29e-6, 2.13e-5), "static": (7.93e-5, 7.59e-3, 2.82e-2)},
    "charged5": {"acc": 82.1, "corr": 55.8, "mse": (1.05e-3, 3.21e-3, 7.06e-3), "static": (5.09e-3, 2.26e-2, 5.42e-2)},
    "kuramoto5": {"acc": 96.0, "corr": 62.8, "mse": (1.40e-2, 2.01e-2, 3.26e-2), "static": (5.75e-2, 3.79e-1, 3.39e-1)},
    "fnri_ic": {"acc": 94.0, "layers": (98.0, 95.8), "wmse": (0.80e-5, 3.54e-5, 9.93e-5)},
    "nri_k4_ic": {"acc": 89.1, "layers": (97.9, 91.0), "wmse": (0.88e-5, 4.05e-5, 11.5e-5)},
}
SYSTEM_RUNS = {"springs": ["springs5"], "charged": ["charged5"], "kuramoto": ["kuramoto5"],
               "ic": ["fnri_ic", "nri_k4_ic"]}


def _ensure_data(path: Path, system: str, recipe: str) -> float:
    from envs.particles.nri_data import PUBLISHED_SIZES, generate_dataset

    if path.is_file():
        return 0.0
    sizes = {"full": tuple(PUBLISHED_SIZES.values()), "reduced": (10_000, 2_000, 2_000), "smoke": (2_000, 500, 500)}
    t0 = time.time()
    generate_dataset(path, system, 5, *sizes[recipe], seed=0)
    return time.time() - t0


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def diagnose(checkpoint: str, n: int = 1000) -> dict[str, float]:
    """Is the encoder or the decoder the bottleneck of a trained NRI (single-layer labels)?

    On `n` training and `n` validation trajectories of the run's data: edge accuracy with
    BatchNorm's running statistics vs batch statistics (a train/eval mismatch would show),
    train vs validation accuracy (overfitting), and, on the validation trajectories with at
    least one wrong edge, the decoder's squared error with the inferred graph against the
    true graph (1-step and 10-step teacher forcing). If the true graph reconstructs much
    better, the decoder could tell the graphs apart and the encoder is what lags.
    """
    import torch
    import torch.nn.functional as F

    from gncontrol.nri.dataset import load_nri_split
    from gncontrol.nri.training import load_trained

    cfg, model = load_trained(checkpoint)
    data = Path(cfg.data) if Path(cfg.data).is_absolute() else ROOT / cfg.data
    res: dict[str, float] = {}

    def labels_and_preds(split: str, batch_stats: bool):
        s = load_nri_split(data, split, n)
        x, y = s.features[:, :, :cfg.timesteps], s.edges[:, 0]
        model.eval()
        model.encoder.train(batch_stats)
        with torch.no_grad():
            pred = torch.cat([model.encoder(x[i:i + cfg.batch_size]).argmax(-1)
                              for i in range(0, len(x), cfg.batch_size)])
        if (pred == y).float().mean() < 0.5:  # K = 2: the learned labels may be swapped
            pred = 1 - pred
        return x, y, pred

    state = {k: v.clone() for k, v in model.state_dict().items()}
    for split in ("train", "valid"):
        for stats in (False, True):
            _, y, pred = labels_and_preds(split, stats)
            res[f"acc_{split}_{'batch_stats' if stats else 'running_stats'}"] = float((pred == y).float().mean())
    model.load_state_dict(state)  # batch-stat passes moved the running statistics
    x, y, pred = labels_and_preds("valid", False)
    wrong = (pred != y).any(1)
    res["valid_trajectories_with_an_error"] = int(wrong.sum())
    xs = x[wrong]
    with torch.no_grad():
        for steps in (1, cfg.prediction_steps):
            sse = {}
            for name, lab in (("inferred", pred[wrong]), ("true", y[wrong])):
                z = F.one_hot(lab, model.edge_types).float()
                sse[name] = ((model.decoder(xs, z, steps) - xs[:, :, 1:]) ** 2).sum((1, 2, 3))
            res[f"sse_inferred_graph_{steps}step"] = float(sse["inferred"].mean())
            res[f"sse_true_graph_{steps}step"] = float(sse["true"].mean())
            res[f"true_graph_better_frac_{steps}step"] = float((sse["true"] < sse["inferred"]).float().mean())
    return res


def main(argv: list[str] | None = None) -> int:
    """Runs (or re-reads) each system's recipe and prints the table with ratios; writes its rows (or, with
    --diagnose, the diagnostics as one row) as CSV."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke recipe on springs only")
    p.add_argument("--recipe", default="reduced", choices=("smoke", "reduced", "full"))
    p.add_argument("--systems", default="springs,charged,kuramoto,ic")
    p.add_argument("--device", default=None, help="override the configs' device (cpu, cuda...)")
    p.add_argument("--epochs", type=int, default=None, help="override the configs' epochs")
    p.add_argument("--reuse", action="store_true", help="use an existing results.json instead of training")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--diagnose", default=None, metavar="CHECKPOINT",
                   help="print encoder-vs-decoder diagnostics of a trained single-layer NRI run and exit")
    add_csv_argument(p, "nri")
    args = p.parse_args(argv)
    table = CSVRows(csv_path(args, "nri"))
    if args.diagnose:
        import torch

        torch.set_num_threads(args.threads or 1)
        print(f"# NRI diagnostics of {args.diagnose}; machine: {machine()}")
        res = diagnose(args.diagnose)
        for key, value in res.items():
            print(f"{key}: {value:.4g}")
        table.add({"checkpoint": args.diagnose, **res})
        table.save()
        return 0
    if args.quick:
        args.recipe, args.systems = "smoke", "springs"

    import torch

    from gncontrol.nri.baselines import correlation_baseline
    from gncontrol.nri.dataset import load_nri_split
    from gncontrol.nri.training import load_config, train_nri

    if args.threads:
        torch.set_num_threads(args.threads)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    bad = [s for s in systems if s not in SYSTEM_RUNS]
    if bad:
        p.error(f"unknown systems {bad}; choose from {sorted(SYSTEM_RUNS)}")
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"# NRI benchmark: recipe={args.recipe} systems={systems} date={date}")
    print(f"# machine: {machine()}")
    rows = []
    for system in systems:
        for name in SYSTEM_RUNS[system]:
            cfg_path = ROOT / "configs" / "nri" / f"{name}_{args.recipe}.json"
            cfg = load_config(cfg_path, device=args.device, epochs=args.epochs, threads=args.threads)
            print(f"# {name}: config {cfg_path.relative_to(ROOT)} -> {json.dumps(cfg.__dict__)}")
            data = Path(cfg.data) if Path(cfg.data).is_absolute() else ROOT / cfg.data
            cfg.data = str(data)
            cfg.out_dir = str(ROOT / cfg.out_dir) if not Path(cfg.out_dir).is_absolute() else cfg.out_dir
            data_time = _ensure_data(data, system, args.recipe)
            res_path = Path(cfg.out_dir) / "results.json"
            if args.reuse and res_path.is_file():
                res = json.loads(res_path.read_text())
            else:
                res = train_nri(cfg, progress=sys.stderr.isatty())
            test = res["test"]
            row = {"name": name, "train_time_s": res["train_time_s"], "data_time_s": data_time,
                   "epochs": res["config"]["epochs"], "best_epoch": res["best_epoch"], "n_train": res["n_train"],
                   "acc": test.get("acc_combined"), "layers": [test.get(f"acc_layer{a}") for a in range(2)],
                   "mse": test.get("mse_horizon"), "static": test.get("static_mse_horizon"),
                   "wmse": test.get("window_mse"), "static_wmse": test.get("static_window_mse")}
            if system != "ic":
                fit = load_nri_split(data, "valid")
                te = load_nri_split(data, "test")
                row["corr"] = correlation_baseline(fit.features[:, :, :49], fit.edges[:, 0], te.features[:, :, :49],
                                                   te.edges[:, 0])["accuracy"]
            rows.append(row)

    print("\n| run | recipe | n_train | epochs (best) | train time | edge acc % | paper % | Corr.(path) % | "
          "acc / corr | MSE h1 / h10 / h20 | static h1 / h10 / h20 | MSE / static h10 | paper MSE h1 / h10 / h20 |")
    print("|" + "---|" * 13)
    for r in rows:
        pap = PAPER[r["name"]]
        acc = None if r["acc"] is None else 100 * r["acc"]
        corr = r.get("corr")
        if r["mse"]:
            mse = " / ".join(_fmt(r["mse"][h]) for h in (0, 9, 19))
            st = " / ".join(_fmt(r["static"][h]) for h in (0, 9, 19))
            ratio = _fmt(r["mse"][9] / r["static"][9])
        else:
            mse = st = ratio = "-"
        if r["name"] in ("fnri_ic", "nri_k4_ic") and r["wmse"]:
            mse = "window " + " / ".join(_fmt(r["wmse"][k]) for k in ("1", "10", "20"))
            st = "window " + " / ".join(_fmt(r["static_wmse"][k]) for k in ("1", "10", "20"))
            ratio = _fmt(r["wmse"]["10"] / r["static_wmse"]["10"])
            paper_mse = "window " + " / ".join(_fmt(v) for v in pap["wmse"])
            acc_s = (f"{acc:.1f} (I {100 * r['layers'][0]:.1f}, C {100 * r['layers'][1]:.1f})"
                     if acc is not None else "-")
            paper_acc = f"{pap['acc']} (I {pap['layers'][0]}, C {pap['layers'][1]})"
        else:
            paper_mse = " / ".join(_fmt(v) for v in pap["mse"])
            acc_s = "-" if acc is None else f"{acc:.1f}"
            paper_acc = str(pap["acc"])
        corr_s = "-" if corr is None else f"{100 * corr:.1f}"
        ratio_acc = "-" if corr is None or acc is None else f"{acc / (100 * corr):.2f}"
        print(f"| {r['name']} | {args.recipe} | {r['n_train']} | {r['epochs']} ({r['best_epoch']}) | "
              f"{r['train_time_s'] / 60:.1f} min | {acc_s} | {paper_acc} | {corr_s} | {ratio_acc} | {mse} | {st} | "
              f"{ratio} | {paper_mse} |")
        table.add(csv_row(r, args.recipe))
    table.save()
    return 0


def csv_row(r: dict, recipe: str) -> dict:
    """The CSV row of one run's table row: its cells as separate numbers (percentages; MSEs at h1 / h10 / h20, the
    window MSEs for the I+C runs as the table shows them), blank where the table prints '-'."""
    pap = PAPER[r["name"]]
    window = r["name"] in ("fnri_ic", "nri_k4_ic") and bool(r["wmse"])

    def pct(x: float | None):
        return "" if x is None else 100 * x

    blank = ["", "", ""]
    if window:
        mse, static = [r["wmse"][k] for k in ("1", "10", "20")], [r["static_wmse"][k] for k in ("1", "10", "20")]
    elif r["mse"]:
        mse, static = [r["mse"][h] for h in (0, 9, 19)], [r["static"][h] for h in (0, 9, 19)]
    else:
        mse = static = blank
    paper = pap["wmse"] if window else pap.get("mse", blank)
    row = {"run": r["name"], "recipe": recipe, "n_train": r["n_train"], "epochs": r["epochs"],
           "best_epoch": r["best_epoch"], "train_time_s": r["train_time_s"], "data_time_s": r["data_time_s"],
           "edge_acc_pct": pct(r["acc"]), "acc_layer0_pct": pct(r["layers"][0]), "acc_layer1_pct": pct(r["layers"][1]),
           "paper_acc_pct": pap["acc"], "corr_pct": pct(r.get("corr")),
           "acc_over_corr": "" if r.get("corr") is None or r["acc"] is None else r["acc"] / r["corr"],
           "mse_kind": "window" if window else "horizon"}
    for h, m, st, pm in zip((1, 10, 20), mse, static, paper):
        row.update({f"mse_h{h}": m, f"static_h{h}": st, f"paper_mse_h{h}": pm})
    row["mse_over_static_h10"] = "" if mse is blank else mse[1] / static[1]
    return row

if __name__ == "__main__":
    sys.exit(main())
