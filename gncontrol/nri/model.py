"""Neural Relational Inference (Kipf et al. 2018): encoders, decoders, latent graph, loss.

Tensor layout (as the authors' code): trajectories x [B, N, T, D] (B systems, N objects, T
frames, D features); the fully connected directed graph without self loops has E = N(N-1)
edges in sender-major order (`fully_connected`); edge-type logits / samples are [B, E, K].

The decoder with a given graph is a dynamics model under gncontrol.dynamics' interface via
`NRIDynamics`: state [B, N*D] (node-major: object 0's D features, then object 1's...),
action ignored, params = edge-type probabilities (or samples) [B, E, K].
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gncontrol.errors import InputError

__all__ = [
    "fully_connected",
    "MLPBlock",
    "MLPEncoder",
    "CNNEncoder",
    "MLPDecoder",
    "RNNDecoder",
    "NRI",
    "NRIDynamics",
    "nll_gaussian",
    "kl_categorical",
    "build_encoder",
    "build_decoder",
    "count_parameters",
]


def fully_connected(n: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Senders and receivers [E] of the complete directed graph on n nodes, sender-major, no self loops."""
    idx = torch.arange(n, device=device)
    send = idx.repeat_interleave(n)
    recv = idx.repeat(n)
    keep = send != recv
    return send[keep], recv[keep]


def _node2edge(x: torch.Tensor, send: torch.Tensor, recv: torch.Tensor) -> torch.Tensor:
    """[B, N, F] -> [B, E, 2F] = [x_sender, x_receiver]."""
    return torch.cat([x[:, send], x[:, recv]], dim=-1)


def _edge2node(e: torch.Tensor, recv: torch.Tensor, n: int) -> torch.Tensor:
    """Sum of incoming edge features: [B, E, F] -> [B, N, F]."""
    out = e.new_zeros(e.shape[0], n, e.shape[-1])
    return out.index_add_(1, recv, e)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (what fNRI's Table 3 counts)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class MLPBlock(nn.Module):
    """NRI's MLP: Linear -> ELU -> dropout -> Linear -> ELU -> BatchNorm over all rows."""

    def __init__(self, n_in: int, n_hid: int, n_out: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hid)
        self.fc2 = nn.Linear(n_hid, n_out)
        self.bn = nn.BatchNorm1d(n_out)
        self.dropout = dropout
        for fc in (self.fc1, self.fc2):
            nn.init.xavier_normal_(fc.weight)
            nn.init.constant_(fc.bias, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[..., n_in] -> [..., n_out]."""
        h = F.elu(self.fc1(x))
        h = F.dropout(h, self.dropout, training=self.training)
        h = F.elu(self.fc2(h))
        shape = h.shape
        return self.bn(h.reshape(-1, shape[-1])).reshape(shape)


def _init_linear(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_normal_(m.weight)
            nn.init.constant_(m.bias, 0.1)


class MLPEncoder(nn.Module):
    """NRI's MLP encoder: node MLP on whole trajectories, edge/node/edge passes, skip, K logits.

    Input x [B, N, T, D] (n_in = T*D); output logits [B, E, n_out]. Parameters:
    709,632 + 257*n_out at hidden 256 with n_in = 196 (fNRI Table 3).
    """

    def __init__(self, n_in: int, n_hid: int, n_out: int, dropout: float = 0.0):
        super().__init__()
        self.mlp1 = MLPBlock(n_in, n_hid, n_hid, dropout)
        self.mlp2 = MLPBlock(2 * n_hid, n_hid, n_hid, dropout)
        self.mlp3 = MLPBlock(n_hid, n_hid, n_hid, dropout)
        self.mlp4 = MLPBlock(3 * n_hid, n_hid, n_hid, dropout)
        self.fc_out = nn.Linear(n_hid, n_out)
        _init_linear(self.fc_out)
        self.n_in = n_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Edge-type logits [B, E, K] from trajectories [B, N, T, D]."""
        b, n = x.shape[:2]
        flat = x.reshape(b, n, -1)
        if flat.shape[-1] != self.n_in:
            raise InputError(f"MLPEncoder expects T*D = {self.n_in} features per object, got {flat.shape[-1]}")
        send, recv = fully_connected(n, x.device)
        h = self.mlp1(flat)
        h = self.mlp2(_node2edge(h, send, recv))
        skip = h
        h = _edge2node(h, recv, n) / n  # the authors' code averages over N
        h = self.mlp3(h)
        h = torch.cat([_node2edge(h, send, recv), skip], dim=-1)
        return self.fc_out(self.mlp4(h))


class _AttentiveCNN(nn.Module):
    """Per-edge 1D CNN over time with attentive pooling (NRI's CNN)."""

    def __init__(self, n_in: int, n_hid: int, n_out: int, dropout: float = 0.0):
        super().__init__()
        self.conv1 = nn.Conv1d(n_in, n_hid, kernel_size=5)
        self.bn1 = nn.BatchNorm1d(n_hid)
        self.conv2 = nn.Conv1d(n_hid, n_hid, kernel_size=5)
        self.bn2 = nn.BatchNorm1d(n_hid)
        self.conv_predict = nn.Conv1d(n_hid, n_out, kernel_size=1)
        self.conv_attention = nn.Conv1d(n_hid, 1, kernel_size=1)
        self.pool = nn.MaxPool1d(2)
        self.dropout = dropout
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (m.kernel_size[0] * m.out_channels)))
                nn.init.constant_(m.bias, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[rows, C, T] -> [rows, n_out]."""
        h = self.bn1(F.relu(self.conv1(x)))
        h = self.pool(F.dropout(h, self.dropout, training=self.training))
        h = self.bn2(F.relu(self.conv2(h)))
        pred = self.conv_predict(h)
        attention = torch.softmax(self.conv_attention(h), dim=2)
        return (pred * attention).mean(dim=2)


class CNNEncoder(nn.Module):
    """NRI's CNN encoder: per-edge CNN over the pair's trajectories, then node/edge MLP passes.

    Input x [B, N, T, D] (T >= 14); output logits [B, E, n_out].
    """

    def __init__(self, n_dims: int, n_hid: int, n_out: int, dropout: float = 0.0):
        super().__init__()
        self.cnn = _AttentiveCNN(2 * n_dims, n_hid, n_hid, dropout)
        self.mlp1 = MLPBlock(n_hid, n_hid, n_hid, dropout)
        self.mlp2 = MLPBlock(n_hid, n_hid, n_hid, dropout)
        self.mlp3 = MLPBlock(3 * n_hid, n_hid, n_hid, dropout)
        self.fc_out = nn.Linear(n_hid, n_out)
        _init_linear(self.fc_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Edge-type logits [B, E, K] from trajectories [B, N, T, D]."""
        b, n, t, d = x.shape
        send, recv = fully_connected(n, x.device)
        pair = torch.cat([x[:, send], x[:, recv]], dim=-1)  # [B, E, T, 2D]
        e = pair.shape[1]
        h = self.cnn(pair.reshape(b * e, t, 2 * d).transpose(1, 2)).reshape(b, e, -1)
        h = self.mlp1(h)
        skip = h
        h = self.mlp2(_edge2node(h, recv, n) / n)
        h = torch.cat([_node2edge(h, send, recv), skip], dim=-1)
        return self.fc_out(self.mlp3(h))


class MLPDecoder(nn.Module):
    """NRI's Markovian decoder: one edge MLP per edge type, summed messages, residual node MLP.

    `skip_types`: edge types that send no messages (skip-first = [0]). Parameters:
    68,096*K + 133,636 at hidden 256 and D = 4 (fNRI Table 3).
    """

    def __init__(self, n_dims: int, edge_types: int, msg_hid: int, msg_out: int, n_hid: int,
                 dropout: float = 0.0, skip_types: tuple[int, ...] = ()):
        super().__init__()
        self.msg_fc1 = nn.ModuleList([nn.Linear(2 * n_dims, msg_hid) for _ in range(edge_types)])
        self.msg_fc2 = nn.ModuleList([nn.Linear(msg_hid, msg_out) for _ in range(edge_types)])
        self.out_fc1 = nn.Linear(n_dims + msg_out, n_hid)
        self.out_fc2 = nn.Linear(n_hid, n_hid)
        self.out_fc3 = nn.Linear(n_hid, n_dims)
        self.edge_types = edge_types
        self.skip_types = tuple(skip_types)
        self.msg_out = msg_out
        self.dropout = dropout

    def single_step(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """One step: x [..., N, D], z [..., E, K] (same leading dims) -> mean of x at t+1 [..., N, D]."""
        n = x.shape[-2]
        send, recv = fully_connected(n, x.device)
        pre = torch.cat([x[..., send, :], x[..., recv, :]], dim=-1)
        msgs = 0.0
        for k in range(self.edge_types):
            if k in self.skip_types:
                continue
            m = F.relu(self.msg_fc1[k](pre))
            m = F.dropout(m, self.dropout, training=self.training)
            m = F.relu(self.msg_fc2[k](m))
            msgs = msgs + m * z[..., k:k + 1]
        if isinstance(msgs, float):
            msgs = pre.new_zeros(*pre.shape[:-1], self.msg_out)
        agg = msgs.new_zeros(*msgs.shape[:-2], n, msgs.shape[-1]).index_add_(-2, recv, msgs)
        h = torch.cat([x, agg], dim=-1)
        h = F.dropout(F.relu(self.out_fc1(h)), self.dropout, training=self.training)
        h = F.dropout(F.relu(self.out_fc2(h)), self.dropout, training=self.training)
        return x + self.out_fc3(h)

    def forward(self, x: torch.Tensor, z: torch.Tensor, pred_steps: int = 1) -> torch.Tensor:
        """Teacher forcing every `pred_steps`: x [B, N, T, D], z [B, E, K] -> predictions of frames
        1..T-1 [B, N, T-1, D]; ground truth is fed at t = 0, M, 2M... and the decoder rolls out
        M steps from each on its own predictions (gradients flow through the rollouts)."""
        b, n, t, d = x.shape
        if not 1 <= pred_steps <= t:
            raise InputError(f"pred_steps must be in [1, T={t}], got {pred_steps}")
        xs = x.transpose(1, 2)  # [B, T, N, D]
        cur = xs[:, 0::pred_steps]
        zz = z.unsqueeze(1).expand(b, cur.shape[1], *z.shape[1:])
        preds = []
        for _ in range(pred_steps):
            cur = self.single_step(cur, zz)
            preds.append(cur)
        out = torch.stack(preds, dim=2).reshape(b, -1, n, d)  # frames 1,2,..,M, M+1, ...
        return out[:, :t - 1].transpose(1, 2)

    def rollout(self, x0: torch.Tensor, z: torch.Tensor, steps: int) -> torch.Tensor:
        """Open-loop predictions from x0 [B, N, D] for `steps` frames -> [B, N, steps, D]."""
        preds, cur = [], x0
        for _ in range(steps):
            cur = self.single_step(cur, z)
            preds.append(cur)
        return torch.stack(preds, dim=2)


class RNNDecoder(nn.Module):
    """NRI's recurrent decoder: GRU-gated node hidden states driven by messages between hidden states.

    forward(x [B, N, T, D], z [B, E, K], burn_in_steps) -> predictions of frames 1..T-1: ground
    truth is fed for the first `burn_in_steps` + 1 inputs, own predictions afterwards.
    """

    def __init__(self, n_dims: int, edge_types: int, n_hid: int, dropout: float = 0.0,
                 skip_types: tuple[int, ...] = ()):
        super().__init__()
        self.msg_fc1 = nn.ModuleList([nn.Linear(2 * n_hid, n_hid) for _ in range(edge_types)])
        self.msg_fc2 = nn.ModuleList([nn.Linear(n_hid, n_hid) for _ in range(edge_types)])
        self.hidden_r = nn.Linear(n_hid, n_hid, bias=False)
        self.hidden_i = nn.Linear(n_hid, n_hid, bias=False)
        self.hidden_h = nn.Linear(n_hid, n_hid, bias=False)
        self.input_r = nn.Linear(n_dims, n_hid)
        self.input_i = nn.Linear(n_dims, n_hid)
        self.input_n = nn.Linear(n_dims, n_hid)
        self.out_fc1 = nn.Linear(n_hid, n_hid)
        self.out_fc2 = nn.Linear(n_hid, n_hid)
        self.out_fc3 = nn.Linear(n_hid, n_dims)
        self.edge_types = edge_types
        self.skip_types = tuple(skip_types)
        self.n_hid = n_hid
        self.dropout = dropout

    def single_step(self, x: torch.Tensor, z: torch.Tensor,
                    hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, N, D], z [B, E, K], hidden [B, N, H] -> (mean of x at t+1, new hidden)."""
        n = x.shape[1]
        send, recv = fully_connected(n, x.device)
        pre = _node2edge(hidden, send, recv)
        active = [k for k in range(self.edge_types) if k not in self.skip_types]
        msgs = pre.new_zeros(*pre.shape[:-1], self.n_hid)
        for k in active:
            m = torch.tanh(self.msg_fc1[k](pre))
            m = F.dropout(m, self.dropout, training=self.training)
            m = torch.tanh(self.msg_fc2[k](m))
            msgs = msgs + m * z[..., k:k + 1] / max(len(active), 1)
        agg = _edge2node(msgs, recv, n) / n
        r = torch.sigmoid(self.input_r(x) + self.hidden_r(agg))
        i = torch.sigmoid(self.input_i(x) + self.hidden_i(agg))
        c = torch.tanh(self.input_n(x) + r * self.hidden_h(agg))
        hidden = (1 - i) * c + i * hidden
        h = F.dropout(F.relu(self.out_fc1(hidden)), self.dropout, training=self.training)
        h = F.dropout(F.relu(self.out_fc2(h)), self.dropout, training=self.training)
        return x + self.out_fc3(h), hidden

    def forward(self, x: torch.Tensor, z: torch.Tensor, burn_in_steps: int) -> torch.Tensor:
        """Predictions of frames 1..T-1 [B, N, T-1, D]; see the class docstring."""
        b, n, t, _ = x.shape
        hidden = x.new_zeros(b, n, self.n_hid)
        preds: list[torch.Tensor] = []
        for step in range(t - 1):
            inp = x[:, :, step] if step <= burn_in_steps else preds[-1]
            pred, hidden = self.single_step(inp, z, hidden)
            preds.append(pred)
        return torch.stack(preds, dim=2)


def nll_gaussian(preds: torch.Tensor, target: torch.Tensor, variance: float) -> torch.Tensor:
    """NRI's loss: sum (x - mu)^2 / (2 sigma^2) / (B * N), the log-normaliser dropped."""
    return ((preds - target) ** 2 / (2 * variance)).sum() / (target.shape[0] * target.shape[1])


def kl_categorical(probs: torch.Tensor, n_atoms: int, log_prior: torch.Tensor | None = None,
                   eps: float = 1e-16) -> torch.Tensor:
    """KL(q || prior) per NRI's code: sum q (log q - log p) / (B * N); uniform prior drops log K."""
    kl = probs * torch.log(probs + eps)
    if log_prior is not None:
        kl = kl - probs * log_prior
    return kl.sum() / (n_atoms * probs.shape[0])


def build_encoder(kind: str, n_timesteps: int, n_dims: int, n_hid: int, n_out: int,
                  dropout: float = 0.0) -> nn.Module:
    """'mlp' or 'cnn' encoder mapping [B, N, n_timesteps, n_dims] to logits [B, E, n_out]."""
    if kind == "mlp":
        return MLPEncoder(n_timesteps * n_dims, n_hid, n_out, dropout)
    if kind == "cnn":
        return CNNEncoder(n_dims, n_hid, n_out, dropout)
    raise InputError(f"unknown NRI encoder '{kind}' (choose mlp or cnn)")


def build_decoder(kind: str, n_dims: int, edge_types: int, n_hid: int, dropout: float = 0.0,
                  skip_types: tuple[int, ...] = ()) -> nn.Module:
    """'mlp' or 'rnn' decoder with `edge_types` message functions."""
    if kind == "mlp":
        return MLPDecoder(n_dims, edge_types, n_hid, n_hid, n_hid, dropout, skip_types)
    if kind == "rnn":
        return RNNDecoder(n_dims, edge_types, n_hid, dropout, skip_types)
    raise InputError(f"unknown NRI decoder '{kind}' (choose mlp or rnn)")


class NRI(nn.Module):
    """NRI VAE: encoder -> K-way Gumbel-softmax edge types -> decoder.

    Subclasses (fNRI, sfNRI in gncontrol.nri.fnri) change only `latent` and `kl`.
    `prior`: optional prior probabilities over the K types (e.g. the sparsity prior
    [0.91, 0.03, 0.03, 0.03]); None means uniform.
    """

    def __init__(self, encoder: nn.Module | None, decoder: nn.Module, edge_types: int, tau: float = 0.5,
                 prior: list[float] | None = None):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.edge_types = edge_types
        self.tau = tau
        if prior is not None:
            p = torch.as_tensor(prior, dtype=torch.float32)
            if p.numel() != edge_types or (p <= 0).any() or abs(float(p.sum()) - 1) > 1e-4:
                raise InputError(f"prior must be {edge_types} positive probabilities summing to 1, got {prior}")
            self.register_buffer("log_prior", p.log())
        else:
            self.log_prior = None

    def latent(self, logits: torch.Tensor, hard: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(edge-type sample z [B, E, K], posterior probabilities [B, E, K]) from logits.

        Soft Gumbel-softmax samples in training, hard straight-through one-hot samples when
        `hard` (validation and test), both at temperature tau.
        """
        z = F.gumbel_softmax(logits, tau=self.tau, hard=hard, dim=-1)
        return z, torch.softmax(logits, dim=-1)

    def kl(self, probs: torch.Tensor, n_atoms: int) -> torch.Tensor:
        """KL term of the ELBO, normalised by B * N as the authors' code does."""
        return kl_categorical(probs, n_atoms, self.log_prior)

    def edge_labels(self, logits: torch.Tensor) -> torch.Tensor:
        """Most likely edge labels: [B, E] (single layer) or [B, E, L] for factorised models."""
        return logits.argmax(dim=-1)

    def decode(self, x: torch.Tensor, z: torch.Tensor, pred_steps: int) -> torch.Tensor:
        """Decoder predictions of frames 1..T-1 of x [B, N, T, D] given z [B, E, K].

        MLP decoder: ground truth every `pred_steps`; RNN decoder: ground-truth burn-in for
        the first T - pred_steps frames, as the authors' training script does.
        """
        if isinstance(self.decoder, RNNDecoder):
            return self.decoder(x, z, burn_in_steps=x.shape[2] - pred_steps)
        return self.decoder(x, z, pred_steps)

    def forward(self, x_enc: torch.Tensor, x_dec: torch.Tensor | None = None, pred_steps: int = 10,
                hard: bool = False) -> dict[str, Any]:
        """Encodes x_enc [B, N, T, D], samples z, decodes x_dec (defaults to x_enc).

        Returns logits [B, E, K], probs, z, and preds [B, N, T'-1, D] for frames 1.. of x_dec.
        """
        if self.encoder is None:
            raise InputError("this NRI has no encoder (fixed-graph baseline): call decode with a graph")
        logits = self.encoder(x_enc)
        z, probs = self.latent(logits, hard)
        x_dec = x_enc if x_dec is None else x_dec
        preds = self.decode(x_dec, z, pred_steps)
        return {"logits": logits, "probs": probs, "z": z, "preds": preds}


class NRIDynamics(nn.Module):
    """An NRI decoder with an inferred graph as a gncontrol dynamics model.

    step(state [B, N*D], action [B, A] (ignored), params z [B, E, K]) -> next state [B, N*D],
    node-major layout (object 0's D features first). Differentiable end to end.
    """

    differentiable = True

    def __init__(self, decoder: MLPDecoder, n_nodes: int, n_dims: int):
        super().__init__()
        if not isinstance(decoder, MLPDecoder):
            raise InputError("NRIDynamics needs the Markovian MLPDecoder (the RNN decoder carries hidden state)")
        self.decoder = decoder
        self.n_nodes = n_nodes
        self.n_dims = n_dims

    def _check(self, state: torch.Tensor, params: Any) -> None:
        if state.dim() != 2 or state.shape[1] != self.n_nodes * self.n_dims:
            raise InputError(f"state must be [B, {self.n_nodes * self.n_dims}], got {tuple(state.shape)}")
        e = self.n_nodes * (self.n_nodes - 1)
        if params is None or params.dim() != 3 or params.shape[:2] != (state.shape[0], e):
            got = None if params is None else tuple(params.shape)
            raise InputError(f"params must be edge-type probabilities [B, {e}, K], got {got}")

    def step(self, state: torch.Tensor, action: torch.Tensor | None = None,
             params: torch.Tensor | None = None) -> torch.Tensor:
        """Next state [B, N*D] from state [B, N*D] under the graph `params` [B, E, K]."""
        self._check(state, params)
        x = state.reshape(-1, self.n_nodes, self.n_dims)
        return self.decoder.single_step(x, params).reshape(state.shape)

    def rollout(self, state: torch.Tensor, actions: torch.Tensor,
                params: torch.Tensor | None = None) -> list[torch.Tensor]:
        """T next states for actions [B, T, A] (ignored except for T), as gncontrol.dynamics.rollout."""
        if actions.dim() != 3:
            raise InputError(f"actions must be [B, T, A], got shape {tuple(actions.shape)}")
        out, s = [], state
        for _ in range(actions.shape[1]):
            s = self.step(s, None, params)
            out.append(s)
        return out
