"""Model learning inside agents: random-control data, a GN model fitted on it, and fine-tuning
on data the agent gathers, without the checkpointing of gncontrol.forward.training (agents retrain
often, in memory).

    data = random_data("cartpole-swingup", episodes=20, steps=200, seed=0)   # SystemTrajectories
    model = new_model(data, latent=64, hidden=(64,), seed=0)                 # normalisers fitted
    fit_model(model, [data], steps=1500, batch_size=64, lr=1e-3, seed=0)     # Adam on 1-step loss
    data = append_episode(data, states [T+1, N, 13], actions [T, A])         # grow with new data
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from gncontrol.errors import InputError, check_at_least_one
from gncontrol.forward.graph_forward import ForwardModelConfig, GraphForwardModel, build_forward_model
from gncontrol.forward.training import fit_model_normalisers
from gncontrol.forward.transitions import SystemTrajectories, sample_batch, sample_rollout_windows

__all__ = ["random_data", "new_model", "fit_model", "append_episode", "empty_like", "episode_error"]


def random_data(task_name: str, episodes: int, steps: int, seed: int = 0,
                controller: str = "ou", hold: int = 1) -> SystemTrajectories:
    """Episodes of random controls (each held `hold` control steps) in the real env (envs.collect) as
    SystemTrajectories at the control time step."""
    from envs.collect import collect

    tr = collect(task_name, episodes, steps=steps, controller=controller, seed=seed, progress=False, hold=hold)
    return SystemTrajectories.from_arrays(task_name, tr)


def new_model(data: SystemTrajectories, kind: str = "gn", latent: int = 64, hidden: tuple[int, ...] = (64,),
              seed: int = 0, device: torch.device | str | None = None, positions: str = "auto",
              control_steps: int = 1) -> GraphForwardModel:
    """A fresh forward model (weights from `seed`) with normalisers fitted on `data`; `positions` "auto" is
    envs.mujoco_graph.position_mode of the data (absolute x, y for cartpole's rail-limited cart);
    `control_steps` k > 1: a model at the decision time step, `data` already at it (SystemTrajectories.every)."""
    if positions == "auto":
        from envs.mujoco_graph import position_mode

        positions = position_mode(data.static_edges[0], data.senders)
    cfg = ForwardModelConfig(kind, (data.static_nodes.shape[-1], data.static_edges.shape[-1],
                                    data.static_globals.shape[-1]), latent=latent, hidden=tuple(hidden),
                             num_nodes=data.num_nodes, num_edges=data.num_edges, positions=positions,
                             control_steps=control_steps)
    torch.manual_seed(seed)
    model = build_forward_model(cfg)
    fit_model_normalisers(model, [data], seed=seed)
    return model.to(device)


def fit_model(model: GraphForwardModel, sets: list[SystemTrajectories], steps: int, batch_size: int = 64,
              lr: float = 1e-3, noise_std: float = 0.02, seed: int = 0,
              optimiser: torch.optim.Optimizer | None = None, rollout_steps: int = 1) -> list[float]:
    """`steps` Adam steps of the 1-step loss on batches split evenly across `sets`; returns the losses.

    Splitting evenly lets a few on-policy episodes weigh as much as a large random data set.
    `rollout_steps` H > 1: the loss of the model's own H-step rollout from `batch_size` windows instead
    (GraphForwardModel.rollout_loss, as `TrainConfig.rollout_steps`).
    The fitted model is returned frozen (parameters without gradients, in eval mode): agents and
    planners differentiate through it with respect to states and actions only, so their backward
    passes skip the model's weights.
    """
    device = next(model.parameters()).device
    opt = optimiser or torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.requires_grad_(True)
    model.train()
    losses = []
    check_at_least_one(rollout_steps=rollout_steps)
    for _ in range(steps):
        if rollout_steps > 1:
            windows = sample_rollout_windows(sets, batch_size, rollout_steps, gen)
            loss = model.rollout_loss([b.to(device) for b in windows], noise_std)
        else:
            b = sample_batch(sets, batch_size, gen)
            loss = model.loss(b.state.to(device), b.action.to(device), b.next_nodes.to(device),
                              b.system.to(device), noise_std)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    opt.zero_grad(set_to_none=True)
    model.requires_grad_(False)
    model.eval()
    return losses


@torch.no_grad()
def episode_error(model: GraphForwardModel, data: SystemTrajectories, rollout_steps: int = 1) -> float:
    """The model's mean `rollout_steps`-step rollout loss (as fit_model trains it, no input noise) over every
    window of every episode of `data`: a deterministic score of how well it predicts those episodes."""
    check_at_least_one(rollout_steps=rollout_steps)
    device = next(model.parameters()).device
    t = data.episode_length - rollout_steps + 1
    if t < 1:
        raise InputError(f"episodes of {data.episode_length} steps hold no window of {rollout_steps} steps")
    episodes = torch.arange(data.num_episodes).repeat_interleave(t)
    starts = torch.arange(t).repeat(data.num_episodes)
    batches = [data.transitions(episodes, starts + k).to(device) for k in range(rollout_steps)]
    return float(model.rollout_loss(batches))


def empty_like(data: SystemTrajectories, name: str | None = None, steps: int | None = None) -> SystemTrajectories:
    """A SystemTrajectories of the same system with no episodes (fill it with append_episode),
    for episodes of `steps` control steps (default: data's episode length)."""
    t = data.episode_length if steps is None else steps
    states = data.states.new_zeros(0, t + 1, *data.states.shape[2:])
    actions = data.actions.new_zeros(0, t, *data.actions.shape[2:])
    return dataclasses.replace(data, name=name or data.name, states=states, actions=actions,
                               static_nodes=data.static_nodes[:0], static_edges=data.static_edges[:0],
                               static_globals=data.static_globals[:0])


def transitions_as_trajectories(template: SystemTrajectories, states: torch.Tensor, actions: torch.Tensor,
                                next_states: torch.Tensor) -> SystemTrajectories:
    """K single transitions (states [K, N, 13], actions [K, A], next_states [K, N, 13]) as K one-step
    episodes of `template`'s system (its first static graph), so fit_model trains on replay data."""
    k = states.shape[0]
    if actions.shape[0] != k or next_states.shape != states.shape:
        raise InputError(f"states {tuple(states.shape)}, actions {tuple(actions.shape)} and next_states "
                         f"{tuple(next_states.shape)} must hold the same K transitions")
    dtype = template.states.dtype
    out = dataclasses.replace(template, states=torch.stack([states, next_states], 1).to(dtype),
                              actions=actions[:, None].to(dtype), **nominal_statics(template, k))
    out.check()
    return out


def nominal_statics(data: SystemTrajectories, episodes: int) -> dict[str, torch.Tensor]:
    """`data`'s first static graph repeated for `episodes` episodes: static_nodes / _edges / _globals [K, ...]."""
    return {name: getattr(data, name)[:1].expand(episodes, *getattr(data, name).shape[1:]).clone()
            for name in ("static_nodes", "static_edges", "static_globals")}


def append_episode(data: SystemTrajectories, states: torch.Tensor | np.ndarray, actions: torch.Tensor | np.ndarray,
                   static_from: SystemTrajectories | None = None) -> SystemTrajectories:
    """`data` plus one episode of the same system: states [T+1, N, 13], actions [T, A] (T = data's).

    The episode's static graph is the first of `static_from` (default: of `data`, which then
    must not be empty), i.e. the nominal system.
    """
    src = static_from if static_from is not None else data
    if src.num_episodes == 0:
        raise InputError("append_episode needs static_from= when data holds no episodes")
    s = torch.as_tensor(np.asarray(states), dtype=data.states.dtype)[None]
    a = torch.as_tensor(np.asarray(actions), dtype=data.actions.dtype)[None]
    if s.shape[2:] != data.states.shape[2:] or a.shape[2:] != data.actions.shape[2:]:
        raise InputError(f"episode states {tuple(s.shape[1:])} / actions {tuple(a.shape[1:])} do not fit "
                         f"data of states {tuple(data.states.shape[1:])}")
    if data.num_episodes and s.shape[1] != data.states.shape[1]:
        raise InputError(f"episode has {s.shape[1] - 1} steps, the data {data.episode_length}")
    out = dataclasses.replace(
        data, states=torch.cat([data.states, s]), actions=torch.cat([data.actions, a]),
        static_nodes=torch.cat([data.static_nodes, src.static_nodes[:1]]),
        static_edges=torch.cat([data.static_edges, src.static_edges[:1]]),
        static_globals=torch.cat([data.static_globals, src.static_globals[:1]]))
    out.check()
    return out
