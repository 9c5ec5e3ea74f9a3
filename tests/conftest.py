"""Shared pytest setup: MuJoCo's OpenGL backend chosen as for a user, and a fixed torch thread count."""

import pytest
import torch

import envs  # noqa: F401 - chooses MUJOCO_GL (as any user command does) before a test imports mujoco

# One thread: the test workloads are tiny, and on a loaded 2-core machine a second OpenMP
# thread makes small ops up to 30x slower (measured: 7 ms vs 203 ms per GN training step).
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_cartpole_gn():
    """(cartpole-swingup task, an untrained GN forward model of latent 16 (seed 0), its one-graph GraphSystem):
    the smallest real model planners can run on."""
    from envs.tasks import get_task
    from gncontrol.forward.graph_forward import ForwardModelConfig, build_forward_model
    from gncontrol.systems import GraphSystem

    torch.manual_seed(0)
    task = get_task("cartpole-swingup")
    g = task.graph()
    static = g.static_graph()
    system = GraphSystem.single(static, g.edge_actuator, g.action_dim)
    sizes = (static.nodes.shape[1], static.edges.shape[1], static.globals.shape[1])
    model = build_forward_model(ForwardModelConfig("gn", sizes, latent=16, hidden=(16,)))
    return task, model, system
