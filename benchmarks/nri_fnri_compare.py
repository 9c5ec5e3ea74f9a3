"""fNRI vs NRI K=4 on I+C: per-epoch per-layer accuracies of finished runs, and a decoder check.

    python -m benchmarks.nri_fnri_compare --runs runs/cmp/fnri_s42 runs/cmp/nri_s42   # per-epoch table
    python -m benchmarks.nri_fnri_compare --diagnose runs/cmp/fnri_s42/best.pt       # decoder check

`--runs` reads each run's results.json (or last.pt while it trains) and prints the validation
combined / layer-0 (I) / layer-1 (C) accuracy and 10-step NLL of every epoch, the parameter
counts and the test accuracies.

`--diagnose` asks whether a multiplex run's decoder learned edge types that mean the true
interactions: on the validation set it prints the confusion matrix of combined labels
(predicted vs true, mixed radix 2*spring + charge), then the decoder's next-window 10-step NLL
(the training loss without KL) with (a) the inferred hard graph, (b) the TRUE graph written in
the model's labels through the accuracy's best relabelling, (c) the true graph through the best
of all 4! relabellings for the decoder, and (d) a constant graph. If (b)/(c) is far below (a),
the decoder knows the physical edge types and the encoder is what lags; if (b)/(c) is no better
than (a), the decoder has learned types that are not the true interactions.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from benchmarks.common import CSVRows, add_csv_argument, csv_path

ROOT = Path(__file__).resolve().parents[1]


def _history(run: Path) -> tuple[dict, list[dict], dict | None]:
    import torch

    res = run / "results.json"
    if res.is_file():
        r = json.loads(res.read_text())
        return r["config"], r["history"], r
    ck = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    return ck["config"], ck["history"], None


def print_runs(runs: list[str], table: CSVRows) -> None:
    """Prints (and adds to `table`) each run's per-epoch validation accuracies and NLL, then its test numbers."""
    from gncontrol.nri.model import count_parameters
    from gncontrol.nri.training import NRIConfig, build_model

    for run in map(Path, runs):
        cfg, hist, res = _history(run)
        model = build_model(NRIConfig(**cfg))
        about = {"run": str(run), "model": cfg["model"], "hidden": cfg["hidden"], "seed": cfg["seed"],
                 "params_encoder": count_parameters(model.encoder), "params_decoder": count_parameters(model.decoder),
                 "params_total": count_parameters(model)}
        print(f"## {run}  model={cfg['model']} hidden={cfg['hidden']} seed={cfg['seed']} "
              f"params enc/dec/total={about['params_encoder']}/{about['params_decoder']}/{about['params_total']}")
        print("epoch | valid comb % | I % | C % | valid nll | valid kl | time s")
        for h in hist:
            print(f"{h['epoch']} | {100 * h['valid_acc_combined']:.1f} | {100 * h['valid_acc_layer0']:.1f} | "
                  f"{100 * h['valid_acc_layer1']:.1f} | {h['valid_nll']:.0f} | {h['valid_kl']:.2f} | "
                  f"{h['time_s']:.0f}")
            table.add({**about, "split": "valid", "epoch": h["epoch"],
                       "acc_combined_pct": 100 * h["valid_acc_combined"], "acc_layer0_pct": 100 * h["valid_acc_layer0"],
                       "acc_layer1_pct": 100 * h["valid_acc_layer1"], "nll": h["valid_nll"], "kl": h["valid_kl"],
                       "time_s": h["time_s"]})
        if res is not None:
            t = res["test"]
            print(f"test (best epoch {res['best_epoch']}): comb {100 * t['acc_combined']:.1f} I "
                  f"{100 * t['acc_layer0']:.1f} C {100 * t['acc_layer1']:.1f}; window MSE "
                  f"{t.get('window_mse')}; train {res['train_time_s'] / 60:.1f} min")
            table.add({**about, "split": "test", "epoch": res["best_epoch"],
                       "acc_combined_pct": 100 * t["acc_combined"], "acc_layer0_pct": 100 * t["acc_layer0"],
                       "acc_layer1_pct": 100 * t["acc_layer1"], "time_s": res["train_time_s"],
                       **{f"window_mse_h{k}": v for k, v in (t.get("window_mse") or {}).items()}})


def diagnose(checkpoint: str, n: int | None = None) -> dict:
    """The decoder check of a multiplex run (module doc): confusion matrix, and the NLL with inferred, true and
    constant graphs."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from gncontrol.nri.dataset import load_nri_split
    from gncontrol.nri.metrics import best_permutation, combined_from_layers
    from gncontrol.nri.model import nll_gaussian
    from gncontrol.nri.training import _windows, load_trained

    cfg, model = load_trained(checkpoint)
    data = Path(cfg.data) if Path(cfg.data).is_absolute() else ROOT / cfg.data
    valid = load_nri_split(data, "valid", n)
    layers = valid.edges.transpose(1, 2).numpy()  # [S, E, L]
    true_comb = combined_from_layers(layers, [2] * layers.shape[-1])
    k = 2 ** layers.shape[-1]
    model.eval()
    x_enc, x_dec = _windows(cfg, valid.features)
    with torch.no_grad():
        logits = model.encoder(x_enc)
        z_inf, _ = model.latent(logits, hard=True)
        pred = model.edge_labels(logits).numpy()
    pred_comb = combined_from_layers(pred, cfg.layer_sizes) if pred.ndim == 3 else pred
    perm = best_permutation(pred_comb, true_comb, k)  # perm[pred] ~ true
    conf = np.zeros((k, k), dtype=np.int64)
    np.add.at(conf, (pred_comb.ravel(), true_comb.ravel()), 1)

    def z_of(model_labels: np.ndarray) -> torch.Tensor:
        lab = torch.from_numpy(model_labels)
        if cfg.model == "fnri":
            bits = [(lab // 2 ** (len(cfg.layer_sizes) - 1 - a)) % 2 for a in range(len(cfg.layer_sizes))]
            return torch.cat([F.one_hot(b, 2).float() for b in bits], -1)
        return F.one_hot(lab, k).float()

    def nll(z: torch.Tensor) -> float:
        with torch.no_grad():
            tot = 0.0
            for i in range(0, len(z), 128):
                xd = x_dec[i:i + 128]
                p = model.decode(xd, z[i:i + 128], cfg.prediction_steps)
                tot += float(nll_gaussian(p, xd[:, :, 1:], cfg.variance)) * len(xd)
            return tot / len(z)

    inv = np.argsort(perm)  # model label of each true label
    out = {"confusion_pred_rows_true_cols": conf.tolist(), "accuracy_perm": perm.tolist(),
           "nll_inferred": nll(z_inf), "nll_true_via_accuracy_perm": nll(z_of(inv[true_comb]))}
    best = min(((nll(z_of(np.asarray(p)[true_comb])), p) for p in itertools.permutations(range(k))),
               key=lambda t: t[0])
    out["nll_true_best_of_all_perms"], out["best_decoder_perm"] = best[0], list(best[1])
    out["nll_constant_graph"] = min(nll(z_of(np.full_like(true_comb, c))) for c in range(k))
    return out


def main(argv: list[str] | None = None) -> None:
    """Prints the per-epoch tables of --runs and the decoder checks of --diagnose; writes their rows as one CSV
    (per-epoch and test rows, then one row per diagnosed checkpoint)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="*", default=[])
    p.add_argument("--diagnose", nargs="*", default=[], metavar="CHECKPOINT")
    p.add_argument("--threads", type=int, default=1)
    add_csv_argument(p, "nri_fnri_compare")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    table = CSVRows(csv_path(args, "nri_fnri_compare"))
    if args.runs:
        print_runs(args.runs, table)
    for ck in args.diagnose:
        print(f"## diagnose {ck}")
        res = diagnose(ck)
        for key, value in res.items():
            print(f"{key}: {value}")
        table.add({"checkpoint": ck, **{k: json.dumps(v) if isinstance(v, list) else v for k, v in res.items()}})
    table.save()


if __name__ == "__main__":
    main()
