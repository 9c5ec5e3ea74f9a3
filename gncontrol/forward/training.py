"""Training loop for graph forward models: Adam, exponential LR decay, input noise, tqdm,
TensorBoard, periodic validation, atomic checkpoints, exact `--resume`, and data-parallel
training over processes through torch.distributed (gloo on CPU, NCCL on GPUs).

Exact resume: each step draws its batch and noise from generators seeded by (seed, step,
rank), so a run restarted from the checkpoint of step k replays steps k+1.. exactly as an
uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm import tqdm

from gncontrol.checkpoints import load_checkpoint, save_checkpoint
from gncontrol.errors import InputError, check_at_least_one
from gncontrol.forward.balance import system_weights
from gncontrol.forward.graph_forward import ForwardModelConfig, GraphForwardModel, build_forward_model
from gncontrol.forward.transitions import (
    SystemTrajectories,
    sample_batch,
    sample_rollout_windows,
    sample_sequences,
)
from gncontrol.run_guard import RunGuard, deferred_interrupt
from gncontrol.system_signature import signature_of

__all__ = ["TrainConfig", "lr_at", "step_generator", "seed_input_noise", "run_training_steps", "restore",
           "optimiser_to", "prepare_training", "train_forward_model", "save_forward_model", "load_forward_model",
           "fit_model_normalisers", "distributed_context"]

CHECKPOINT_KIND = "forward_model"


@dataclasses.dataclass
class TrainConfig:
    """Optimisation settings (the paper leaves these open; defaults follow reimplementations)."""

    steps: int = 20_000
    batch_size: int = 128
    lr: float = 1e-3
    lr_final: float = 1e-5  # exponential decay from lr to lr_final over `steps`
    noise_std: float = 0.02  # input noise, in normalised state units
    val_every: int = 1000
    checkpoint_every: int = 1000
    seed: int = 0
    grad_clip: float = 1.0
    # recurrent models: train on windows of this many consecutive transitions (truncated BPTT),
    # the first `burn_in` of them only warming up the hidden state; 1 = single transitions
    sequence_length: int = 1
    burn_in: int = 0
    # several systems: weigh each system's squared errors by its own delta variance and node share
    # (gncontrol.forward.balance), so each counts as in its single-system model's loss
    balance_systems: bool = False
    # feed-forward models: > 1 trains on the loss of the model's own H-step rollout over windows of
    # this many consecutive transitions (GraphForwardModel.rollout_loss), so it learns to correct the
    # drift a planner's rollout meets; batch_size windows of H steps per step (so a step costs about H
    # one-step steps); 1 = the one-step loss
    rollout_steps: int = 1


def distributed_context() -> tuple[int, int]:
    """(rank, world size); initialises torch.distributed when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@torch.no_grad()
def fit_model_normalisers(model: GraphForwardModel, systems: list[SystemTrajectories],
                          samples: int = 4096, seed: int = 0) -> None:
    """Fits the model's normalisers on a fixed random sample of training transitions."""
    g = torch.Generator().manual_seed(seed)
    b = sample_batch(systems, samples, g)
    model.fit_normalisers(b.state.nodes[None, :, :13], b.next_nodes[None, :, :13], b.system,
                          b.action[None])


def lr_at(config: TrainConfig, step: int) -> float:
    """The learning rate at `step`: exponential decay from config.lr to config.lr_final."""
    return config.lr * (config.lr_final / config.lr) ** (step / max(1, config.steps))


def step_generator(config: TrainConfig, step: int, rank: int) -> torch.Generator:
    """The generator of one training step's batch and noise, seeded by (seed, step, rank): exact resume."""
    return torch.Generator().manual_seed(config.seed * 1_000_003 + step * 4099 + rank)


def seed_input_noise(gen: torch.Generator) -> None:
    """Seeds torch's global generator (the models' input noise) from one step's generator: exact resume."""
    torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))


def run_training_steps(config: TrainConfig, start: int, end: int, *,
                       step_loss: Callable[[torch.Generator], torch.Tensor], optimiser: torch.optim.Optimizer,
                       parameters: Any, guard: RunGuard, save: Callable[[int], None], writer: Any = None,
                       validate: Callable[[], float] | None = None, desc: str = "train", progress: bool = True,
                       rank: int = 0) -> None:
    """Steps start..end-1 of a run, the loop every trainer shares: the LR schedule (`lr_at`),
    `step_loss(step_generator(config, step, rank))`, a guarded optimiser step, loss and LR to
    TensorBoard every 50 steps, `validate()` every config.val_every steps, `save(step)` every
    config.checkpoint_every steps and at the end, and on Ctrl-C the last completed step saved.

    Logging and validation happen where `writer` is given (rank 0); `validate` may be None.
    """
    bar = tqdm(range(start, end), initial=start, total=config.steps, desc=desc,
               disable=not progress or rank != 0, dynamic_ncols=True)
    done = start
    try:
        with deferred_interrupt() as interrupt_requested:
            for step in bar:
                for group in optimiser.param_groups:
                    group["lr"] = lr_at(config, step)
                loss = step_loss(step_generator(config, step, rank))
                guard.optimise(loss, step + 1, optimiser, parameters, config.grad_clip)
                done = step + 1
                if writer is not None:
                    if done % 50 == 0 or done == end:
                        guard.check()
                        writer.add_scalar("train/loss", loss.item(), done)
                        writer.add_scalar("train/lr", lr_at(config, step), done)
                        bar.set_postfix(loss=f"{loss.item():.4f}")
                    if validate is not None and (done % config.val_every == 0 or done == config.steps):
                        writer.add_scalar("val/one_step_loss", validate(), done)
                if done % config.checkpoint_every == 0 or done == end:
                    save(done)
                if interrupt_requested():
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        bar.close()
        if rank == 0:
            guard.interrupted(done, not guard.updating, save)
        raise
    finally:
        if writer is not None:
            writer.flush()
            writer.close()


RESUME_MUST_MATCH = ("batch_size", "lr", "lr_final", "noise_std", "seed", "grad_clip", "sequence_length",
                     "burn_in", "balance_systems", "rollout_steps")  # --steps may grow


def check_resume(record: dict, model: torch.nn.Module, config: TrainConfig | None,
                 train_sets: list[SystemTrajectories] | None, path: Path) -> None:
    """Refuses (one line listing what differs) to resume a checkpoint with another model, recipe or data.

    Why: a --resume with --latent 32 over a latent-16 checkpoint died in a size-mismatch traceback,
    and a pendulum checkpoint resumed on cartpole data trained on silently.
    """
    def plain(x):
        return [plain(v) for v in x] if isinstance(x, list | tuple) else x

    differ = []
    saved = record.get("model_config", {})
    if hasattr(model, "config") and dataclasses.is_dataclass(model.config):
        now = dataclasses.asdict(model.config)
        differ += [f"{k} {plain(saved.get(k))!r} -> {plain(v)!r}" for k, v in now.items()
                   if k in saved and plain(saved[k]) != plain(v)]
    if config is not None and "train_config" in record:
        tc = record["train_config"]
        differ += [f"{k} {tc[k]!r} -> {getattr(config, k)!r}" for k in RESUME_MUST_MATCH
                   if k in tc and tc[k] != getattr(config, k)]
    if train_sets is not None:
        sigs = record.get("system_signatures")
        had = [f"{x['name']} {x['digest']}" for x in sigs] if sigs else list(record.get("systems", []))
        now_sets = [f"{x.name} {signature_of(x)['digest']}" if sigs else x.name for x in train_sets]
        if had != now_sets:
            differ.append(f"data {[h.split()[0] for h in had]} -> {[n.split()[0] for n in now_sets]}"
                          + (" (same names, other systems)" if [h.split()[0] for h in had]
                             == [n.split()[0] for n in now_sets] else ""))
    if differ:
        raise InputError(f"--resume: {path} was trained with other options or data ({'; '.join(differ)}): "
                         "resume with the checkpoint's options, or --overwrite to start fresh")


def restore(model: torch.nn.Module, optimiser: torch.optim.Optimizer, path: Path, kind: str,
            config: TrainConfig | None = None, train_sets: list[SystemTrajectories] | None = None) -> int | None:
    """Loads model and optimiser state from the checkpoint at `path`; its step, or None if absent.

    With `config` / `train_sets`, first checks that they match the checkpoint's (`check_resume`).
    """
    if not Path(path).exists():
        return None
    record = load_checkpoint(path, kind)
    check_resume(record, model, config, train_sets, Path(path))
    model.load_state_dict(record["model"])
    optimiser.load_state_dict(record["optimiser"])
    return int(record["step"])


def optimiser_to(optimiser: torch.optim.Optimizer, device: torch.device) -> None:
    """Moves the optimiser's state tensors (Adam moments) to `device` after a CPU load."""
    for state in optimiser.state.values():
        for k, v in state.items():
            if torch.is_tensor(v) and k != "step":
                state[k] = v.to(device)


def prepare_training(model: torch.nn.Module, train_sets: list[SystemTrajectories], config: TrainConfig,
                     ckpt_path: Path, kind: str, device: torch.device,
                     resume: bool) -> tuple[torch.optim.Optimizer, int]:
    """Adam for `model`, resumed from `ckpt_path` (if `resume` and it exists) or with the model's
    normalisers fitted on the training data; model and optimiser moved to `device`.

    Returns (optimiser, first step). Shared by every trainer so resume behaves the same in all.
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    start = restore(model, optimiser, ckpt_path, kind, config, train_sets) if resume else None
    if start is None:
        fit_model_normalisers(model, train_sets, seed=config.seed)
        start = 0
    model.to(device)
    optimiser_to(optimiser, device)
    return optimiser, start


def validation_loss(model: GraphForwardModel, systems: list[SystemTrajectories], device,
                    batch_size: int = 512, seed: int = 12345) -> float:
    """Mean one-step normalised loss (no noise) on a fixed sample of validation transitions."""
    model.eval()
    with torch.no_grad():
        b = sample_batch(systems, batch_size, torch.Generator().manual_seed(seed))
        loss = model.loss(b.state.to(device), b.action.to(device), b.next_nodes.to(device),
                          b.system.to(device)).item()
    model.train()
    return loss


def train_forward_model(model_config: ForwardModelConfig, train_sets: list[SystemTrajectories],
                        val_sets: list[SystemTrajectories], config: TrainConfig, out_dir: str | Path,
                        device: str | torch.device = "cpu", resume: bool = False,
                        stop_after: int | None = None, progress: bool = True,
                        metadata: dict | None = None) -> GraphForwardModel:
    """Trains (or resumes) a forward model; writes out_dir/model.pt and TensorBoard logs.

    `stop_after` ends the run early at that step (after checkpointing), as an interrupted run
    would: tests use it to check that resuming reproduces an uninterrupted run.
    """
    rank, world = distributed_context()
    device = torch.device(device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", rank % torch.cuda.device_count())
    out_dir = Path(out_dir)
    ckpt_path = out_dir / "model.pt"

    torch.manual_seed(config.seed)
    model = build_forward_model(model_config)  # weights depend on the seed alone
    optimiser, start = prepare_training(model, train_sets, config, ckpt_path, CHECKPOINT_KIND, device, resume)
    wrapped = model
    if world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=model_config.kind == "recurrent")

    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out_dir / "tb"), purge_step=start if start else None)

    guard = RunGuard(ckpt_path, start or None, device, config.steps,
                     hint=f"a lower --lr (now {config.lr:g}) or a tighter grad_clip may help")

    def save(step: int) -> None:
        if rank != 0:
            return
        guard.check_weights(model.state_dict(), step)  # never save NaN weights over a good checkpoint
        save_checkpoint(ckpt_path, CHECKPOINT_KIND, {
            "model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step,
            "model_config": dataclasses.asdict(model_config), "train_config": dataclasses.asdict(config),
            "systems": [s.name for s in train_sets], "metadata": metadata or {},
            "system_signatures": [{"name": s.name, **signature_of(s)} for s in train_sets],
        })
        guard.saved = step

    sequences = config.sequence_length > 1
    if sequences and model_config.kind != "recurrent":
        raise InputError(f"sequence_length {config.sequence_length} trains a recurrent model's hidden state; "
                         f"a '{model_config.kind}' model has none: use sequence_length 1")
    if not 0 <= config.burn_in < config.sequence_length:
        raise InputError(f"burn_in must be in [0, sequence_length={config.sequence_length}), got {config.burn_in}")
    check_at_least_one(rollout_steps=config.rollout_steps)
    rollouts = config.rollout_steps > 1
    if rollouts and model_config.kind == "recurrent":
        raise InputError(f"rollout_steps {config.rollout_steps} unrolls a feed-forward model; a recurrent model "
                         "trains on windows with sequence_length instead: use rollout_steps 1")
    weights = None
    if config.balance_systems and len(train_sets) > 1:
        if sequences or rollouts:
            raise InputError("balance_systems weighs single transitions: use sequence_length 1 and rollout_steps 1")
        weights = system_weights(model, train_sets, config.batch_size // world, seed=config.seed).to(device)

    def step_loss(gen: torch.Generator) -> torch.Tensor:
        if sequences:
            seq = [x.to(device) for x in sample_sequences(train_sets, config.batch_size // world,
                                                          config.sequence_length, gen)]
            seed_input_noise(gen)
            return wrapped(seq, noise_std=config.noise_std, burn_in=config.burn_in)
        if rollouts:
            seq = [x.to(device) for x in sample_rollout_windows(train_sets, config.batch_size // world,
                                                                config.rollout_steps, gen)]
            seed_input_noise(gen)
            return wrapped(seq, noise_std=config.noise_std)
        b = sample_batch(train_sets, config.batch_size // world, gen)
        seed_input_noise(gen)
        return wrapped(b.state.to(device), b.action.to(device), b.next_nodes.to(device), b.system.to(device),
                       config.noise_std, weights)

    end = config.steps if stop_after is None else min(stop_after, config.steps)
    run_training_steps(config, start, end, step_loss=step_loss, optimiser=optimiser,
                       parameters=list(model.parameters()),
                       guard=guard, save=save, writer=writer,
                       validate=(lambda: validation_loss(model, val_sets, device)) if val_sets else None,
                       desc="train", progress=progress, rank=rank)
    return model


def save_forward_model(path: str | Path, model: GraphForwardModel, step: int, *,
                       systems: Sequence[SystemTrajectories] = (), metadata: dict | None = None) -> None:
    """Writes a finished forward model (no optimiser state) as a checkpoint `load_forward_model`, `gncontrol plan`
    and `evaluate` read: atomically, with the systems it was trained on and `metadata` (who made it, how)."""
    save_checkpoint(path, CHECKPOINT_KIND, {
        "model": model.state_dict(), "step": step, "model_config": dataclasses.asdict(model.config),
        "train_config": {}, "systems": [s.name for s in systems],
        "system_signatures": [{"name": s.name, **signature_of(s)} for s in systems], "metadata": metadata or {}})


def load_forward_model(path: str | Path,
                       device: str | torch.device = "cpu") -> tuple[GraphForwardModel, dict]:
    """Rebuilds a trained forward model from its checkpoint; returns (model in eval mode, record)."""
    record = load_checkpoint(path, CHECKPOINT_KIND)
    cfg = dict(record["model_config"])
    cfg.setdefault("positions", "legacy")  # written before translation invariance was fixed
    cfg["static_sizes"] = tuple(cfg["static_sizes"])
    cfg["hidden"] = tuple(cfg["hidden"])
    model = build_forward_model(ForwardModelConfig(**cfg))
    model.load_state_dict(record["model"])
    return model.to(device).eval(), record
