"""Training and evaluation of NRI / fNRI / sfNRI and the trained baselines.

Routines (`routine`):
    reconstruct  NRI's: encoder and decoder see the same 49-frame window; the decoder is
                 teacher-forced every M = prediction_steps frames.
    next_window  fNRI's: the encoder sees frames 0..48, the decoder predicts frames 50..97
                 from ground truth at 49 (teacher-forced every M), so the latent cannot
                 memorise the window it reconstructs.
Baselines (`baseline`): none, full_graph (decoder with one edge type on every edge),
true_graph (decoder on the ground-truth graph), supervised (encoder trained with
cross-entropy on the true edge labels). Static and correlation baselines need no training:
gncontrol.nri.baselines.

Progress: tqdm; logs: TensorBoard (`<out_dir>/tb`); checkpoints (gncontrol.checkpoints,
atomic): `<out_dir>/last.pt` every epoch (for --resume) and `<out_dir>/best.pt` on the best
validation NLL (NRI: 1-step; fNRI routine: 10-step) or accuracy (supervised).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gncontrol.checkpoints import atomic_write, load_checkpoint, save_checkpoint
from gncontrol.errors import InputError
from gncontrol.nri.baselines import static_mse_per_horizon, static_window_mse
from gncontrol.nri.dataset import load_nri_split, read_nri_attrs
from gncontrol.nri.fnri import FNRI, SFNRI, layer_offsets
from gncontrol.nri.metrics import (
    combined_from_layers,
    edge_accuracy,
    factorised_accuracy,
    mse_per_horizon,
    sigmoid_factor_accuracy,
    window_mse,
)
from gncontrol.nri.model import NRI, RNNDecoder, build_decoder, build_encoder, nll_gaussian
from gncontrol.run_guard import NonFiniteLossError, RunGuard, deferred_interrupt

__all__ = ["NRIConfig", "load_config", "build_model", "train_nri", "evaluate_nri"]

_KIND = "nri_model"


@dataclass
class NRIConfig:
    """Everything a run needs; the published defaults (Kipf et al. 2018, their code)."""

    data: str = "data/springs5.h5"
    out_dir: str = "runs/nri"
    model: str = "nri"  # nri | fnri | sfnri
    baseline: str = "none"  # none | full_graph | true_graph | supervised
    encoder: str = "mlp"  # mlp | cnn
    decoder: str = "mlp"  # mlp | rnn
    hidden: int = 256
    edge_types: int = 2  # NRI's K
    layer_sizes: list[int] = field(default_factory=lambda: [2, 2])  # fNRI
    skip_first: bool = False
    prior: list[float] | None = None
    tau: float = 0.5
    variance: float = 5e-5
    dropout: float = 0.0
    routine: str = "reconstruct"  # reconstruct | next_window
    timesteps: int = 49
    prediction_steps: int = 10
    epochs: int = 500
    batch_size: int = 128
    lr: float = 5e-4
    lr_decay: int = 200
    gamma: float = 0.5
    lr_min: float = 0.0  # floor under the StepLR decay (0: none), for long reduced runs on a CPU
    lr_milestones: list[int] | None = None  # epochs after which lr *= gamma (MultiStepLR) instead of every lr_decay
    weight_decay: float = 0.0
    train_size: int | None = None
    valid_size: int | None = None
    test_size: int | None = None
    seed: int = 42
    device: str = "cpu"
    threads: int | None = None
    fnri_accuracy_batch: int = 128

    def __post_init__(self) -> None:
        checks = {"model": ("nri", "fnri", "sfnri"), "baseline": ("none", "full_graph", "true_graph", "supervised"),
                  "encoder": ("mlp", "cnn"), "decoder": ("mlp", "rnn"), "routine": ("reconstruct", "next_window")}
        for key, allowed in checks.items():
            if getattr(self, key) not in allowed:
                raise InputError(f"config {key}='{getattr(self, key)}' is not one of {allowed}")
        if self.epochs < 1 or self.batch_size < 1 or self.hidden < 1 or self.prediction_steps < 1:
            raise InputError("epochs, batch_size, hidden and prediction_steps must be >= 1")


def load_config(path: str | Path, **overrides: Any) -> NRIConfig:
    """Reads a JSON config (unknown keys are an error; keys starting with '_' are comments)."""
    raw = json.loads(Path(path).read_text())
    raw = {k: v for k, v in raw.items() if not k.startswith("_")}
    raw.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(NRIConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"unknown NRI config keys {unknown} in {path}")
    return NRIConfig(**raw)


def _n_latent(cfg: NRIConfig) -> int:
    if cfg.baseline == "full_graph":
        return 1
    if cfg.model == "fnri":
        return sum(cfg.layer_sizes)
    return cfg.edge_types


def build_model(cfg: NRIConfig, n_dims: int = 4) -> NRI:
    """The model a config describes (encoder absent for the fixed-graph baselines)."""
    k = _n_latent(cfg)
    if cfg.model == "fnri":
        skip = tuple(layer_offsets(cfg.layer_sizes)) if cfg.skip_first else ()
    else:
        skip = (0,) if cfg.skip_first and cfg.model == "nri" and cfg.baseline != "full_graph" else ()
    enc_steps = cfg.timesteps
    encoder = None if cfg.baseline in ("full_graph", "true_graph") else build_encoder(
        cfg.encoder, enc_steps, n_dims, cfg.hidden, k, cfg.dropout)
    decoder = build_decoder(cfg.decoder, n_dims, k, cfg.hidden, cfg.dropout, skip)
    if cfg.model == "fnri" and cfg.baseline != "full_graph":
        return FNRI(encoder, decoder, cfg.layer_sizes, cfg.tau, cfg.prior)
    if cfg.model == "sfnri" and cfg.baseline != "full_graph":
        if cfg.prior is not None:
            raise InputError("sfnri has no KL term, so it takes no prior (leave prior unset)")
        return SFNRI(encoder, decoder, k)
    return NRI(encoder, decoder, k, cfg.tau, cfg.prior)


def _targets(cfg: NRIConfig, edges: torch.Tensor) -> torch.Tensor:
    """True labels in the model's label space: [S, E] (NRI) or [S, E, L] (fNRI, sfNRI)."""
    layers = edges.transpose(1, 2)  # [S, E, L]
    if cfg.model == "nri":
        if layers.shape[-1] == 1:
            return layers[..., 0]
        sizes = [2] * layers.shape[-1]
        return torch.from_numpy(combined_from_layers(layers.numpy(), sizes))
    return layers


def _true_z(cfg: NRIConfig, model: NRI, labels: torch.Tensor) -> torch.Tensor:
    """The ground-truth graph as the decoder's z [B, E, K]."""
    if cfg.baseline == "full_graph":
        return torch.ones(*labels.shape[:2], 1, device=labels.device)
    if cfg.model == "nri":
        return F.one_hot(labels, model.edge_types).float()
    if cfg.model == "fnri":
        return torch.cat([F.one_hot(labels[..., a], k).float() for a, k in enumerate(cfg.layer_sizes)], -1)
    return labels.float()


def _windows(cfg: NRIConfig, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(encoder input, decoder input) for one batch x [B, N, T, D]."""
    t = cfg.timesteps
    if cfg.routine == "next_window":
        if x.shape[2] < 2 * t:
            raise InputError(f"next_window needs >= {2 * t} frames, the data has {x.shape[2]}")
        return x[:, :, :t], x[:, :, t:2 * t]
    return x[:, :, :t], x[:, :, :t]


def _score(cfg: NRIConfig, model: NRI, logits: torch.Tensor, labels: torch.Tensor,
           layer_labels: torch.Tensor) -> dict[str, float]:
    """Permutation-max accuracy; keys 'combined' and, for multiplex data, 'layer<a>'.

    labels: the model's label space ([S, E] or [S, E, L]); layer_labels [S, E, L] per-layer truth
    (NRI with K = 2^L on multiplex data is scored per layer through its combined labels).
    """
    pred = model.edge_labels(logits).cpu()
    if cfg.model == "fnri":
        return factorised_accuracy(pred, labels.cpu(), [2] * labels.shape[-1], cfg.layer_sizes,
                                   batch_size=cfg.fnri_accuracy_batch)
    if cfg.model == "sfnri":
        return sigmoid_factor_accuracy(pred, labels.cpu(), batch_size=cfg.fnri_accuracy_batch)
    if layer_labels.shape[-1] > 1:
        return factorised_accuracy(pred, layer_labels.cpu(), [2] * layer_labels.shape[-1],
                                   batch_size=cfg.fnri_accuracy_batch)
    k = max(model.edge_types, int(labels.max()) + 1)
    return {"combined": edge_accuracy(pred, labels.cpu(), k)}


def _batches(n: int, batch_size: int, gen: torch.Generator | None):
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def _step_loss(cfg: NRIConfig, model: NRI, x: torch.Tensor, labels: torch.Tensor, pred_steps: int,
               hard: bool) -> dict[str, torch.Tensor]:
    """Loss terms for one batch x [B, N, T, D] (training or evaluation)."""
    x_enc, x_dec = _windows(cfg, x)
    n = x.shape[1]
    out: dict[str, torch.Tensor] = {}
    if cfg.baseline == "supervised":
        logits = model.encoder(x_enc)
        if cfg.model == "sfnri":
            loss = F.binary_cross_entropy_with_logits(logits, labels.float())
        elif cfg.model == "fnri":
            parts = torch.split(logits, cfg.layer_sizes, dim=-1)
            loss = sum(F.cross_entropy(p.reshape(-1, p.shape[-1]), labels[..., a].reshape(-1))
                       for a, p in enumerate(parts))
        else:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        return {"loss": loss, "logits": logits}
    if cfg.baseline in ("full_graph", "true_graph"):
        z = _true_z(cfg, model, labels)
        preds = model.decode(x_dec, z, pred_steps)
        kl = preds.new_zeros(())
        logits = None
    else:
        logits = model.encoder(x_enc)
        z, probs = model.latent(logits, hard)
        preds = model.decode(x_dec, z, pred_steps)
        kl = model.kl(probs, n)
    target = x_dec[:, :, 1:]
    if cfg.model == "sfnri":
        nll = F.mse_loss(preds, target)
    else:
        nll = nll_gaussian(preds, target, cfg.variance)
    out.update(loss=nll + kl, nll=nll, kl=kl, mse=F.mse_loss(preds, target).detach())
    if logits is not None:
        out["logits"] = logits
    return out


@torch.no_grad()
def _validate(cfg: NRIConfig, model: NRI, feats: torch.Tensor, labels: torch.Tensor,
              layer_labels: torch.Tensor, device: torch.device) -> dict[str, float]:
    model.eval()
    steps = 1 if cfg.routine == "reconstruct" else cfg.prediction_steps
    tot: dict[str, float] = {}
    all_logits = []
    count = 0
    for idx in _batches(len(feats), cfg.batch_size, None):
        x, y = feats[idx].to(device), labels[idx].to(device)
        out = _step_loss(cfg, model, x, y, steps, hard=True)
        for key in ("loss", "nll", "kl", "mse"):
            if key in out:
                tot[key] = tot.get(key, 0.0) + float(out[key]) * len(idx)
        if "logits" in out:
            all_logits.append(out["logits"].cpu())
        count += len(idx)
    res = {k: v / count for k, v in tot.items()}
    if all_logits:
        res.update({f"acc_{k}": v for k, v in
                    _score(cfg, model, torch.cat(all_logits), labels, layer_labels).items()})
    return res


@torch.no_grad()
def evaluate_nri(cfg: NRIConfig, model: NRI, feats: torch.Tensor, labels: torch.Tensor, layers: torch.Tensor,
                 device: torch.device, horizons: int = 20) -> dict[str, Any]:
    """Test metrics (labels in the model's label space, layers [S, L, E]).

    Edge accuracy (hard samples), NRI per-horizon MSE (encoder on frames 0..48,
    decoder from ground-truth frame 49 for `horizons` steps), fNRI window MSE (steps 1/10/20,
    frames 49..97), with the static baseline's numbers from the same data."""
    model.eval()
    t = cfg.timesteps
    total_t = feats.shape[2]
    res: dict[str, Any] = {}
    logits_all, hor, win = [], None, {1: 0.0, 10: 0.0, 20: 0.0}
    n_seen = 0
    have_h = total_t >= t + horizons + 1
    have_w = total_t >= 2 * t
    for idx in _batches(len(feats), cfg.batch_size, None):
        x, y = feats[idx].to(device), labels[idx].to(device)
        x_enc = x[:, :, :t]
        if cfg.baseline == "supervised":
            logits_all.append(model.encoder(x_enc).cpu())
            n_seen += len(idx)
            continue
        if cfg.baseline in ("full_graph", "true_graph"):
            z = _true_z(cfg, model, y)
        else:
            logits = model.encoder(x_enc)
            logits_all.append(logits.cpu())
            z, _ = model.latent(logits, hard=True)
        if have_h:
            if isinstance(model.decoder, RNNDecoder):
                seg = x[:, :, :t + horizons + 1]
                preds = model.decoder(seg, z, burn_in_steps=t)[:, :, t:]
                tgt = seg[:, :, t + 1:]
            else:
                seg = x[:, :, t:t + horizons + 1]
                preds = model.decoder.rollout(seg[:, :, 0], z, horizons)
                tgt = seg[:, :, 1:]
            m = mse_per_horizon(preds, tgt).cpu() * len(idx)
            hor = m if hor is None else hor + m
        if have_w and not isinstance(model.decoder, RNNDecoder):
            seg = x[:, :, t:2 * t]
            for k in win:
                win[k] += window_mse(model.decoder(seg, z, k), seg[:, :, 1:]) * len(idx)
        n_seen += len(idx)
    if logits_all:
        res.update({f"acc_{k}": v for k, v in
                    _score(cfg, model, torch.cat(logits_all), labels, layers.transpose(1, 2)).items()})
    if hor is not None:
        res["mse_horizon"] = (hor / n_seen).tolist()
        res["static_mse_horizon"] = static_mse_per_horizon(feats, t, horizons).tolist()
    if have_w and n_seen and cfg.baseline != "supervised" and not isinstance(model.decoder, RNNDecoder):
        res["window_mse"] = {str(k): v / n_seen for k, v in win.items()}
        res["static_window_mse"] = {str(k): static_window_mse(feats[:, :, t:2 * t], k) for k in win}
    return res


def _floor_lr(opt: torch.optim.Optimizer, lr_min: float) -> None:
    """Keeps every learning rate at or above lr_min (StepLR is chainable, so the floor holds)."""
    for group in opt.param_groups:
        group["lr"] = max(group["lr"], lr_min)


def train_nri(cfg: NRIConfig, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Trains per `cfg`, checkpoints, evaluates the best model on the test split; returns results.

    The results (config, per-epoch validation, test metrics, run time) are also written
    atomically to `<out_dir>/results.json`.
    """
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    attrs = read_nri_attrs(cfg.data)
    train = load_nri_split(cfg.data, "train", cfg.train_size)
    valid = load_nri_split(cfg.data, "valid", cfg.valid_size)
    test = load_nri_split(cfg.data, "test", cfg.test_size)
    n_layers = train.edges.shape[1]
    if cfg.model in ("fnri", "sfnri") and n_layers == 1 and cfg.baseline != "full_graph":
        raise InputError(f"{cfg.model} needs a multiplex dataset (ic/icf), {cfg.data} has one label layer")
    if cfg.model == "fnri" and len(cfg.layer_sizes) != n_layers:
        raise InputError(f"layer_sizes {cfg.layer_sizes} do not match the data's {n_layers} layers")
    if cfg.model == "sfnri" and cfg.edge_types != n_layers:
        raise InputError(f"sfnri needs edge_types = {n_layers} factors for this data")
    if cfg.model == "nri" and n_layers > 1 and cfg.edge_types < 2 ** n_layers and cfg.baseline != "full_graph":
        raise InputError(f"NRI on {n_layers} layers needs edge_types >= {2 ** n_layers}")
    model = build_model(cfg, attrs["dims"]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.lr_milestones:
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=cfg.lr_milestones, gamma=cfg.gamma)
    else:
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_decay, gamma=cfg.gamma)
    y_train, y_valid, y_test = (_targets(cfg, s.edges) for s in (train, valid, test))
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start_epoch, best, history = 0, math.inf, []
    gen = torch.Generator().manual_seed(cfg.seed)
    if resume and (out_dir / "last.pt").is_file():
        ck = load_checkpoint(out_dir / "last.pt", kind=_KIND, map_location=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        start_epoch, best, history = ck["epoch"], ck["best"], ck["history"]
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
    _floor_lr(opt, cfg.lr_min)
    writer = SummaryWriter(str(out_dir / "tb"))
    supervised = cfg.baseline == "supervised"
    t0 = time.time() - (history[-1]["time_s"] if history else 0.0)  # cumulative over resumes
    bar = tqdm(range(start_epoch, cfg.epochs), desc=f"nri-train {cfg.model}/{cfg.baseline}", disable=not progress,
               initial=start_epoch, total=cfg.epochs)

    guard = RunGuard(out_dir / "last.pt", start_epoch or None, device, cfg.epochs, unit="epoch",
                     hint=f"a lower lr (now {cfg.lr:g}) may help")
    try:
        with deferred_interrupt() as interrupt_requested:
            for epoch in bar:
                model.train()
                sums: dict[str, float] = {}
                count = 0
                for idx in _batches(len(train.features), cfg.batch_size, gen):
                    x, y = train.features[idx].to(device), y_train[idx].to(device)
                    out = _step_loss(cfg, model, x, y, cfg.prediction_steps, hard=False)
                    guard.update(out["loss"], epoch + 1)
                    opt.zero_grad()
                    out["loss"].backward()
                    opt.step()
                    for key in ("loss", "nll", "kl", "mse"):
                        if key in out:
                            sums[key] = sums.get(key, 0.0) + float(out[key].detach()) * len(idx)
                    count += len(idx)
                    if interrupt_requested():  # mid-epoch: --resume restarts this epoch from last.pt
                        raise KeyboardInterrupt
                sched.step()
                _floor_lr(opt, cfg.lr_min)
                val = _validate(cfg, model, valid.features, y_valid, valid.edges.transpose(1, 2), device)
                rec = {"epoch": epoch + 1, **{f"train_{k}": v / count for k, v in sums.items()},
                       **{f"valid_{k}": v for k, v in val.items()}, "time_s": time.time() - t0}
                history.append(rec)
                for key, value in rec.items():
                    if key != "epoch":
                        writer.add_scalar(key, value, epoch + 1)
                guard.check_weights(model.state_dict(), epoch + 1)  # never save NaN weights
                score = -val.get("acc_combined", 0.0) if supervised else val["nll"]
                if score < best:
                    best = score
                    save_checkpoint(out_dir / "best.pt", _KIND, {"config": dataclasses.asdict(cfg),
                                                                 "model": model.state_dict(), "epoch": epoch + 1})
                save_checkpoint(out_dir / "last.pt", _KIND, {
                    "config": dataclasses.asdict(cfg), "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "epoch": epoch + 1, "best": best, "history": history,
                    "generator": gen.get_state(), "torch_rng": torch.get_rng_state()})
                guard.saved = epoch + 1
                bar.set_postfix({k: f"{v:.3g}" for k, v in val.items() if k in ("nll", "mse", "acc_combined")})
    except KeyboardInterrupt:
        bar.close()
        writer.close()
        guard.interrupted(guard.saved or 0, True, None)
        raise
    except NonFiniteLossError:
        writer.close()
        raise
    writer.close()
    train_time = time.time() - t0
    best_ck = load_checkpoint(out_dir / "best.pt", kind=_KIND, map_location=device)
    model.load_state_dict(best_ck["model"])
    test_res = evaluate_nri(cfg, model, test.features, y_test, test.edges, device)
    results = {"config": dataclasses.asdict(cfg), "system": attrs["system"], "best_epoch": best_ck["epoch"],
               "train_time_s": train_time, "history": history, "test": test_res,
               "n_train": len(train.features), "torch": torch.__version__, "device": str(device)}
    atomic_write(out_dir / "results.json", lambda tmp: Path(tmp).write_text(json.dumps(results, indent=1)))
    return results


def load_trained(path: str | Path, device: str | torch.device = "cpu") -> tuple[NRIConfig, nn.Module]:
    """(config, model) from a `best.pt` / `last.pt` checkpoint written by train_nri."""
    ck = load_checkpoint(path, kind=_KIND, map_location=device)
    cfg = NRIConfig(**ck["config"])
    model = build_model(cfg).to(device)
    model.load_state_dict(ck["model"])
    return cfg, model
