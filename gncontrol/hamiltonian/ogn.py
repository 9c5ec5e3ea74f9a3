"""DeltaGN, OGN and HOGN (Sanchez-Gonzalez et al. 2019) for planar n-body systems.

State x [B, 4n] is canonical: q = (x_1, y_1, ..., x_n, y_n), then p likewise. Each state
becomes a fully connected graph of n nodes (node features [q_i, p_i, m_i]; edge features the
relative position q_s - q_r and its length) and goes through one `GraphNetwork`:

    DeltaGN  node outputs [N, 4] are the state change over dt:        x' = x + GN(x)
    OGN      node outputs [N, 4] are dx/dt, integrated by an ODE integrator (RK1-RK4, ...)
    HOGN     the global output [B, 1] is H(q, p); dx/dt = (dH/dp, -dH/dq) by autograd, then
             integrated (RK1-RK4 or the symplectic leapfrog / symplectic Euler)

Control (port-Hamiltonian input term, OGN and HOGN): dp/dt += u, with u [B, 2n] a force per
body (actions of size 0 mean uncontrolled). Masses come from `params` [B, n] (default 1).
All three are `DynamicsModel`s: `step(x [B, 4n], u [B, A], params) -> x' [B, 4n]`.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from gncontrol.errors import InputError
from gncontrol.gn.blocks import GraphSizes
from gncontrol.gn.graphs import Graph
from gncontrol.gn.modules import GraphNetwork
from gncontrol.gn.nn import mlp_factory
from gncontrol.hamiltonian.integrators import get_integrator
from gncontrol.hamiltonian.vector_fields import symplectic_gradient

Tensor = torch.Tensor
Kind = Literal["delta", "ogn", "hogn"]

__all__ = ["NBodyGraphModel", "DeltaGN", "OGN", "HOGN", "state_to_graph", "fit_one_step"]


def state_to_graph(x: Tensor, n_bodies: int, masses: Tensor | None = None) -> Graph:
    """Fully connected graph batch from states x [B, 4n] (nodes [B*n, 5], edges [B*n*(n-1), 3])."""
    b = x.shape[0]
    n = n_bodies
    q = x[:, : 2 * n].reshape(b, n, 2)
    p = x[:, 2 * n:].reshape(b, n, 2)
    m = masses if masses is not None else x.new_ones(b, n)
    nodes = torch.cat([q, p, m.unsqueeze(-1)], -1).reshape(b * n, 5)
    s, r = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(n, device=x.device),
                          indexing="ij")
    keep = s != r
    s, r = s[keep], r[keep]
    e = s.shape[0]
    offsets = (torch.arange(b, device=x.device) * n).repeat_interleave(e)
    senders = s.repeat(b) + offsets
    receivers = r.repeat(b) + offsets
    qf = q.reshape(b * n, 2)
    rel = qf[senders] - qf[receivers]
    dist = torch.sqrt((rel ** 2).sum(-1, keepdim=True) + 1e-8)
    ar = torch.arange(b, device=x.device)
    return Graph(nodes=nodes, edges=torch.cat([rel, dist], -1), globals=x.new_zeros(b, 1),
                 senders=senders, receivers=receivers,
                 n_node=torch.full((b,), n, device=x.device, dtype=torch.long),
                 n_edge=torch.full((b,), e, device=x.device, dtype=torch.long),
                 _node_graph=ar.repeat_interleave(n), _edge_graph=ar.repeat_interleave(e),
                 check=False)  # built per forward call by index arithmetic: valid by construction


class NBodyGraphModel(nn.Module):
    """One GN over the n-body graph; `kind` picks DeltaGN, OGN or HOGN (see module doc)."""

    differentiable = True

    def __init__(self, n_bodies: int, kind: Kind = "hogn", hidden: int = 64, layers: int = 2,
                 dt: float = 0.1, method: str = "rk4", action_dim: int = 0):
        super().__init__()
        if kind not in ("delta", "ogn", "hogn"):
            raise InputError(f"unknown kind '{kind}', expected delta, ogn or hogn")
        self.n_bodies = n_bodies
        self.kind = kind
        self.dt = dt
        self.method = method
        get_integrator(method)
        self.state_dim = 4 * n_bodies
        self.action_dim = action_dim
        if action_dim not in (0, 2 * n_bodies):
            raise InputError(f"action_dim must be 0 or {2 * n_bodies} (a force per body), got {action_dim}")
        act = nn.Softplus  # smooth: HOGN differentiates the network twice
        hid = [hidden] * layers
        node_out = 1 if kind == "hogn" else 4
        self.gn = GraphNetwork(
            GraphSizes(5, 3, 1),
            mlp_factory(hid, hidden, act),
            mlp_factory(hid, node_out if kind != "hogn" else hidden, act),
            mlp_factory(hid, 1, act),
            global_block_opt={"use_edges": False},
        )

    # ------------------------------------------------------------------ pieces
    def graph(self, x: Tensor, masses: Tensor | None = None) -> Graph:
        """The input graph for states x [B, 4n]."""
        return state_to_graph(x, self.n_bodies, masses)

    def _node_output(self, x: Tensor, masses: Tensor | None) -> Tensor:
        """GN node outputs reshaped to a state-like [B, 4n] tensor (q parts, then p parts)."""
        out = self.gn(self.graph(x, masses)).nodes.reshape(x.shape[0], self.n_bodies, 4)
        return torch.cat([out[..., :2].reshape(x.shape[0], -1), out[..., 2:].reshape(x.shape[0], -1)], -1)

    def hamiltonian(self, x: Tensor, masses: Tensor | None = None) -> Tensor:
        """Learned H [B] (HOGN only)."""
        if self.kind != "hogn":
            raise InputError(f"{self.kind} has no Hamiltonian; only hogn does")
        return self.gn(self.graph(x, masses)).globals.squeeze(-1)

    def derivative(self, x: Tensor, u: Tensor | None = None, masses: Tensor | None = None) -> Tensor:
        """dx/dt [B, 4n] (OGN: GN output; HOGN: symplectic gradient of H) plus the input force."""
        if self.kind == "delta":
            raise InputError("DeltaGN predicts state changes, not derivatives")
        if self.kind == "ogn":
            dx = self._node_output(x, masses)
        else:
            dx = symplectic_gradient(lambda v: self.hamiltonian(v, masses), x, create_graph=True)
        if u is not None and u.shape[-1]:
            h = 2 * self.n_bodies
            dx = torch.cat([dx[:, :h], dx[:, h:] + u], -1)
        return dx

    # ------------------------------------------------------------ DynamicsModel
    def step(self, state: Tensor, action: Tensor | None = None, params: Any = None,
             dt: float | None = None, method: str | None = None) -> Tensor:
        """Next state [B, 4n] after dt (defaults: the model's dt and integrator)."""
        if state.dim() != 2 or state.shape[-1] != self.state_dim:
            raise InputError(f"state must be [B, {self.state_dim}], got {tuple(state.shape)}")
        if action is not None and action.shape[-1] not in (0, self.action_dim):
            raise InputError(f"action must be [B, {self.action_dim}], got {tuple(action.shape)}")
        dt = self.dt if dt is None else dt
        if self.kind == "delta":
            return state + self._node_output(state, params)
        step = get_integrator(method or self.method)
        return step(lambda x: self.derivative(x, action, params), state, dt)

    def forward(self, state: Tensor, action: Tensor | None = None, params: Any = None) -> Tensor:
        """Same as `step`."""
        return self.step(state, action, params)


def DeltaGN(n_bodies: int, **kw: Any) -> NBodyGraphModel:  # noqa: N802 - a model constructor
    """A GN predicting the state change over dt."""
    return NBodyGraphModel(n_bodies, "delta", **kw)


def OGN(n_bodies: int, **kw: Any) -> NBodyGraphModel:  # noqa: N802
    """A GN predicting dx/dt, integrated by an ODE integrator."""
    return NBodyGraphModel(n_bodies, "ogn", **kw)


def HOGN(n_bodies: int, **kw: Any) -> NBodyGraphModel:  # noqa: N802
    """A GN predicting a scalar H, integrated through its symplectic gradient."""
    return NBodyGraphModel(n_bodies, "hogn", **kw)


def fit_one_step(model: NBodyGraphModel, x: Tensor, x_next: Tensor, steps: int = 1000,
                 batch_size: int = 128, lr: float = 1e-3, seed: int = 0) -> list[float]:
    """Trains `model` on one-step pairs x -> x_next ([N, 4n] each) by MSE; returns the losses."""
    if x.shape != x_next.shape:
        raise InputError(f"x and x_next must match, got {tuple(x.shape)} and {tuple(x_next.shape)}")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 0.05)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=gen).to(x.device)
        loss = ((model.step(x[idx]) - x_next[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses
