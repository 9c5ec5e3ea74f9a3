"""Trajectories of one system as torch tensors, and batches of them as graphs.

`SystemTrajectories` holds one system's episodes (one fixed topology):
    states  [n_ep, T+1, N, 13]   per-body states
    actions [n_ep, T, A]
    static_nodes [n_ep, N, F_vs], static_edges [n_ep, E, F_es], static_globals [n_ep, F_us]
    senders, receivers, edge_actuator [E]
It builds (state Graph, action, next nodes, GraphSystem) batches for training, and start
states for rollouts. Several systems train together by `batch`-ing their graphs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from gncontrol.errors import InputError, check_at_least_one
from gncontrol.gn.graphs import Graph, batch
from gncontrol.systems import GraphSystem

__all__ = ["SystemTrajectories", "TransitionBatch", "sample_batch", "sample_rollout_windows", "merge"]


@dataclasses.dataclass
class TransitionBatch:
    """B transitions as graphs: state [B graphs], action [B, A], next nodes [N_total, 13]."""

    state: Graph
    action: torch.Tensor
    next_nodes: torch.Tensor
    system: GraphSystem

    def to(self, device: torch.device | str) -> TransitionBatch:
        """The same transitions on `device`."""
        return TransitionBatch(self.state.to(device), self.action.to(device), self.next_nodes.to(device),
                               self.system.to(device))


@dataclasses.dataclass
class SystemTrajectories:
    """One system's episodes as tensors (see module doc for shapes)."""

    name: str
    states: torch.Tensor
    actions: torch.Tensor
    static_nodes: torch.Tensor
    static_edges: torch.Tensor
    static_globals: torch.Tensor
    senders: torch.Tensor
    receivers: torch.Tensor
    edge_actuator: torch.Tensor

    @staticmethod
    def from_arrays(name: str, data, dtype: torch.dtype = torch.float32) -> SystemTrajectories:
        """From any object with the numpy fields of gncontrol.forward.datasets.Trajectories."""

        def f(x):
            return torch.as_tensor(np.asarray(x), dtype=dtype)

        def i(x):
            return torch.as_tensor(np.asarray(x), dtype=torch.long)

        out = SystemTrajectories(name, f(data.states), f(data.actions), f(data.static_nodes),
                                 f(data.static_edges), f(data.static_globals), i(data.senders),
                                 i(data.receivers), i(data.edge_actuator))
        out.check()
        return out

    def check(self) -> None:
        """One-line ValueError when shapes disagree or values are not finite."""
        n_ep, t1, n, d = self.states.shape
        if d < 13:
            raise InputError(f"{self.name}: states must be [n_ep, T+1, N, 13], "
                             f"got {tuple(self.states.shape)}")
        if self.actions.shape[:2] != (n_ep, t1 - 1):
            raise InputError(f"{self.name}: actions {tuple(self.actions.shape)} do not match states "
                             f"{tuple(self.states.shape)}")
        if self.static_nodes.shape[:2] != (n_ep, n):
            raise InputError(f"{self.name}: static_nodes {tuple(self.static_nodes.shape)} do not match "
                             f"{n_ep} episodes of {n} bodies")
        if not (torch.isfinite(self.states).all() and torch.isfinite(self.actions).all()):
            raise InputError(f"{self.name}: states or actions contain NaN or inf")

    # ------------------------------------------------------------------ properties
    @property
    def num_episodes(self) -> int:
        """Number of episodes."""
        return self.states.shape[0]

    @property
    def episode_length(self) -> int:
        """T, control steps per episode."""
        return self.actions.shape[1]

    @property
    def num_nodes(self) -> int:
        """N, bodies per graph."""
        return self.states.shape[2]

    @property
    def num_edges(self) -> int:
        """E, edges per graph."""
        return self.senders.shape[0]

    @property
    def action_dim(self) -> int:
        """A, the action width."""
        return self.actions.shape[2]

    def joined(self, other: SystemTrajectories) -> SystemTrajectories:
        """The episodes of both (same bodies and episode length), each with its own static graph: e.g. a
        system's swing-up and balance data, or randomised systems from two collections."""
        if (other.senders.shape, other.states.shape[1:], other.actions.shape[1:]) != (
                self.senders.shape, self.states.shape[1:], self.actions.shape[1:]):
            raise InputError(f"cannot join {other.name} (states {tuple(other.states.shape[1:])}) to {self.name} "
                             f"(states {tuple(self.states.shape[1:])}): other bodies or episode length")
        return dataclasses.replace(self, states=torch.cat([self.states, other.states]),
                                   actions=torch.cat([self.actions, other.actions]),
                                   static_nodes=torch.cat([self.static_nodes, other.static_nodes]),
                                   static_edges=torch.cat([self.static_edges, other.static_edges]),
                                   static_globals=torch.cat([self.static_globals, other.static_globals]))

    def split(self, val_fraction: float) -> tuple[SystemTrajectories, SystemTrajectories]:
        """(train, validation) by whole episodes: the last fraction of episodes validates."""
        n_val = max(1, int(round(self.num_episodes * val_fraction)))
        if n_val >= self.num_episodes:
            raise InputError(f"{self.name}: {self.num_episodes} episodes are too few to split off "
                             f"{n_val} for validation")
        cut = self.num_episodes - n_val
        return self.episodes(slice(0, cut)), self.episodes(slice(cut, None))

    def episodes(self, which: slice) -> SystemTrajectories:
        """The episodes selected by `which` (a slice over episodes), each with its static graph."""
        return dataclasses.replace(self, states=self.states[which], actions=self.actions[which],
                                   static_nodes=self.static_nodes[which], static_edges=self.static_edges[which],
                                   static_globals=self.static_globals[which])

    def every(self, k: int) -> SystemTrajectories:
        """The episodes at a k times coarser time step: states [E, T//k + 1], actions [E, T//k] (each
        block's action), for a forward model at the decision time step (ForwardModelConfig.control_steps).

        The actions must be held over aligned blocks of k control steps (`collect --hold k`, or MPC
        episodes with action repeat k): a k-step transition under changing actions is refused.
        """
        check_at_least_one(control_steps=k)
        if k == 1:
            return self
        t = (self.episode_length // k) * k
        if t == 0:
            raise InputError(f"{self.name}: episodes of {self.episode_length} steps are shorter than {k} control steps")
        e, a = self.num_episodes, self.action_dim
        blocks = self.actions[:, :t].reshape(e, t // k, k, a)
        if not torch.equal(blocks, blocks[:, :, :1].expand_as(blocks)):
            raise InputError(f"{self.name}: the actions are not held over blocks of {k} control steps; collect the "
                             f"data with --hold {k} (or act with action repeat {k}) to train a {k}-step model")
        return dataclasses.replace(self, states=self.states[:, :t + 1:k], actions=blocks[:, :, 0])

    # ---------------------------------------------------------------- graph views
    def system(self, episodes: torch.Tensor, action_stride: int | None = None) -> GraphSystem:
        """The GraphSystem of the given episodes [B]; actions indexed with `action_stride` per graph."""
        b = episodes.shape[0]
        stride = action_stride or self.action_dim
        one = Graph.from_single(self.static_nodes[0], self.static_edges[0], self.static_globals[0],
                                self.senders, self.receivers)
        base = GraphSystem.single(one, self.edge_actuator, stride).tile(b)
        static = base.static.replace(
            nodes=self.static_nodes[episodes].reshape(-1, self.static_nodes.shape[-1]),
            edges=self.static_edges[episodes].reshape(-1, self.static_edges.shape[-1]),
            globals=self.static_globals[episodes])
        return GraphSystem(static, base.edge_actuator, stride)

    @staticmethod
    def state_graph(nodes: torch.Tensor, actions: torch.Tensor, system: GraphSystem) -> Graph:
        """State graph from body states [B, N, 13] and the actions [B, A] that led to them."""
        return system.static.replace(nodes=nodes.reshape(-1, nodes.shape[-1]),
                                     edges=system.edge_actions(actions),
                                     globals=nodes.new_zeros(nodes.shape[0], 0))

    def transitions(self, episodes: torch.Tensor, times: torch.Tensor,
                    action_stride: int | None = None) -> TransitionBatch:
        """Transitions (episode e, time t) -> t+1 for index tensors [B].

        Actions are zero-padded to `action_stride` entries so systems with different action
        sizes can share one mixed batch.
        """
        stride = action_stride or self.action_dim
        system = self.system(episodes, stride)
        pad = (0, stride - self.action_dim)
        act = torch.nn.functional.pad(self.actions[episodes, times], pad)
        prev = torch.nn.functional.pad(self.actions[episodes, (times - 1).clamp(min=0)], pad)
        prev = prev * (times > 0).unsqueeze(-1)
        state = self.state_graph(self.states[episodes, times], prev, system)
        return TransitionBatch(state, act,
                               self.states[episodes, times + 1].reshape(-1, self.states.shape[-1]),
                               system)


def sample_batch(systems: list[SystemTrajectories], batch_size: int,
                 generator: torch.Generator) -> TransitionBatch:
    """Uniform random transitions split evenly across systems, merged into one mixed batch."""
    stride = max(s.action_dim for s in systems)
    per = [batch_size // len(systems) + (k < batch_size % len(systems)) for k in range(len(systems))]
    parts = []
    for sys_, b in zip(systems, per):
        ep = torch.randint(0, sys_.num_episodes, (b,), generator=generator)
        t = torch.randint(0, sys_.episode_length, (b,), generator=generator)
        parts.append(sys_.transitions(ep, t, stride))
    return merge(parts)


def sample_sequences(systems: list[SystemTrajectories], batch_size: int, length: int,
                     generator: torch.Generator) -> list[TransitionBatch]:
    """`length` consecutive transition batches of the same windows (for recurrent models' truncated BPTT).

    batch_size // length windows (at least one), split evenly across systems, so a step sees as
    many transitions as `sample_batch` would; batch k holds the transitions t0+k -> t0+k+1.
    """
    if length < 1:
        raise InputError(f"sequence length must be >= 1, got {length}")
    short = [s.name for s in systems if s.episode_length < length]
    if short:
        raise InputError(f"sequence length {length} is longer than the episodes of {', '.join(short)}")
    windows = max(1, batch_size // length)
    stride = max(s.action_dim for s in systems)
    per = [windows // len(systems) + (k < windows % len(systems)) for k in range(len(systems))]
    picks = []
    for sys_, b in zip(systems, per):
        ep = torch.randint(0, sys_.num_episodes, (b,), generator=generator)
        t0 = torch.randint(0, sys_.episode_length - length + 1, (b,), generator=generator)
        picks.append((sys_, ep, t0))
    return [merge([s.transitions(ep, t0 + k, stride) for s, ep, t0 in picks if ep.numel()]) for k in range(length)]


def sample_rollout_windows(systems: list[SystemTrajectories], windows: int, length: int,
                           generator: torch.Generator) -> list[TransitionBatch]:
    """`length` consecutive transition batches of `windows` windows (for the rollout loss).

    As many independent starts as a one-step batch of `windows` transitions, so a rollout-loss step
    costs about `length` one-step steps; fewer, batch // length windows, trained worse than the
    one-step loss on its own objective (docs/notes/forward_models.md).
    """
    return sample_sequences(systems, windows * length, length, generator)


def merge(parts: list[TransitionBatch]) -> TransitionBatch:
    """Concatenates batches whose actions share one width into one batch of mixed graphs."""
    if len(parts) == 1:
        return parts[0]
    stride = parts[0].action.shape[-1]
    eas, rows = [], 0
    for p in parts:
        if p.action.shape[-1] != stride:
            raise InputError("merge() needs actions padded to one width")
        ea = p.system.edge_actuator
        eas.append(torch.where(ea >= 0, ea + rows * stride, ea))
        rows += p.action.shape[0]
    return TransitionBatch(batch([p.state for p in parts]), torch.cat([p.action for p in parts]),
                           torch.cat([p.next_nodes for p in parts]),
                           GraphSystem(batch([p.system.static for p in parts]), torch.cat(eas), stride))
