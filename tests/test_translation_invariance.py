"""Horizontal translation invariance of the GN forward model's inputs (gncontrol.body_state)."""

import numpy as np
import pytest
import torch

from gncontrol.body_state import relative_positions
from gncontrol.forward.graph_forward import ForwardModelConfig, build_forward_model


def _states(task_name, batch=3, seed=0):
    from envs.tasks import get_task

    task = get_task(task_name)
    graph = task.graph()
    env = task.make_env(seed=seed)
    env.reset()
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(batch):
        for _ in range(5):
            env.step(rng.uniform(task.action_low, task.action_high))
        rows.append(graph.body_states(env.physics))
    states = torch.as_tensor(np.stack(rows), dtype=torch.float64)
    actions = torch.as_tensor(rng.uniform(task.action_low, task.action_high, (batch, graph.action_dim)),
                              dtype=torch.float64)
    return graph, states, actions


def _shift(states, d):
    out = states.clone()
    out[:, 1:, 0:2] += torch.as_tensor(d, dtype=states.dtype)  # every body but the world (node 0)
    return out


@pytest.mark.parametrize("task_name", ["cheetah-run", "swimmer6", "walker-walk"])
@pytest.mark.parametrize("kind", ["gn", "recurrent"])
def test_shifted_system_gives_the_same_prediction(task_name, kind):
    graph, states, actions = _states(task_name)
    system = graph.graph_system(dtype=torch.float64)
    sizes = (system.static.nodes.shape[-1], system.static.edges.shape[-1], system.static.globals.shape[-1])
    torch.manual_seed(0)
    model = build_forward_model(ForwardModelConfig(kind, sizes, latent=16, hidden=(16,), recurrent_hidden=8)).double()
    d = (3.7, -12.5)
    base = model.step(graph.dynamic_graph(states, actions).to(dtype=torch.float64), actions, system)
    moved = model.step(graph.dynamic_graph(_shift(states, d), actions).to(dtype=torch.float64), actions, system)
    b, n = states.shape[:2]
    expected = _shift(base.nodes[:, :13].reshape(b, n, 13), d)
    torch.testing.assert_close(moved.nodes[:, :13].reshape(b, n, 13), expected, atol=1e-6, rtol=0)


def test_relative_mode_ignores_the_world_and_legacy_does_not():
    _, states, _ = _states("cheetah-run", batch=2)
    b, n = states.shape[:2]
    flat, moved = states.reshape(b * n, 13), _shift(states, (5.0, 1.0)).reshape(b * n, 13)
    ng = torch.arange(b).repeat_interleave(n)
    rel = relative_positions(flat, ng, b, "relative")
    torch.testing.assert_close(relative_positions(moved, ng, b, "relative"), rel, atol=1e-12, rtol=0)
    assert rel[::n, :2].abs().max() == 0  # the world node carries x, y = 0
    legacy = relative_positions(moved, ng, b, "legacy") - relative_positions(flat, ng, b, "legacy")
    assert legacy[:, 0].abs().max() > 0.5  # the old centring moved with the system: not invariant
    absolute = relative_positions(moved, ng, b, "absolute") - relative_positions(flat, ng, b, "absolute")
    assert absolute[1:n, 0].min() == pytest.approx(5.0)


@pytest.mark.parametrize("task_name, mode", [("cartpole-swingup", "absolute"), ("pendulum-swingup", "relative"),
                                             ("cheetah-run", "relative"), ("swimmer6", "relative")])
def test_auto_positions_are_absolute_only_for_a_rail_limited_world_slide(task_name, mode):
    from envs.mujoco_graph import position_mode
    from envs.tasks import get_task
    from gncontrol.cli.train import model_config_for

    static = get_task(task_name).graph().static_graph()
    assert position_mode(static.edges, static.senders) == mode

    class Data:  # what model_config_for reads of a SystemTrajectories
        static_nodes, static_edges, static_globals = static.nodes[None], static.edges[None], static.globals[None]
        senders, num_nodes, num_edges = static.senders, static.nodes.shape[0], static.edges.shape[0]

    assert model_config_for("gn", 8, [8], [Data]).positions == mode
    assert model_config_for("gn", 8, [8], [Data], "relative").positions == "relative"


def test_per_system_positions_are_absolute_only_in_anchored_graphs_and_the_fast_path_agrees():
    """One model over cartpole (rail: absolute x) and cheetah (free: relative x) in one batch."""
    import torch

    from envs.mujoco_graph import STATIC_EDGE_FEATURES, positions_for
    from envs.tasks import get_task
    from gncontrol.body_state import ANCHOR_EDGE_COLUMNS, anchored_graphs, input_positions
    from gncontrol.gn.graphs import batch

    assert ANCHOR_EDGE_COLUMNS == (STATIC_EDGE_FEATURES.index("type_slide"), STATIC_EDGE_FEATURES.index("limited"))
    graphs = {t: get_task(t).graph() for t in ("cartpole-swingup", "cheetah-run")}
    both = batch([g.static_graph(dtype=torch.float64) for g in graphs.values()])
    assert anchored_graphs(both).tolist() == [True, False]
    states = [torch.as_tensor(g.body_states(get_task(t).make_env(seed=0).physics)) for t, g in graphs.items()]
    nodes = torch.cat(states)
    shifted = nodes.clone()
    shifted[:, 0] += 3.0
    diff = input_positions(shifted, both, "per-system") - input_positions(nodes, both, "per-system")
    n0 = states[0].shape[0]
    assert torch.allclose(diff[:n0, 0], torch.full((n0,), 3.0, dtype=torch.float64))  # cartpole sees the shift
    assert diff[n0:].abs().max() < 1e-12  # cheetah does not

    class Data:
        def __init__(self, g):
            s = g.static_graph()
            self.static_edges, self.senders = s.edges[None], s.senders

    assert positions_for([Data(g) for g in graphs.values()]) == "per-system"
    assert positions_for([Data(graphs["cheetah-run"])]) == "relative"

