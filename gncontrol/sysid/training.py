"""Joint end-to-end training of the system-ID encoder and its GN forward model.

Each step draws, per system, B episodes (each episode = one randomised system); from each a
window of W steps starting anywhere (the encoder's input) and K transitions anywhere else
in the same episode (the forward model's one-step targets, read with the window's latent), or
with `horizon` H > 1, K starts of H-step sequences (an H-step rollout loss through the model's
own predictions: long-rollout errors reveal wrong parameters far more than one step does).
The step loop (learning-rate decay, input noise, per-step generators for exact resume,
validation, checkpoints, Ctrl-C) is gncontrol.forward.training.run_training_steps, shared with the
forward models.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from gncontrol.checkpoints import load_checkpoint, save_checkpoint
from gncontrol.errors import InputError
from gncontrol.forward.training import TrainConfig, prepare_training, run_training_steps, seed_input_noise
from gncontrol.forward.transitions import SystemTrajectories
from gncontrol.run_guard import RunGuard
from gncontrol.sysid.model import IdentificationWindow, SystemIDConfig, SystemIDModel, identify
from gncontrol.system_signature import signature_of
from gncontrol.systems import GraphSystem

__all__ = ["SysIDBatch", "sample_sysid_batch", "windows_of", "mean_latent", "train_system_id",
           "load_system_id_model", "CHECKPOINT_KIND"]

CHECKPOINT_KIND = "system_id_model"


@dataclasses.dataclass
class SysIDBatch:
    """Windows [B] of one system and the K transitions per window (B*K graphs, grouped by window).

    One-step: action [B*K, A], next_nodes [N_total, 13]; H-step: action [B*K, H, A], next_nodes [H, N_total, 13].
    """

    window: IdentificationWindow
    state: object
    action: torch.Tensor
    next_nodes: torch.Tensor
    system: object
    targets_per_window: int

    def to(self, device) -> SysIDBatch:
        """The batch on `device`."""
        return SysIDBatch(self.window.to(device), self.state.to(device), self.action.to(device),
                          self.next_nodes.to(device), self.system.to(device), self.targets_per_window)


def windows_of(data: SystemTrajectories, episodes: torch.Tensor, starts: torch.Tensor,
               length: int) -> IdentificationWindow:
    """Windows of `length` steps from (episode, start) index tensors [B] of one system's data."""
    if length < 1 or length > data.episode_length:
        raise InputError(f"window length {length} must be in [1, {data.episode_length}]")
    if (starts < 0).any() or (starts + length > data.episode_length).any():
        raise InputError(f"window starts must be in [0, {data.episode_length - length}]")
    offs = torch.arange(length + 1)
    t = starts[:, None] + offs[None]
    states = data.states[episodes[:, None], t]
    actions = data.actions[episodes[:, None], t[:, :-1]]
    return IdentificationWindow(states, actions, data.system(episodes))


def mean_latent(model: SystemIDModel, data: SystemTrajectories, window: int, count: int = 256,
                seed: int = 0) -> GraphSystem:
    """The identified latent averaged over `count` random windows of `window` steps of `data` (one graph:
    nodes [N, Lv], edges [E, Le], globals [1, Lu]): a prior for planning before a new system's own motion
    has filled a window, the encoder's "a system from the training distribution"."""
    if count < 1:
        raise InputError(f"count must be >= 1, got {count}")
    gen = torch.Generator().manual_seed(seed)
    episodes = torch.randint(0, data.num_episodes, (count,), generator=gen)
    starts = torch.randint(0, data.episode_length - window + 1, (count,), generator=gen)
    latent = identify(model, windows_of(data, episodes, starts, window)).static
    one = data.system(episodes[:1])

    def mean(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(count, -1, x.shape[-1]).mean(0)

    static = one.static.replace(nodes=mean(latent.nodes), edges=mean(latent.edges),
                                globals=latent.globals.mean(0, keepdim=True))
    return GraphSystem(static, one.edge_actuator, one.action_dim)


def sample_sysid_batch(data: SystemTrajectories, windows: int, targets: int, window: int,
                       generator: torch.Generator, horizon: int = 1) -> SysIDBatch:
    """B=`windows` random windows of one system and `targets` random transitions (or H-step
    sequences, `horizon` H > 1) per window's episode."""
    if horizon < 1 or horizon > data.episode_length:
        raise InputError(f"horizon {horizon} must be in [1, {data.episode_length}]")
    ep = torch.randint(0, data.num_episodes, (windows,), generator=generator)
    start = torch.randint(0, data.episode_length - window + 1, (windows,), generator=generator)
    w = windows_of(data, ep, start, window)
    ep_t = ep.repeat_interleave(targets)
    t = torch.randint(0, data.episode_length - horizon + 1, (windows * targets,), generator=generator)
    tb = data.transitions(ep_t, t)
    if horizon == 1:
        return SysIDBatch(w, tb.state, tb.action, tb.next_nodes, tb.system, targets)
    steps = t[:, None] + torch.arange(horizon)[None]  # [B*K, H]
    actions = data.actions[ep_t[:, None], steps]  # [B*K, H, A]
    nxt = data.states[ep_t[:, None], steps + 1]  # [B*K, H, N, 13]
    nxt = nxt.transpose(0, 1).reshape(horizon, -1, nxt.shape[-1])  # [H, B*K*N, 13]
    return SysIDBatch(w, tb.state, actions, nxt, tb.system, targets)


def validation_loss(model: SystemIDModel, systems: list[SystemTrajectories], window: int, device,
                    seed: int = 12345) -> float:
    """Mean one-step loss (no noise) on a fixed sample of windows/targets of held-out episodes."""
    model.eval()
    total = 0.0
    with torch.no_grad():
        for k, data in enumerate(systems):
            b = sample_sysid_batch(data, 32, 8, window, torch.Generator().manual_seed(seed + k)).to(device)
            total += model.loss(b.window, b.state, b.action, b.next_nodes, b.system, b.targets_per_window).item()
    model.train()
    return total / max(1, len(systems))


def train_system_id(model_config: SystemIDConfig, train_sets: list[SystemTrajectories],
                    val_sets: list[SystemTrajectories], config: TrainConfig, out_dir: str | Path,
                    targets_per_window: int = 8, device: str | torch.device = "cpu", resume: bool = False,
                    stop_after: int | None = None, progress: bool = True,
                    metadata: dict | None = None, horizon: int = 1) -> SystemIDModel:
    """Trains (or resumes) encoder + forward model jointly; writes out_dir/model.pt and TensorBoard logs.

    Per step and system: batch_size // targets_per_window windows of `model_config.window`
    steps, each with `targets_per_window` one-step targets from its own episode (so one step
    sees batch_size transitions per system, as a forward model trained with the same
    batch_size). Systems of different topology are summed into one loss. `horizon` H > 1:
    each target is an H-step sequence and the loss the mean error of an H-step rollout
    (H times the forward-model work per step; the validation loss stays one-step).
    """
    if targets_per_window < 1 or config.batch_size < targets_per_window:
        raise InputError(f"need 1 <= targets_per_window ({targets_per_window}) <= batch_size "
                         f"({config.batch_size})")
    device = torch.device(device)
    out_dir = Path(out_dir)
    ckpt = out_dir / "model.pt"
    n_windows = config.batch_size // targets_per_window
    torch.manual_seed(config.seed)
    model = SystemIDModel(model_config)
    optimiser, start = prepare_training(model, train_sets, config, ckpt, CHECKPOINT_KIND, device, resume)

    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out_dir / "tb"), purge_step=start if start else None)

    guard = RunGuard(ckpt, start or None, device, config.steps,
                     hint=f"a lower --lr (now {config.lr:g}) may help")

    def save(step: int) -> None:
        guard.check_weights(model.state_dict(), step)  # never save NaN weights over a good checkpoint
        save_checkpoint(ckpt, CHECKPOINT_KIND, {
            "model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step,
            "model_config": dataclasses.asdict(model_config), "train_config": dataclasses.asdict(config),
            "targets_per_window": targets_per_window, "horizon": horizon, "systems": [s.name for s in train_sets],
            "system_signatures": [{"name": s.name, **signature_of(s)} for s in train_sets],
            "metadata": metadata or {}})
        guard.saved = step

    def step_loss(gen: torch.Generator) -> torch.Tensor:
        batches = [sample_sysid_batch(d, n_windows, targets_per_window, model_config.window, gen,
                                      horizon).to(device) for d in train_sets]
        seed_input_noise(gen)
        return sum(model(b.window, b.state, b.action, b.next_nodes, b.system, b.targets_per_window,
                         config.noise_std) for b in batches) / len(batches)

    end = config.steps if stop_after is None else min(stop_after, config.steps)
    run_training_steps(config, start, end, step_loss=step_loss, optimiser=optimiser,
                       parameters=list(model.parameters()),
                       guard=guard, save=save, writer=writer,
                       validate=(lambda: validation_loss(model, val_sets, model_config.window, device))
                       if val_sets else None, desc="train system-ID", progress=progress)
    return model


def load_system_id_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[SystemIDModel, dict]:
    """Rebuilds a trained system-ID model from its checkpoint; returns (model in eval mode, record)."""
    record = load_checkpoint(path, CHECKPOINT_KIND)
    cfg = dict(record["model_config"])
    cfg.setdefault("positions", "legacy")  # written before translation invariance was fixed
    for k in ("latent_sizes", "encoder_mlp", "forward_hidden"):
        cfg[k] = tuple(cfg[k])
    model = SystemIDModel(SystemIDConfig(**cfg))
    model.load_state_dict(record["model"])
    return model.to(device).eval(), record
