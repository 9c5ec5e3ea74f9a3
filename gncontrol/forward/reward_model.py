"""A learned reward `r(state [B, N, 13], action [B, A]) -> [B]` for tasks whose reward has no torch twin.

Trained on the environment's own rewards recorded with the data (`gncontrol collect` stores
them for every task), read out from the state a transition reaches and its action, as the
torch rewards are, so a planner uses it in place of one; it is differentiable, so gradient
MPC can too. An MLP on normalised features of every non-world body (its pose and velocity)
and the action. Positions x, y are taken relative to body 1 (the root of most models), which
suits locomotion, where the reward does not depend on where the body is; `absolute_xy=True`
keeps world x, y for rewards that do (a target fixed in the world, as in point_mass).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gncontrol.checkpoints import load_checkpoint, save_checkpoint
from gncontrol.errors import InputError

__all__ = ["RewardModelConfig", "RewardModel", "train_reward_model", "reward_model_error", "save_reward_model",
           "load_reward_model"]

KIND = "reward_model"


@dataclasses.dataclass(frozen=True)
class RewardModelConfig:
    """Sizes of a reward model: the system's bodies N (world included) and actions A, hidden widths."""

    num_nodes: int
    action_dim: int
    hidden: tuple[int, ...] = (256, 256)
    absolute_xy: bool = False

    def __post_init__(self) -> None:
        if self.num_nodes < 2 or self.action_dim < 1 or not self.hidden or min(self.hidden) < 1:
            raise InputError(f"reward model needs >= 2 bodies, >= 1 action and positive hidden sizes, got {self}")


class RewardModel(nn.Module):
    """MLP reward on body-state features and the action (see module doc); `forward(state, action) -> [B]`."""

    def __init__(self, config: RewardModelConfig) -> None:
        """An untrained model; its normalisers are set by `fit_normalisers` (identity until then)."""
        super().__init__()
        self.config = config
        width = (config.num_nodes - 1) * 13 + config.action_dim
        layers: list[nn.Module] = []
        for h in config.hidden:
            layers += [nn.Linear(width, h), nn.SiLU()]
            width = h
        self.mlp = nn.Sequential(*layers, nn.Linear(width, 1))
        size = (config.num_nodes - 1) * 13 + config.action_dim
        self.register_buffer("in_mean", torch.zeros(size))
        self.register_buffer("in_std", torch.ones(size))
        self.register_buffer("out_mean", torch.zeros(()))
        self.register_buffer("out_std", torch.ones(()))

    def features(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """[B, (N-1)*13 + A] raw features: bodies 1.. (x, y relative to body 1 unless absolute_xy), action."""
        n = self.config.num_nodes
        if state.dim() != 3 or tuple(state.shape[1:]) != (n, 13):
            raise InputError(f"reward model state must be [B, {n}, 13], got {tuple(state.shape)}")
        if action.dim() != 2 or action.shape != (state.shape[0], self.config.action_dim):
            raise InputError(f"reward model action must be [{state.shape[0]}, {self.config.action_dim}], "
                             f"got {tuple(action.shape)}")
        bodies = state[:, 1:, :]
        if not self.config.absolute_xy:
            shift = torch.zeros_like(bodies)
            shift[..., :2] = bodies[:, :1, :2]
            bodies = bodies - shift
        return torch.cat([bodies.reshape(state.shape[0], -1), action], dim=-1)

    def fit_normalisers(self, state: torch.Tensor, action: torch.Tensor, reward: torch.Tensor) -> None:
        """Sets input and output mean / std from training data (std floored so constant features stay 0)."""
        x = self.features(state, action)
        self.in_mean.copy_(x.mean(0))
        self.in_std.copy_(x.std(0).clamp_min(1e-6))
        self.out_mean.copy_(reward.mean())
        self.out_std.copy_(reward.std().clamp_min(1e-6))

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Predicted reward [B] of reaching `state` [B, N, 13] with `action` [B, A]."""
        p = next(self.mlp.parameters())
        x = self.features(state.to(p), action.to(p))
        z = self.mlp((x - self.in_mean) / self.in_std).squeeze(-1)
        return z * self.out_std + self.out_mean


def _split(data: Any, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    n = data.num_episodes
    n_val = int(round(n * val_fraction))
    if n_val < 1 or n_val >= n:
        raise InputError(f"val_fraction {val_fraction} of {n} episodes leaves no training or no validation "
                         "episode: collect more episodes or change --val-fraction")
    return np.arange(n - n_val), np.arange(n - n_val, n)


def _flat(data: Any, episodes: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(states reached [M, N, 13], actions [M, A], rewards [M]) of the episodes' transitions."""
    s = torch.as_tensor(data.states[episodes, 1:], dtype=torch.float32)
    a = torch.as_tensor(data.actions[episodes], dtype=torch.float32)
    r = torch.as_tensor(data.rewards[episodes], dtype=torch.float32)
    return s.reshape(-1, *s.shape[2:]), a.reshape(-1, a.shape[-1]), r.reshape(-1)


def train_reward_model(data: Any, config: RewardModelConfig, *, steps: int = 2000, batch_size: int = 256,
                       lr: float = 1e-3, val_fraction: float = 0.2, seed: int = 0,
                       progress: bool = False) -> tuple[RewardModel, dict]:
    """A reward model fitted to `data` (Trajectories) by MSE, and its held-out report.

    The report gives the held-out RMSE, the RMSE of predicting the training mean, their ratio
    (1 = no better than a constant) and the episodes used; the last `val_fraction` of the
    episodes are held out, and the weights kept are those of the best held-out RMSE (checked
    every 50 steps), since small datasets of sparse rewards overfit fast.
    """
    if not np.all(np.isfinite(data.rewards)):
        raise InputError("the data's rewards are not all finite; a reward model needs real rewards")
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if value < 1:
            raise InputError(f"{name} must be >= 1, got {value}")
    train_eps, val_eps = _split(data, val_fraction)
    s, a, r = _flat(data, train_eps)
    vs, va, vr = _flat(data, val_eps)
    torch.manual_seed(seed)
    model = RewardModel(config)
    model.fit_normalisers(s, a, r)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    from tqdm import tqdm

    def val_rmse() -> float:
        with torch.no_grad():
            return float(((model(vs, va) - vr) ** 2).mean().sqrt())

    best, best_state, best_step = val_rmse(), copy.deepcopy(model.state_dict()), 0
    bar = tqdm(range(1, steps + 1), desc="train reward", disable=not progress)
    for step in bar:
        idx = torch.randint(0, r.shape[0], (min(batch_size, r.shape[0]),), generator=gen)
        loss = (((model(s[idx], a[idx]) - r[idx]) / model.out_std) ** 2).mean()
        if not torch.isfinite(loss):
            raise InputError(f"reward model loss became non-finite at step {step}; lower --lr")
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps:  # keep the weights that predict the held-out episodes best
            now = val_rmse()
            if now < best:
                best, best_state, best_step = now, copy.deepcopy(model.state_dict()), step
            bar.set_postfix(loss=f"{loss.item():.4f}", val=f"{now:.4g}")
    model.load_state_dict(best_state)
    const = float(((r.mean() - vr) ** 2).mean().sqrt())
    report = {"val_rmse": best, "constant_rmse": const, "ratio": best / const if const > 0 else float("nan"),
              "best_step": best_step, "train_episodes": int(len(train_eps)), "val_episodes": int(len(val_eps)),
              "steps": int(steps)}
    return model, report


def reward_model_error(model: RewardModel, data: Any) -> dict:
    """{"rmse", "constant_rmse", "ratio"} of `model` on every transition of `data` (Trajectories);
    the constant predicts the model's training mean, so ratio 1 = no better than a constant."""
    s, a, r = _flat(data, np.arange(data.num_episodes))
    with torch.no_grad():
        rmse = float(((model(s, a) - r) ** 2).mean().sqrt())
        const = float(((model.out_mean - r) ** 2).mean().sqrt())
    return {"rmse": rmse, "constant_rmse": const, "ratio": rmse / const if const > 0 else float("nan")}


def save_reward_model(path: str | Path, model: RewardModel, task: str, signature: dict, report: dict) -> None:
    """Writes the model atomically with its config, the task it was trained for and its held-out report."""
    save_checkpoint(path, KIND, {"config": dataclasses.asdict(model.config), "state_dict": model.state_dict(),
                                 "task": task, "system_signatures": [{"name": task, **signature}],
                                 "report": report})


def load_reward_model(path: str | Path) -> tuple[RewardModel, dict]:
    """(model in eval mode, its checkpoint record) from `save_reward_model`'s file."""
    record = load_checkpoint(path, KIND)
    cfg = dict(record["config"])
    cfg["hidden"] = tuple(cfg["hidden"])
    model = RewardModel(RewardModelConfig(**cfg))
    model.load_state_dict(record["state_dict"])
    return model.eval(), record
