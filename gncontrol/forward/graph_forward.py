"""Forward models of MuJoCo systems on graphs (Sanchez-Gonzalez et al. 2018).

All share one recipe and differ only in the network that maps the input graph to
normalised per-body state differences:

    input graph = concat(normalised static graph, normalised dynamic graph)
        nodes  [N, F_vs + 13]  static body parameters + body state (x, y relative to the mean
                               x, y of the graph's non-world bodies, world node x, y = 0:
                               horizontal translation invariance; config.positions)
        edges  [E, F_es + 1]   static joint/actuator parameters + the action at the joint
        globals[B, F_us]       static system parameters
    delta   [N, 13]          = target_normaliser.inverse(network(input graph))
    next    [N, 13]          = apply_delta(state, delta)   (quaternion renormalised)

- `GNForwardModel`: two GN blocks with unshared weights, G' = GN1(G), G* = GN2(concat(G, G')).
- `RecurrentGNForwardModel`: the same with GRU state on edges, nodes and globals; the hidden
  features ride along in the state graph after the 13 body numbers (rewards read only those).
- `MLPForwardModel`: an MLP on the flattened graph (fixed topology, one system).
- `ConstantModel`: copies the state (the baseline every error is divided by).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from gncontrol.body_state import STATE_SIZE, apply_delta, check_state, input_positions
from gncontrol.errors import InputError, check_at_least_one
from gncontrol.forward import fast_path
from gncontrol.gn.blocks import EdgeBlock, GraphSizes, NodeBlock
from gncontrol.gn.graphs import Graph, concat
from gncontrol.gn.modules import GraphNetwork, RecurrentGraphNetwork
from gncontrol.gn.nn import mlp
from gncontrol.normalisers import Normaliser
from gncontrol.systems import GraphSystem

__all__ = ["ForwardModelConfig", "GraphForwardModel", "GNForwardModel", "RecurrentGNForwardModel",
           "MLPForwardModel", "ConstantModel", "build_forward_model", "check_action"]


def check_action(action: torch.Tensor, num_states: int, action_dim: int) -> None:
    """Refuses (one InputError line) an action that is not [B, A]: B states, A = the system's action_dim.

    Why: `GraphSystem.edge_actions` indexes the flat action, so a wrong width or batch would
    silently drive the joints with another state's controls (or fail with a raw index error).
    Shape checks only (no host sync).
    """
    shape = tuple(action.shape) if isinstance(action, torch.Tensor) else None
    if shape != (num_states, action_dim):
        got = f"shape {shape}" if shape is not None else type(action).__name__
        raise InputError(f"action must be [B, A] = [{num_states}, {action_dim}] (B = the {num_states} graphs in "
                         f"the state, A = the system's action_dim {action_dim}), got {got}")


@dataclasses.dataclass
class ForwardModelConfig:
    """Everything needed to rebuild a forward model from a checkpoint."""

    kind: str  # gn | recurrent | mlp
    static_sizes: tuple[int, int, int]  # static graph (nodes, edges, globals) feature sizes
    latent: int = 128
    hidden: tuple[int, ...] = (128,)
    recurrent_hidden: int = 32
    # MLP only: the fixed topology it flattens
    num_nodes: int = 0
    num_edges: int = 0
    # x, y inputs: "relative" (translation invariant), "absolute", "per-system" (absolute only in the graphs
    # whose dynamics depend on where they are, gncontrol.body_state.input_positions), or "legacy"
    # (checkpoints before 2026-12, see gncontrol.body_state.relative_positions)
    positions: str = "relative"
    # control steps one model step covers: 1, or k for a model at the decision time step trained on
    # k-step transitions of actions held for k control steps (SystemTrajectories.every(k))
    control_steps: int = 1


class GraphForwardModel(nn.Module):
    """Shared normalisation, step and loss; subclasses define `predict(input_graph)`."""

    differentiable = True
    # step / rollout run B copies of one topology densely (gncontrol.forward.fast_path) when this model
    # has a `dense_predict`; set False on an instance to force the generic Graph path
    fast_path = True

    def __init__(self, config: ForwardModelConfig):
        super().__init__()
        check_at_least_one(control_steps=config.control_steps)
        self.config = config
        fv, fe, fu = config.static_sizes
        self.static_sizes = GraphSizes(fv, fe, fu)
        self.input_sizes = GraphSizes(fv + STATE_SIZE, fe + 1, fu)
        self.norm_static_nodes = Normaliser(fv)
        self.norm_static_edges = Normaliser(fe)
        self.norm_static_globals = Normaliser(fu)
        self.norm_state = Normaliser(STATE_SIZE)
        self.norm_action = Normaliser(1)
        self.norm_delta = Normaliser(STATE_SIZE)

    @property
    def control_steps(self) -> int:
        """Control steps one `step` covers (planners.base.model_time_step reads it)."""
        return self.config.control_steps

    # -------------------------------------------------------------- normalisation
    @torch.no_grad()
    def fit_normalisers(self, states: torch.Tensor, next_states: torch.Tensor, system: GraphSystem,
                        actions: torch.Tensor) -> None:
        """Fits every normaliser on training transitions: states/next [M, N_total, 13]."""
        s = system.static
        self.norm_static_nodes.fit(s.nodes)
        self.norm_static_edges.fit(s.edges)
        self.norm_static_globals.fit(s.globals)
        rel = torch.stack([input_positions(x, s, self.config.positions) for x in states])
        self.norm_state.fit(rel)
        self.norm_action.fit(torch.stack([system.edge_actions(a) for a in actions]))
        self.norm_delta.fit(next_states - states)

    def input_graph(self, state: Graph, action: torch.Tensor, system: GraphSystem) -> Graph:
        """The normalised model input (see module doc) for B states and actions [B, A]."""
        check_state(state.nodes)
        system = system.broadcast(state.num_graphs)
        check_action(action, state.num_graphs, system.action_dim)
        s = system.static
        if s.nodes.shape[0] != state.nodes.shape[0] or s.edges.shape[0] != state.edges.shape[0]:
            raise InputError(f"state graph ({state.nodes.shape[0]} nodes, {state.edges.shape[0]} edges)"
                             f" and static graph ({s.nodes.shape[0]} nodes, {s.edges.shape[0]} edges)"
                             " must have the same topology")
        body = input_positions(state.nodes[:, :STATE_SIZE], s, self.config.positions)
        return s.replace(
            nodes=torch.cat([self.norm_static_nodes(s.nodes), self.norm_state(body)], -1),
            edges=torch.cat([self.norm_static_edges(s.edges),
                             self.norm_action(system.edge_actions(action))], -1),
            globals=self.norm_static_globals(s.globals),
        )

    # ------------------------------------------------------------------ interface
    def predict(self, graph: Graph, state: Graph) -> tuple[torch.Tensor, Graph | None]:
        """Normalised deltas [N, 13] (and the new recurrent state, if any)."""
        raise NotImplementedError

    def forward(self, state: Any, action: Any = None, next_nodes: Any = None, system: Any = None,
                noise_std: float = 0.0, weights: torch.Tensor | None = None) -> torch.Tensor:
        """The training loss (so DistributedDataParallel can wrap the model): `rollout_loss` when `state`
        is a list of H consecutive transition batches, else the one-step `loss`."""
        if isinstance(state, list):
            return self.rollout_loss(state, noise_std)
        return self.loss(state, action, next_nodes, system, noise_std, weights)

    def step(self, state: Graph, action: torch.Tensor, params: Any = None) -> Graph:
        """Next state graph for B states [N, 13(+hidden)] and actions [B, A]; params a GraphSystem."""
        topo = fast_path.applicable(self, state, action, params)
        if topo is not None:
            return fast_path.step(self, state, action, params, topo, {})
        fast_path.stats["generic"] += 1
        if not isinstance(params, GraphSystem):
            raise InputError("graph forward models need params=GraphSystem (static graph + edge map)")
        params = params.broadcast(state.num_graphs)
        delta_n, hidden = self.predict(self.input_graph(state, action, params), state)
        nodes = apply_delta(state.nodes, self.norm_delta.inverse(delta_n))
        edges = params.edge_actions(action)
        if hidden is not None:
            return state.replace(nodes=torch.cat([nodes, hidden.nodes], -1),
                                 edges=torch.cat([edges, hidden.edges], -1), globals=hidden.globals)
        return state.replace(nodes=nodes, edges=edges)

    def rollout(self, state: Graph, actions: torch.Tensor, params: Any = None) -> list[Graph]:
        """States after each of the T actions [B, T, A] (gncontrol.dynamics.rollout, which prefers this).

        The same states as T calls of `step`; on the fast path the normalised static graph and its
        share of every first layer are computed once for all T steps.
        """
        if actions.dim() != 3:
            raise InputError(f"actions must be [B, T, A], got shape {tuple(actions.shape)}")
        memo: dict = {}
        if actions.shape[1]:
            topo = fast_path.applicable(self, state, actions[:, 0], params)
            fused = fast_path.fused_rollout(self, state, actions, params, topo, memo) if topo is not None else None
            if fused is not None:  # a GNForwardModel: all T steps as one autograd node
                return fused
        states = []
        for t in range(actions.shape[1]):
            action = actions[:, t]
            topo = fast_path.applicable(self, state, action, params)
            state = (fast_path.step(self, state, action, params, topo, memo) if topo is not None
                     else self.step(state, action, params))
            states.append(state)
        return states

    def loss(self, state: Graph, action: torch.Tensor, next_nodes: torch.Tensor, system: GraphSystem,
             noise_std: float = 0.0, weights: torch.Tensor | None = None) -> torch.Tensor:
        """One-step MSE on normalised deltas; optional input noise (target corrected for it).

        The noise is in normalised state units; the target becomes next - noisy input, so the
        model learns to pull a perturbed state back, which steadies long rollouts.
        `weights` [N_total, 13] (or broadcastable): per node and feature weights of the squared
        errors (gncontrol.forward.balance: each system of a mixed batch counted equally).
        """
        state = self.add_input_noise(state, noise_std)
        pred, _ = self.predict(self.input_graph(state, action, system), state)
        target = self.norm_delta(next_nodes[:, :STATE_SIZE] - state.nodes[:, :STATE_SIZE])
        err = (pred - target).square()
        return (err if weights is None else err * weights).mean()

    def rollout_loss(self, batches: list, noise_std: float = 0.0) -> torch.Tensor:
        """H-step loss of the model's own rollout over H consecutive transition batches of the same windows.

        `batches`: H TransitionBatch (gncontrol.forward.transitions.sample_sequences) with one topology;
        the rollout starts from the first batch's state and feeds its own predictions on (see
        `unrolled_loss`), so training sees, and corrects, the drift a planner's rollout meets.
        """
        first = batches[0]
        actions = torch.stack([b.action for b in batches], 1)
        next_nodes = torch.stack([b.next_nodes[:, :STATE_SIZE] for b in batches])
        return self.unrolled_loss(first.state, actions, next_nodes, first.system, noise_std)

    def unrolled_loss(self, state: Graph, actions: torch.Tensor, next_nodes: torch.Tensor, system: GraphSystem,
                      noise_std: float = 0.0) -> torch.Tensor:
        """Mean H-step error (normalised-delta units) of this model's rollout, gradients through it.

        state: B graphs; actions [B, H, A]; next_nodes [H, N_total, 13] (true states). Step h's
        target is the delta from the PREDICTED state to the true state h+1 (so the loss is the
        state error at every step and the model learns to correct its own drift); input noise on
        the start state only (as `loss`). H = 1 is exactly the one-step loss. Models without
        recurrent state only (a recurrent one trains with its `sequence_loss`).
        """
        if actions.dim() != 3 or next_nodes.dim() != 3 or next_nodes.shape[0] != actions.shape[1]:
            raise InputError(f"rollout loss needs actions [B, H, A] and next_nodes [H, N, 13], got "
                             f"{tuple(actions.shape)} and {tuple(next_nodes.shape)}")
        x = self.add_input_noise(state, noise_std)
        x = x.replace(nodes=x.nodes[:, :STATE_SIZE])
        losses = []
        for h in range(actions.shape[1]):
            pred, hidden = self.predict(self.input_graph(x, actions[:, h], system), x)
            if hidden is not None:
                raise InputError("a rollout loss needs a forward model without recurrent state")
            target = self.norm_delta(next_nodes[h, :, :STATE_SIZE] - x.nodes)
            losses.append((pred - target).square().mean())
            x = x.replace(nodes=apply_delta(x.nodes, self.norm_delta.inverse(pred)),
                          edges=system.broadcast(x.num_graphs).edge_actions(actions[:, h]))
        return torch.stack(losses).mean()

    def add_input_noise(self, state: Graph, noise_std: float) -> Graph:
        """The state with Gaussian noise of `noise_std` normalised units on its body numbers (not the quaternions)."""
        if noise_std <= 0:
            return state
        noise = torch.randn_like(state.nodes[:, :STATE_SIZE]) * noise_std * self.norm_state.std
        noise[:, 3:7] = 0.0  # keep quaternions on the unit sphere
        return state.replace(nodes=torch.cat([state.nodes[:, :STATE_SIZE] + noise, state.nodes[:, STATE_SIZE:]], -1))


class GNForwardModel(GraphForwardModel):
    """Two GN blocks with unshared weights and a graph skip connection (the paper's model)."""

    def __init__(self, config: ForwardModelConfig):
        super().__init__(config)
        hid, lat = config.hidden, config.latent

        def f(out: int):
            return lambda i: mlp(i, hid, out)

        self.gn1 = GraphNetwork(self.input_sizes, f(lat), f(lat), f(lat))
        # GN2's global output would be unused (only node predictions are read): edge + node blocks.
        edge2 = EdgeBlock(self.input_sizes + self.gn1.out_sizes, f(lat))
        self.gn2 = nn.Sequential(edge2, NodeBlock(edge2.out_sizes, f(STATE_SIZE)))

    def predict(self, graph: Graph, state: Graph) -> tuple[torch.Tensor, None]:
        """G* = GN2(concat(G, GN1(G))); returns G*'s nodes [N, 13]."""
        return self.gn2(concat([graph, self.gn1(graph)])).nodes, None

    def dense_predict(self, graph: fast_path.DenseGraph, state: Graph, topo: fast_path.FixedTopology, batch: int,
                      memo: dict) -> tuple[torch.Tensor, None]:
        """`predict` on the fast path's dense pieces: deltas [B, N, 13]."""
        return fast_path.gn_predict(self, graph, topo, batch, memo), None


class RecurrentGNForwardModel(GraphForwardModel):
    """GN with GRU state on edges, nodes and globals; hidden state kept in the state graph."""

    def __init__(self, config: ForwardModelConfig):
        super().__init__(config)
        h = config.recurrent_hidden
        self.hidden = GraphSizes(h, h, h)
        self.core = RecurrentGraphNetwork(self.input_sizes, self.hidden,
                                          lambda i, o: mlp(i, config.hidden, o))
        self.decoder = mlp(h + self.input_sizes.nodes, config.hidden, STATE_SIZE)

    def initial_hidden(self, state: Graph) -> Graph:
        """State graph with zero hidden features appended (call before a rollout)."""
        h = self.hidden.nodes
        z = state.nodes.new_zeros
        return state.replace(nodes=torch.cat([state.nodes[:, :STATE_SIZE], z(state.nodes.shape[0], h)], -1),
                             edges=torch.cat([state.edges[:, :1], z(state.edges.shape[0], h)], -1),
                             globals=z(state.globals.shape[0], h))

    def forward(self, state: Any, action: Any = None, next_nodes: Any = None, system: Any = None,
                noise_std: float = 0.0, weights: torch.Tensor | None = None, burn_in: int = 0) -> torch.Tensor:
        """The training loss: `sequence_loss` when `state` is a list of T transition batches, else one-step `loss`."""
        if isinstance(state, list):
            return self.sequence_loss(state, noise_std, burn_in)
        return self.loss(state, action, next_nodes, system, noise_std, weights)

    def sequence_loss(self, batches: list, noise_std: float = 0.0, burn_in: int = 0) -> torch.Tensor:
        """Mean one-step loss over T consecutive transitions [t, t+1), [t+1, t+2), ... of the same windows.

        Truncated backpropagation through time: the hidden state is carried from step to step
        (starting at zero), so the recurrence is trained as it is used in a rollout; inputs are the
        true states (teacher forcing), with input noise as in `loss`. The first `burn_in` steps
        only warm the hidden state up (no loss, no gradient).
        `batches`: T TransitionBatch (gncontrol.forward.transitions.sample_sequences) with one topology.
        """
        if not 0 <= burn_in < len(batches):
            raise InputError(f"burn_in must be in [0, {len(batches)}) for {len(batches)}-step windows, got {burn_in}")
        hidden, losses = None, []
        for k, b in enumerate(batches):
            state = b.state
            if hidden is not None:
                state = state.replace(nodes=torch.cat([state.nodes[:, :STATE_SIZE], hidden.nodes], -1),
                                      edges=torch.cat([state.edges[:, :1], hidden.edges], -1), globals=hidden.globals)
            state = self.add_input_noise(state, noise_std)
            with torch.set_grad_enabled(k >= burn_in and torch.is_grad_enabled()):
                pred, hidden = self.predict(self.input_graph(state, b.action, b.system), state)
            if k < burn_in:
                hidden = hidden.replace(nodes=hidden.nodes.detach(), edges=hidden.edges.detach(),
                                        globals=hidden.globals.detach())
                continue
            target = self.norm_delta(b.next_nodes[:, :STATE_SIZE] - state.nodes[:, :STATE_SIZE])
            losses.append((pred - target).square().mean())
        return torch.stack(losses).mean()

    def predict(self, graph: Graph, state: Graph) -> tuple[torch.Tensor, Graph]:
        """One GRU-GN step from the hidden part of `state` (zeros if it has none)."""
        h = self.hidden.nodes
        if state.nodes.shape[-1] != STATE_SIZE + h:
            state = self.initial_hidden(state)
        hidden = state.replace(nodes=state.nodes[:, STATE_SIZE:], edges=state.edges[:, 1:],
                               globals=state.globals)
        _, new_hidden = self.core(graph, hidden)
        return self.decoder(torch.cat([new_hidden.nodes, graph.nodes], -1)), new_hidden

    def dense_predict(self, graph: fast_path.DenseGraph, state: Graph, topo: fast_path.FixedTopology, batch: int,
                      memo: dict) -> tuple[torch.Tensor, tuple]:
        """`predict` on the fast path's dense pieces: deltas [B, N, 13] and the new hidden (nodes, edges, globals)."""
        return fast_path.recurrent_predict(self, graph, state, topo, batch, memo)


class MLPForwardModel(GraphForwardModel):
    """An MLP on the flattened input graph of one fixed topology (the paper's baseline)."""

    fast_path = False  # no dense_predict: always the generic path

    def __init__(self, config: ForwardModelConfig):
        super().__init__(config)
        n, e = config.num_nodes, config.num_edges
        if n <= 0:
            raise InputError("MLPForwardModel needs num_nodes (and num_edges) of its one system")
        s = self.input_sizes
        self.net = mlp(n * s.nodes + e * s.edges + s.globals, config.hidden, n * STATE_SIZE)

    def predict(self, graph: Graph, state: Graph) -> tuple[torch.Tensor, None]:
        """Flattens each graph's nodes/edges/globals into one vector, predicts [N, 13]."""
        b, n, e = graph.num_graphs, self.config.num_nodes, self.config.num_edges
        if graph.nodes.shape[0] != b * n or graph.edges.shape[0] != b * e:
            raise InputError(f"this MLP model was trained on graphs of {n} nodes and {e} edges")
        x = torch.cat([graph.nodes.reshape(b, -1), graph.edges.reshape(b, -1), graph.globals], -1)
        return self.net(x).reshape(b * n, STATE_SIZE), None


class ConstantModel(nn.Module):
    """Predicts no change: next state = state. Errors are reported relative to it."""

    differentiable = True

    def step(self, state: Graph, action: torch.Tensor, params: Any = None) -> Graph:
        """Returns the state unchanged (edges take the new action when a system is given)."""
        if isinstance(params, GraphSystem):
            check_action(action, state.num_graphs, params.action_dim)
            return state.replace(edges=params.broadcast(state.num_graphs).edge_actions(action))
        return state


_KINDS = {"gn": GNForwardModel, "recurrent": RecurrentGNForwardModel, "mlp": MLPForwardModel}


def build_forward_model(config: ForwardModelConfig) -> GraphForwardModel:
    """The forward model named by `config.kind` (gn, recurrent or mlp)."""
    if config.kind not in _KINDS:
        raise InputError(f"unknown model kind '{config.kind}', expected one of {sorted(_KINDS)}")
    return _KINDS[config.kind](config)
