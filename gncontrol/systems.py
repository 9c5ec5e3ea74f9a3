"""`GraphSystem`: the parameters a graph dynamics model needs besides the state.

The static graph (true system parameters, or the latent graph a system-identification
encoder inferred) and the map from each edge (joint) to the actuator that drives it, so a
flat action [B, A] becomes per-edge features [E_total, 1].
"""

from __future__ import annotations

import dataclasses

import torch

from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph, batch, tile

__all__ = ["GraphSystem"]


@dataclasses.dataclass(frozen=True, eq=False)
class GraphSystem:
    """static: B graphs; edge_actuator [E_total] long, index into action.reshape(-1) or -1.

    `action_dim` is the width A of the actions [B, A] the index refers to. A system of one
    graph broadcasts over B states (`broadcast`), as a planner's many copies of one system.
    """

    static: Graph
    edge_actuator: torch.Tensor
    action_dim: int

    @staticmethod
    def single(static: Graph, edge_actuator, action_dim: int) -> GraphSystem:
        """A system of one graph; edge_actuator [E] holds actuator indices in [0, A) or -1."""
        ea = torch.as_tensor(edge_actuator, dtype=torch.long, device=static.device).reshape(-1)
        if static.num_graphs != 1:
            raise InputError(f"GraphSystem.single needs one static graph, got {static.num_graphs}")
        if ea.shape[0] != static.edges.shape[0]:
            raise InputError(f"edge_actuator has {ea.shape[0]} entries for {static.edges.shape[0]} edges")
        if (ea >= action_dim).any():
            raise InputError(f"edge_actuator refers to actuator {int(ea.max())} but the action has "
                             f"{action_dim} entries")
        return GraphSystem(static, ea, action_dim)

    def tile(self, copies: int) -> GraphSystem:
        """B copies of a one-graph system (index offsets by b * action_dim)."""
        a = self.action_dim
        e = self.edge_actuator.shape[0]
        offs = (torch.arange(copies, device=self.static.device) * a).repeat_interleave(e)
        ea = self.edge_actuator.repeat(copies)
        return GraphSystem(tile(self.static, copies), torch.where(ea >= 0, ea + offs, ea), a)

    def repeat(self, copies: int) -> GraphSystem:
        """The B graphs `copies` times over as one batch of copies * B (graph c * B + b is graph b)."""
        b, a, e = self.static.num_graphs, self.action_dim, self.edge_actuator.shape[0]
        offs = (torch.arange(copies, device=self.static.device) * b * a).repeat_interleave(e)
        ea = self.edge_actuator.repeat(copies)
        return GraphSystem(batch([self.static] * copies), torch.where(ea >= 0, ea + offs, ea), a)

    def broadcast(self, copies: int) -> GraphSystem:
        """This system for `copies` states: itself if it already has that many graphs, else tiled.

        The last tiling is cached, so a planner stepping B copies for H steps tiles once.
        """
        if self.static.num_graphs == copies:
            return self
        if self.static.num_graphs != 1:
            raise InputError(f"a system of {self.static.num_graphs} graphs cannot serve {copies} states")
        cache = self.__dict__.get("_broadcast_cache")
        if cache is None or cache[0] != copies:
            cache = (copies, self.tile(copies))
            object.__setattr__(self, "_broadcast_cache", cache)
        return cache[1]

    def edge_actions(self, action: torch.Tensor) -> torch.Tensor:
        """Flat actions [B, A] -> per-edge actions [E_total, 1] (0 on unactuated joints)."""
        flat = action.reshape(-1)
        idx = self.edge_actuator.clamp(min=0)
        vals = flat.index_select(0, idx) if flat.numel() else flat.new_zeros(idx.shape[0])
        return torch.where(self.edge_actuator >= 0, vals, torch.zeros_like(vals)).unsqueeze(-1)

    def to(self, device=None, dtype=None) -> GraphSystem:
        """Moves the static graph (and casts its features) and the index."""
        return GraphSystem(self.static.to(device, dtype), self.edge_actuator.to(device), self.action_dim)
