"""System identification: a recurrent GN infers a latent static graph from a window of dynamics.

Sanchez-Gonzalez et al. 2018, "System identification": a recurrent GN reads a window of
dynamic graphs with their controls and its final output graph takes the place of the true
static graph as the forward model's input; encoder and forward model train end to end.

    window  states  [B, W+1, N, 13]   body states s_0..s_W of one system per row
            actions [B, W, A]         the controls a_0..a_{W-1} between them
    encoder step k (k = 0..W-1), input graph (topology of the system):
            nodes [N, 26]  = norm_state(s_k, x/y relative to the mean body), norm_delta(s_{k+1} - s_k)
            edges [E, 1]   = norm_action(a_k at the joint's actuator; 0 if unactuated)
            hidden' = GRU-GN(input, hidden)            (gncontrol.gn.modules.RecurrentGraphNetwork)
    latent graph = per-feature MLPs of the last hidden: nodes [N, Lv], edges [E, Le], globals [B, Lu]
    identify(model, window) -> GraphSystem(latent graph, edge->actuator map)
    loss: one-step (action [B*K, A]) or an H-step rollout through the model's own predictions
          (action [B*K, H, A], true next states [H, N_total, 13]), K targets per window

The latent GraphSystem is what `model.step(state, action, params=latent)` takes, exactly
as a `GNForwardModel` takes the true static graph: keep it and reuse it for any start
state of the same system (`IdentifiedModel` binds one to the model for tools that pass
the true system as `params`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gncontrol.body_state import STATE_SIZE, input_positions
from gncontrol.errors import InputError
from gncontrol.forward.graph_forward import ForwardModelConfig, GNForwardModel, GraphForwardModel
from gncontrol.forward.transitions import SystemTrajectories
from gncontrol.gn.blocks import GraphSizes
from gncontrol.gn.graphs import Graph
from gncontrol.gn.modules import GraphIndependent, RecurrentGraphNetwork
from gncontrol.gn.nn import mlp
from gncontrol.systems import GraphSystem

__all__ = ["SystemIDConfig", "IdentificationWindow", "SystemIDModel", "IdentifiedModel", "identify", "refine",
           "held_random_controls",
           "rollout_loss",
           "latent_features", "repeat_system", "save_identified", "load_identified", "IDENTIFIED_KIND"]

IDENTIFIED_KIND = "identified_system"


@dataclasses.dataclass
class SystemIDConfig:
    """Sizes of the encoder and of the GN forward model that reads its latent graph."""

    latent_sizes: tuple[int, int, int] = (16, 16, 16)  # latent static graph (nodes, edges, globals)
    encoder_hidden: int = 64  # recurrent state size on nodes, edges and globals
    encoder_update: str = "gru"  # "gru" or "mean" (running mean of the GN's messages; modules.RecurrentGraphNetwork)
    encoder_mlp: tuple[int, ...] = (64,)
    forward_latent: int = 128
    forward_hidden: tuple[int, ...] = (128,)
    window: int = 20  # default identification window (steps of random control)
    positions: str = "relative"  # x, y inputs (gncontrol.body_state.relative_positions); "legacy" before 2026-12
    # k > 1: the forward model steps k control steps at once (trained on SystemTrajectories.every(k) data), and
    # the window counts k-step transitions (ForwardModelConfig.control_steps)
    control_steps: int = 1


@dataclasses.dataclass
class IdentificationWindow:
    """B windows, one per system: states [B, W+1, N, 13], actions [B, W, A], and their topology.

    `system` is any GraphSystem of the B graphs (true static features are ignored; only the
    senders/receivers and the edge->actuator map are read).
    """

    states: torch.Tensor
    actions: torch.Tensor
    system: GraphSystem

    def check(self) -> None:
        """One-line ValueError when the shapes disagree."""
        if self.states.dim() != 4 or self.states.shape[-1] < STATE_SIZE:
            raise InputError(f"window states must be [B, W+1, N, 13], got {tuple(self.states.shape)}")
        b, w1, n = self.states.shape[:3]
        if self.actions.dim() != 3 or self.actions.shape[:2] != (b, w1 - 1):
            raise InputError(f"window actions must be [B={b}, W={w1 - 1}, A], got {tuple(self.actions.shape)}")
        if w1 < 2:
            raise InputError("an identification window needs at least one transition (W >= 1)")
        s = self.system.static
        if s.num_graphs != b or s.nodes.shape[0] != b * n:
            raise InputError(f"window system has {s.num_graphs} graphs / {s.nodes.shape[0]} nodes for "
                             f"{b} windows of {n} bodies")

    def to(self, device) -> IdentificationWindow:
        """The window on `device`."""
        return IdentificationWindow(self.states.to(device), self.actions.to(device), self.system.to(device))


def held_random_controls(env: Any, state: Graph, low: Any, high: Any, blocks: int, k: int,
                         rng: Any) -> tuple[Graph, list[torch.Tensor], list[torch.Tensor], list[float]]:
    """Runs `blocks` uniform random controls in `env` (planners.mpc.Env), each held k control steps, from
    `state`: (the env's state after them; body states [N, 13] at the block ends, `state`'s first; actions
    [A]; the env's rewards per control step), the window a model of k control steps per step identifies a
    system from."""
    states, actions, rewards = [state.nodes[:, :STATE_SIZE]], [], []
    for _ in range(blocks):
        action = torch.as_tensor(rng.uniform(low, high), dtype=torch.float32)
        for _ in range(k):
            state, reward, done = env.step(action)
            rewards.append(float(reward))
            if done:
                raise InputError(f"an identification window of {blocks} x {k} control steps is longer than the "
                                 "episode")
        states.append(state.nodes[:, :STATE_SIZE])
        actions.append(action)
    return state, states, actions, rewards


class SystemIDModel(nn.Module):
    """Recurrent GN encoder + GN forward model on its latent graph, trained end to end."""

    differentiable = True

    def __init__(self, config: SystemIDConfig):
        super().__init__()
        self.config = config
        h = config.encoder_hidden
        self.encoder_input = GraphSizes(2 * STATE_SIZE, 1, 0)
        self.encoder = RecurrentGraphNetwork(self.encoder_input, GraphSizes(h, h, h),
                                             lambda i, o: mlp(i, config.encoder_mlp, o), update=config.encoder_update)
        lv, le, lu = config.latent_sizes
        self.readout = GraphIndependent(GraphSizes(h, h, h), lambda i: mlp(i, config.encoder_mlp, le),
                                        lambda i: mlp(i, config.encoder_mlp, lv),
                                        lambda i: mlp(i, config.encoder_mlp, lu))
        self.forward_model = GNForwardModel(ForwardModelConfig(
            "gn", tuple(config.latent_sizes), latent=config.forward_latent, hidden=config.forward_hidden,
            positions=config.positions, control_steps=config.control_steps))

    @property
    def control_steps(self) -> int:
        """Control steps per model step (planners.base.model_time_step reads it)."""
        return self.config.control_steps

    # ------------------------------------------------------------ normalisation
    @torch.no_grad()
    def fit_normalisers(self, states: torch.Tensor, next_states: torch.Tensor, system: GraphSystem,
                        actions: torch.Tensor) -> None:
        """Fits the state/action/delta normalisers on transitions [M, N_total, 13] (static: none)."""
        fm = self.forward_model
        fm.norm_state.fit(torch.stack([input_positions(x, system.static, self.config.positions) for x in states]))
        fm.norm_action.fit(torch.stack([system.edge_actions(a) for a in actions]))
        fm.norm_delta.fit(next_states - states)
        # the latent graph is the static input: no static normalisation (identity normalisers)

    # ------------------------------------------------------------------ encoder
    def encoder_inputs(self, window: IdentificationWindow) -> list[Graph]:
        """The W normalised encoder input graphs (see module doc)."""
        window.check()
        fm, sys_ = self.forward_model, window.system
        s = sys_.static
        b, w1, n = window.states.shape[:3]
        x = window.states[..., :STATE_SIZE]
        out = []
        for k in range(w1 - 1):
            now = x[:, k].reshape(b * n, STATE_SIZE)
            nxt = x[:, k + 1].reshape(b * n, STATE_SIZE)
            nodes = torch.cat([fm.norm_state(input_positions(now, s, self.config.positions)),
                               fm.norm_delta(nxt - now)], -1)
            edges = fm.norm_action(sys_.edge_actions(window.actions[:, k]))
            out.append(s.replace(nodes=nodes, edges=edges, globals=nodes.new_zeros(b, 0)))
        return out

    def identify(self, window: IdentificationWindow) -> GraphSystem:
        """The latent GraphSystem (B graphs: nodes [N, Lv], edges [E, Le], globals [B, Lu]) of B windows."""
        hidden = None
        for k, g in enumerate(self.encoder_inputs(window)):
            _, hidden = self.encoder(g, hidden, k)
        latent = self.readout(hidden)
        return GraphSystem(latent, window.system.edge_actuator, window.system.action_dim)

    # ---------------------------------------------------------------- dynamics
    def step(self, state: Graph, action: torch.Tensor, params: Any = None) -> Graph:
        """Next state for B states [N, 13] and actions [B, A]; params = the identified GraphSystem."""
        if not isinstance(params, GraphSystem) or params.static.nodes.shape[-1] != self.config.latent_sizes[0]:
            raise InputError("SystemIDModel.step needs params = the latent GraphSystem from identify()")
        return self.forward_model.step(state, action, params)

    def loss(self, window: IdentificationWindow, state: Graph, action: torch.Tensor, next_nodes: torch.Tensor,
             system: GraphSystem, targets_per_window: int, noise_std: float = 0.0) -> torch.Tensor:
        """Loss of transitions (K per window, grouped by window) given the identified latent.

        state/system hold B*K graphs, the K start states of window b at rows b*K..b*K+K-1.
        One-step: action [B*K, A], next_nodes [N_total, 13]. H-step rollout (the model's own
        predictions fed back): action [B*K, H, A], next_nodes [H, N_total, 13] (true states).
        """
        latent = repeat_system(self.identify(window), system, targets_per_window)
        if action.dim() == 2:
            return self.forward_model.loss(state, action, next_nodes, latent, noise_std)
        return self.rollout_loss(state, action, next_nodes, latent, noise_std)

    def rollout_loss(self, state: Graph, actions: torch.Tensor, next_nodes: torch.Tensor, latent: GraphSystem,
                     noise_std: float = 0.0) -> torch.Tensor:
        """H-step rollout loss of the forward model under `latent` (see module-level `rollout_loss`)."""
        return rollout_loss(self.forward_model, state, actions, next_nodes, latent, noise_std)

    def forward(self, window: IdentificationWindow, state: Graph, action: torch.Tensor,
                next_nodes: torch.Tensor, system: GraphSystem, targets_per_window: int,
                noise_std: float = 0.0) -> torch.Tensor:
        """The training loss (so DistributedDataParallel could wrap the model); see `loss` (1 or H steps)."""
        return self.loss(window, state, action, next_nodes, system, targets_per_window, noise_std)


def rollout_loss(model: GraphForwardModel, state: Graph, actions: torch.Tensor, next_nodes: torch.Tensor,
                 system: GraphSystem, noise_std: float = 0.0) -> torch.Tensor:
    """Mean H-step rollout error of a forward model under `system` (a latent or the true static graph).

    state: B graphs; actions [B, H, A]; next_nodes [H, N_total, 13]: `GraphForwardModel.unrolled_loss`.
    """
    return model.unrolled_loss(state, actions, next_nodes, system, noise_std)


def repeat_system(latent: GraphSystem, target: GraphSystem, copies: int) -> GraphSystem:
    """Each of latent's B graphs repeated `copies` times, on target's (B*copies graphs) topology/edge map."""
    s, t = latent.static, target.static
    b = s.num_graphs
    if t.num_graphs != b * copies or t.nodes.shape[0] != s.nodes.shape[0] * copies:
        raise InputError(f"{t.num_graphs} target graphs are not {copies} copies of {b} latent graphs")

    def rep(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(b, -1, x.shape[-1]).repeat_interleave(copies, 0).reshape(-1, x.shape[-1])

    static = t.replace(nodes=rep(s.nodes), edges=rep(s.edges), globals=s.globals.repeat_interleave(copies, 0))
    return GraphSystem(static, target.edge_actuator, target.action_dim)


def identify(model: SystemIDModel, window: IdentificationWindow) -> GraphSystem:
    """Latent GraphSystem of each window, without gradients (for planners and the CLI)."""
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model.identify(window)
    model.train(was)
    return out


def refine(model: SystemIDModel, window: IdentificationWindow, latent: GraphSystem, steps: int,
           lr: float = 0.01, prior: float = 1e-3) -> GraphSystem:
    """Semi-amortised identification: Adam on the encoder's latent graph to fit the window itself.

    `steps` Adam steps (rate `lr`) lower the forward model's one-step error on the window's own
    W transitions plus `prior` x the mean squared distance to the encoder's estimate (without
    it the latent soon fits the window's idiosyncrasies and predicts worse). The weights stay
    fixed. latent: the B-graph GraphSystem `identify` returned for this window; returns another.
    """
    window.check()
    if steps <= 0:
        return latent
    fm = model.forward_model
    b, w1, n = window.states.shape[:3]
    w = w1 - 1
    x = window.states[..., :STATE_SIZE].transpose(0, 1)  # [W+1, B, N, 13]: transition k*B + b
    prev = torch.cat([torch.zeros_like(window.actions[:, :1]), window.actions[:, :-1]], 1).transpose(0, 1)
    state = SystemTrajectories.state_graph(x[:-1].reshape(w * b, n, STATE_SIZE), prev.reshape(w * b, -1),
                                           window.system.repeat(w))
    action = window.actions.transpose(0, 1).reshape(w * b, -1)
    target = x[1:].reshape(-1, STATE_SIZE)
    start = [latent.static.nodes, latent.static.edges, latent.static.globals]
    params = [t.detach().clone().requires_grad_(True) for t in start]

    def with_features(nodes: torch.Tensor, edges: torch.Tensor, globals_: torch.Tensor) -> GraphSystem:
        return GraphSystem(latent.static.replace(nodes=nodes, edges=edges, globals=globals_),
                           latent.edge_actuator, latent.action_dim)

    opt = torch.optim.Adam(params, lr=lr)
    was = model.training
    model.eval()
    with torch.enable_grad():
        for _ in range(steps):
            loss = fm.loss(state, action, target, with_features(*params).repeat(w))
            loss = loss + prior * sum((p - s0).square().mean() for p, s0 in zip(params, start))
            opt.zero_grad(set_to_none=True)
            loss.backward(inputs=params)
            opt.step()
    model.train(was)
    return with_features(*(p.detach() for p in params))


def latent_features(system: GraphSystem) -> torch.Tensor:
    """[B, N*Lv + E*Le + Lu]: each graph's latent flattened (fixed topology), e.g. for a linear probe."""
    s = system.static
    b = s.num_graphs
    return torch.cat([s.nodes.reshape(b, -1), s.edges.reshape(b, -1), s.globals], -1)


class IdentifiedModel(nn.Module):
    """A SystemIDModel bound to one identified latent system: `step` ignores the params it is given.

    Lets tools that hand the true system to `step` (rollout metrics, planners) use the
    inferred parameters instead.
    """

    differentiable = True

    def __init__(self, model: SystemIDModel, latent: GraphSystem):
        super().__init__()
        self.model = model
        self.latent = latent
        self.control_steps = model.control_steps

    def step(self, state: Graph, action: torch.Tensor, params: Any = None) -> Graph:
        """Next state [N, 13] of B states and actions [B, A] under the bound latent system."""
        return self.model.step(state, action, self.latent)


def save_identified(path: str | Path, system: GraphSystem, metadata: dict | None = None) -> None:
    """Writes an identified latent GraphSystem atomically (reuse it for new start states, planning)."""
    from gncontrol.checkpoints import save_checkpoint

    s = system.static
    save_checkpoint(path, IDENTIFIED_KIND, {
        "nodes": s.nodes.detach().cpu(), "edges": s.edges.detach().cpu(), "globals": s.globals.detach().cpu(),
        "senders": s.senders.cpu(), "receivers": s.receivers.cpu(), "n_node": s.n_node.cpu(),
        "n_edge": s.n_edge.cpu(), "edge_actuator": system.edge_actuator.cpu(),
        "action_dim": system.action_dim, "metadata": metadata or {}})


def load_identified(path: str | Path, device: str | torch.device | None = None) -> tuple[GraphSystem, dict]:
    """(latent GraphSystem, metadata) saved by `save_identified` / `gncontrol identify`."""
    from gncontrol.checkpoints import load_checkpoint

    r = load_checkpoint(path, IDENTIFIED_KIND)
    g = Graph(nodes=r["nodes"], edges=r["edges"], globals=r["globals"], senders=r["senders"],
              receivers=r["receivers"], n_node=r["n_node"], n_edge=r["n_edge"])
    return GraphSystem(g, r["edge_actuator"], r["action_dim"]).to(device), r["metadata"]
