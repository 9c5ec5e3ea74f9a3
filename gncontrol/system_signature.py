"""Which system a model was trained on: a topology signature stored in its checkpoint, and the check
that refuses to use the model on another system unless the user asks for it (zero-shot use).

Why: a pendulum GN evaluated on cartpole data, planning cartpole, or mixed with a cartpole GN in
an ensemble runs without complaint and gives nonsense. The signature is the graph's topology
(nodes, senders, receivers, which edge each actuator drives) and the static-feature layout; two
episodes of the same system with other masses or lengths (randomisation) share it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from gncontrol.errors import InputError

__all__ = ["topology_signature", "signature_of", "check_trained_on"]


def topology_signature(num_nodes: int, senders: Any, receivers: Any, edge_actuator: Any,
                       static_sizes: tuple[int, int, int] | None = None) -> dict:
    """{"nodes", "edges", "static_sizes", "digest"} of ONE graph's topology (indices [E], actuators [E])."""
    ints = [np.asarray(torch.as_tensor(x).cpu(), dtype=np.int64).reshape(-1) for x in (senders, receivers,
                                                                                       edge_actuator)]
    h = hashlib.sha1(np.array([num_nodes, *(static_sizes or ())], dtype=np.int64).tobytes())
    for x in ints:
        h.update(x.tobytes())
    return {"nodes": int(num_nodes), "edges": int(ints[0].shape[0]),
            "static_sizes": list(static_sizes) if static_sizes else None, "digest": h.hexdigest()[:16]}


def signature_of(system: Any, static_sizes: bool = True) -> dict:
    """The signature of a SystemTrajectories or a one-graph GraphSystem (the same system gives the same one)."""
    if hasattr(system, "static_nodes"):  # SystemTrajectories
        sizes = (system.static_nodes.shape[-1], system.static_edges.shape[-1], system.static_globals.shape[-1])
        return topology_signature(system.num_nodes, system.senders, system.receivers, system.edge_actuator,
                                  sizes if static_sizes else None)
    s = system.static
    if s.num_graphs != 1:
        raise InputError(f"signature_of needs a one-graph system, got {s.num_graphs} graphs")
    sizes = (s.nodes.shape[-1], s.edges.shape[-1], s.globals.shape[-1])
    return topology_signature(s.nodes.shape[0], s.senders, s.receivers, system.edge_actuator,
                              sizes if static_sizes else None)


def check_trained_on(record: dict, name: str, signature: dict, *, source: str = "the model",
                     allow_other: bool = False) -> bool:
    """True when `record` (a checkpoint) was trained on this system; else an InputError unless allow_other.

    Compares topology signatures (checkpoints written since 2026-12 store them as
    "system_signatures"); older checkpoints are compared by system name. Returns False when the
    system differs and `allow_other` let it through (zero-shot use, e.g. a SwimmerN of an unseen N).
    """
    trained = record.get("system_signatures")
    names = [s["name"] for s in trained] if trained else list(record.get("systems", []))
    if trained:
        same = any(s["digest"] == signature["digest"] for s in trained)
        seen = "; ".join(f"{s['name']} ({s['nodes']} nodes, {s['edges']} edges)" for s in trained)
        here = f"{name} ({signature['nodes']} nodes, {signature['edges']} edges)"
    else:
        same = name in names
        seen, here = ", ".join(names) or "an unrecorded system", f"{name} (compared by name: an older checkpoint)"
    if same or allow_other:
        return same
    raise InputError(f"{source} was trained on {seen}, not on {here}; pass --allow-other-system to use it "
                     "on another system anyway (zero-shot)")
