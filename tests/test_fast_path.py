"""The fixed-topology fast path (gncontrol.forward.fast_path) computes what the generic Graph path does.

Same weights, same function: next states and gradients (w.r.t. states, actions and weights) agree
to 1e-5 in float32 and 1e-10 in float64 on every registered system, for the GN and the recurrent
GN forward models; it is chosen for B copies of one topology and not for a batch of different
systems; `generic_path()` and `model.fast_path = False` force the generic path.
"""

import pytest
import torch

from envs.tasks import get_task, list_tasks
from gncontrol.forward import fast_path
from gncontrol.forward.graph_forward import ForwardModelConfig, build_forward_model
from gncontrol.gn.graphs import batch
from gncontrol.systems import GraphSystem

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def random_states(graph, b: int, gen: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    """[b, N, 13] body states with unit quaternions."""
    s = torch.randn(b, graph.num_nodes, 13, generator=gen, dtype=torch.float64)
    s[..., 3:7] = s[..., 3:7] / s[..., 3:7].norm(dim=-1, keepdim=True)
    return s.to(dtype)


def make_model(kind: str, system: GraphSystem, graph, positions: str = "relative", dtype=torch.float32):
    s = system.static
    cfg = ForwardModelConfig(kind, (s.nodes.shape[1], s.edges.shape[1], s.globals.shape[1]), latent=16,
                             hidden=(16,), recurrent_hidden=8, positions=positions)
    torch.manual_seed(0)
    model = build_forward_model(cfg)
    gen = torch.Generator().manual_seed(1)
    states = random_states(graph, 6, gen)
    actions = torch.randn(6, 1, graph.action_dim, generator=gen)
    model.fit_normalisers(states, states + 0.1 * torch.randn(states.shape, generator=gen), system, actions)
    return model.to(dtype)


def outputs_and_grads(model, states, actions, system, graph, steps: int):
    """Final state's nodes/edges/globals of a `steps`-step rollout and d(weighted sum)/d(states, actions, weights)."""
    states = states.clone().requires_grad_(True)
    actions = actions.clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    state = graph.dynamic_graph(states, actions[:, 0])
    if steps == 1:
        outs = [model.step(state, actions[:, 0], system)]
    else:
        outs = model.rollout(state, actions, system)
    last = outs[-1]
    w = torch.linspace(-1, 1, last.nodes.numel(), dtype=last.nodes.dtype).reshape(last.nodes.shape)
    loss = (w * last.nodes).sum() + sum(o.nodes[:, :13].square().sum() for o in outs) * 0.01 + last.edges.sum()
    loss = loss + last.globals.sum()
    loss.backward()
    grads = [states.grad, actions.grad] + [p.grad if p.grad is not None else torch.zeros_like(p)
                                           for p in model.parameters()]
    return [last.nodes.detach(), last.edges.detach(), last.globals.detach()] + grads


def compare(model, states, actions, system, graph, steps, tol):
    before = dict(fast_path.stats)
    fast = outputs_and_grads(model, states, actions, system, graph, steps)
    assert fast_path.stats["fast"] - before["fast"] == steps
    with fast_path.generic_path():
        generic = outputs_and_grads(model, states, actions, system, graph, steps)
    assert fast_path.stats["generic"] - before["generic"] == steps
    for i, (a, b) in enumerate(zip(fast, generic)):
        assert a.shape == b.shape, i
        scale = max(1.0, float(b.abs().max())) if b.numel() else 1.0
        assert torch.allclose(a, b, rtol=0, atol=tol * scale), (i, float((a - b).abs().max()))


@pytest.mark.parametrize("name", list_tasks())
def test_equivalent_on_every_system(name):
    task = get_task(name)
    graph = task.graph()
    gen = torch.Generator().manual_seed(2)
    for kind in ("gn", "recurrent"):
        for dtype in (torch.float32, torch.float64):
            system = graph.graph_system(dtype=dtype)
            model = make_model(kind, graph.graph_system(), graph, dtype=dtype)
            states = random_states(graph, 3, gen, dtype)
            actions = torch.randn(3, 2, graph.action_dim, generator=gen, dtype=dtype)
            compare(model, states, actions, system, graph, 2, TOL[dtype])


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("positions", ["relative", "absolute", "legacy", "per-system"])
def test_equivalent_one_step_positions_and_batched_systems(positions, fused, monkeypatch):
    monkeypatch.setattr(fast_path, "FUSED", fused)  # False: the GN model's block-by-block dense path
    graph = get_task("cheetah-run").graph()
    gen = torch.Generator().manual_seed(3)
    single = graph.graph_system()
    for kind in ("gn", "recurrent"):
        model = make_model(kind, single, graph, positions)
        states = random_states(graph, 4, gen)
        actions = torch.randn(4, 2, graph.action_dim, generator=gen)
        compare(model, states, actions, single, graph, 1, TOL[torch.float32])
        # four graphs of one topology with different static parameters (system identification's case)
        tiled = single.tile(4)
        tiled = GraphSystem(tiled.static.replace(nodes=tiled.static.nodes + 0.1 * torch.randn(
            tiled.static.nodes.shape, generator=gen)), tiled.edge_actuator, tiled.action_dim)
        compare(model, states, actions, tiled, graph, 2, TOL[torch.float32])
        model.requires_grad_(False)  # a frozen model (planning): no weight gradients, the rest unchanged
        compare(model, states, actions, single, graph, 2, TOL[torch.float32])


def test_selection_and_switches():
    cart, pend = get_task("cartpole-swingup").graph(), get_task("pendulum-swingup").graph()
    system = cart.graph_system()
    model = make_model("gn", system, cart)
    state = cart.dynamic_graph(random_states(cart, 4, torch.Generator().manual_seed(0)), torch.zeros(4, 1))
    assert fast_path.applicable(model, state, torch.zeros(4, 1), system) is not None
    broadcast = system.broadcast(4)
    assert fast_path.topology_of(broadcast) is not None
    assert fast_path.topology_of(broadcast) is fast_path.topology_of(broadcast)  # cached on the object
    assert fast_path.applicable(model, state, torch.zeros(4, 1), broadcast) is not None
    # a batch of two different systems: generic
    mixed = GraphSystem(batch([system.static, pend.graph_system().static]),
                        torch.cat([system.edge_actuator, pend.graph_system().edge_actuator + 1]), 1)
    assert fast_path.topology_of(mixed) is None
    # two copies whose topology differs (edges reversed in the second): generic
    two = system.tile(2)
    flipped = GraphSystem(two.static.replace(senders=two.static.receivers, receivers=two.static.senders)
                          .replace(senders=torch.cat([two.static.senders[:2], two.static.receivers[2:]]),
                                   receivers=torch.cat([two.static.receivers[:2], two.static.senders[2:]])),
                          two.edge_actuator, 1)
    assert fast_path.topology_of(flipped) is None
    assert fast_path.topology_of(system.repeat(3)) is not None
    with fast_path.generic_path():
        assert fast_path.applicable(model, state, torch.zeros(4, 1), system) is None
    assert fast_path.applicable(model, state, torch.zeros(4, 1), system) is not None
    model.fast_path = False
    assert fast_path.applicable(model, state, torch.zeros(4, 1), system) is None
    mlp = build_forward_model(ForwardModelConfig("mlp", (19, 23, 12), latent=8, hidden=(8,), num_nodes=3,
                                                 num_edges=2))
    assert fast_path.applicable(mlp, state, torch.zeros(4, 1), system) is None


@pytest.mark.parametrize("name, resolved", [("cartpole-swingup", "absolute"), ("cheetah-run", "relative")])
def test_per_system_positions_on_the_fast_path_match_the_generic_path(name, resolved):
    graph = get_task(name).graph()
    system = graph.graph_system(dtype=torch.float64)
    assert fast_path.resolved_positions("per-system", system) == resolved
    gen = torch.Generator().manual_seed(4)
    model = make_model("gn", graph.graph_system(), graph, "per-system", dtype=torch.float64)
    states = random_states(graph, 3, gen, torch.float64)
    actions = torch.randn(3, 3, graph.action_dim, generator=gen, dtype=torch.float64)
    compare(model, states, actions, system, graph, 3, TOL[torch.float64])


def test_a_per_system_batch_with_anchored_and_free_graphs_takes_the_generic_path():
    graph = get_task("cartpole-swingup").graph()
    two = graph.graph_system().repeat(2)
    edges = two.static.edges.clone()
    e = graph.num_edges
    edges[e:, 11] = 0.0  # the second copy's rail unlimited: not anchored
    mixed = GraphSystem(two.static.replace(edges=edges), two.edge_actuator, two.action_dim)
    assert fast_path.topology_of(mixed) is not None
    assert fast_path.resolved_positions("per-system", mixed) is None
    model = make_model("gn", graph.graph_system(), graph, "per-system")
    state = graph.dynamic_graph(random_states(graph, 2, torch.Generator().manual_seed(5)), torch.zeros(2, 1))
    assert fast_path.applicable(model, state, torch.zeros(2, 1), mixed) is None
    assert fast_path.applicable(model, state, torch.zeros(2, 1), two) is not None


@pytest.mark.slow
@pytest.mark.parametrize("positions, mode", [("relative", None), ("absolute", None), ("relative", "default")])
def test_compiled_fused_step_gives_the_generic_outputs_and_gradients(positions, mode):
    """fast_path.compile_step: the fused step's forward and backward compiled (mode None: inductor kernels of
    static shapes, gncontrol.forward.static_kernels; a mode: torch.compile regions) give the generic path's states
    and gradients (states, actions, every weight) to 1e-5; switching it off restores the eager functions. Slow
    tier: a few seconds of compilation per shape."""
    task = get_task("cartpole-swingup")
    graph = task.graph()
    system = graph.graph_system()
    model = make_model("gn", system, graph, positions)
    gen = torch.Generator().manual_seed(3)
    states, actions = random_states(graph, 4, gen), torch.randn(4, 3, graph.action_dim, generator=gen)
    fast_path.compile_step(True, mode=mode)
    try:
        assert fast_path.step_compiled()
        compare(model, states, actions, system, graph, 3, TOL[torch.float32])
        model.requires_grad_(False)  # as a planner runs it: no weight gradients
        compare(model, states, actions, system, graph, 3, TOL[torch.float32])
    finally:
        fast_path.compile_step(False)
    assert not fast_path.step_compiled()
