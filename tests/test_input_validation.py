"""Bad input at public boundaries is refused with one InputError line (Graph, rewards, model steps, plan)."""

import pytest
import torch

from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph, batch, tile


def _fields(**change):
    """A valid batch of two graphs (2 nodes, 1 edge each), with some fields changed."""
    f = dict(nodes=torch.zeros(4, 3), edges=torch.zeros(2, 1), globals=torch.zeros(2, 5),
             senders=torch.tensor([0, 2]), receivers=torch.tensor([1, 3]),
             n_node=torch.tensor([2, 2]), n_edge=torch.tensor([1, 1]))
    f.update(change)
    return f


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


# ------------------------------------------------------------------------------------ Graph
def test_a_valid_graph_builds():
    g = Graph(**_fields())
    assert g.num_graphs == 2 and g.node_graph_index().tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("change, message", [
    (dict(senders=torch.tensor([0, 4])), "senders index out of range"),
    (dict(receivers=torch.tensor([-1, 3])), "receivers index out of range"),
    (dict(receivers=torch.tensor([1])), "one entry per edge"),
    (dict(senders=torch.tensor([0.0, 2.0])), "senders must be a 1-D integer"),
    (dict(n_node=torch.tensor([2.0, 2.0])), "n_node must be a 1-D integer"),
    (dict(senders=torch.tensor([True, False])), "senders must be a 1-D integer"),
    (dict(receivers=torch.tensor([2, 3])), "different graph"),  # edge 0: graph 0 -> graph 1
    (dict(n_node=torch.tensor([1, 2])), "sum\\(n_node\\)=3"),
    (dict(n_edge=torch.tensor([2, 1])), "sum\\(n_edge\\)=3"),
    (dict(n_node=torch.tensor([5, -1])), "non-negative"),
    (dict(globals=torch.zeros(3, 5)), "globals 3"),
    (dict(nodes=torch.zeros(4)), "nodes must be a 2-D tensor"),
])
def test_graph_construction_refuses_bad_layout(change, message):
    with pytest.raises(InputError, match=message) as exc:
        Graph(**_fields(**change))
    assert _one_line(exc).startswith("invalid Graph: ")


def test_from_single_refuses_float_indices_instead_of_truncating_them():
    with pytest.raises(InputError, match="senders must be integer node indices"):
        Graph.from_single(torch.zeros(3, 1), torch.zeros(1, 1), torch.zeros(2), torch.tensor([0.7]),
                          torch.tensor([1]))
    with pytest.raises(InputError, match="out of range"):
        Graph.from_single(torch.zeros(3, 1), torch.zeros(1, 1), torch.zeros(2), [0], [3])
    empty = Graph.from_single(torch.zeros(2, 1), torch.zeros(0, 1), torch.zeros(2), [], [])
    assert empty.senders.dtype == torch.long and empty.senders.numel() == 0


def test_check_false_skips_validation_and_internal_ops_stay_fast_paths():
    bad = Graph(**_fields(senders=torch.tensor([0, 9])), check=False)  # the caller's responsibility
    with pytest.raises(InputError, match="out of range"):
        bad.validate()
    one = Graph.from_single(torch.zeros(2, 1), torch.zeros(1, 1), torch.zeros(2), [0], [1])
    for g in (tile(one, 3), batch([one, one]), one.replace(nodes=torch.ones(2, 4)), one.to(dtype=torch.float64)):
        g.validate()
    with pytest.raises(TypeError, match="unknown fields"):
        one.replace(node=torch.ones(2, 1))


# ------------------------------------------------------------------ action shapes: rewards, steps
@pytest.fixture(scope="module")
def cartpole():
    from envs.tasks import get_task

    task = get_task("cartpole-swingup")
    env = task.make_env(seed=0)
    env.reset()
    states = torch.as_tensor(task.graph().body_states(env.physics.data), dtype=torch.float32)[None].repeat(3, 1, 1)
    return task, states


@pytest.mark.parametrize("shape", [(3, 2), (2, 1), (3,), (1, 3, 1)])
def test_task_reward_refuses_wrong_action_shape(cartpole, shape):
    task, states = cartpole
    graph = task.graph().dynamic_graph(states, torch.zeros(3, 1))
    for state in (states, graph, states.reshape(-1, 13)):
        with pytest.raises(InputError, match=r"action must be \[B, A\] = \[3, 1\]") as exc:
            task.reward(state, torch.zeros(shape))
        assert "cartpole-swingup reward" in _one_line(exc)
    assert task.reward(graph, torch.zeros(3, 1)).shape == (3,)


@pytest.fixture(scope="module")
def gn_model(cartpole):
    from gncontrol.forward.graph_forward import ForwardModelConfig, build_forward_model

    task, states = cartpole
    system = task.graph().graph_system()
    s = system.static
    torch.manual_seed(0)
    model = build_forward_model(ForwardModelConfig("gn", (s.nodes.shape[1], s.edges.shape[1], s.globals.shape[1]),
                                                   latent=8, hidden=(8,)))
    return model, system, task.graph().dynamic_graph(states, torch.zeros(3, 1))


@pytest.mark.parametrize("shape", [(3, 2), (2, 1), (6, 1), (3,), (1, 1)])
def test_forward_model_step_refuses_wrong_action_shape(gn_model, shape):
    from gncontrol.forward.graph_forward import ConstantModel

    model, system, state = gn_model
    for m in (model, ConstantModel()):
        with pytest.raises(InputError, match=r"action must be \[B, A\] = \[3, 1\]") as exc:
            m.step(state, torch.zeros(shape), system)
        _one_line(exc)
    with pytest.raises(InputError, match=r"action must be \[B, A\]"):
        model.input_graph(state, torch.zeros(shape), system)
    with torch.no_grad():
        assert model.step(state, torch.zeros(3, 1), system).nodes.shape == state.nodes.shape


# ------------------------------------------------------------------------- NaN states in rewards
@pytest.mark.parametrize("sigmoid", ["gaussian", "long_tail", "linear", "quadratic"])
@pytest.mark.parametrize("margin", [0.0, 1.0])
def test_tolerance_keeps_nan(sigmoid, margin):
    from envs.rewards import tolerance

    x = torch.tensor([float("nan"), 0.5, 3.0], dtype=torch.float64)
    r = tolerance(x, (0.0, 1.0), margin=margin, sigmoid=sigmoid, value_at_margin=0.1)
    assert torch.isnan(r[0]) and r[1] == 1.0 and torch.isfinite(r[1:]).all()


@pytest.mark.parametrize("name", ["pendulum-swingup", "pendulum-swingup-smooth", "cartpole-swingup",
                                  "acrobot-swingup", "cheetah-run", "cheetah-jump", "walker-walk", "reacher-easy",
                                  "reacher-easy-smooth", "swimmer3"])
def test_a_nan_state_gets_a_nan_reward(name):
    """Not a plausible number (pendulum's gave 0.0): the planners rank non-finite returns last."""
    from envs.tasks import get_task

    task = get_task(name)
    n = task.graph().num_nodes
    states = torch.zeros(2, n, 13)
    states[:, :, 3] = 1.0  # identity quaternions
    states[1] = float("nan")
    r = task.reward(states, torch.zeros(2, task.action_dim))
    assert torch.isfinite(r[0]) and torch.isnan(r[1]), r


def test_a_nan_action_gets_a_nan_cartpole_reward():
    from envs.tasks import get_task

    task = get_task("cartpole-swingup")
    states = torch.zeros(1, task.graph().num_nodes, 13)
    states[:, :, 3] = 1.0
    assert torch.isnan(task.reward(states, torch.full((1, 1), float("nan"))))


# ------------------------------------------------------------------------ plan --reward
@pytest.mark.parametrize("reward, task", [("acrobot-swingup", "cartpole-swingup"), ("walker-walk", "cheetah-run"),
                                          ("swimmer4", "swimmer5")])
def test_plan_refuses_a_reward_for_another_system(reward, task, tmp_path, capsys):
    """Same body counts (3, 8) were accepted before; the systems' body/joint names differ."""
    from gncontrol.cli import main

    argv = ["plan", "--model", "true", "--task", task, "--reward", reward, "--out", str(tmp_path / "o"),
            "--planner", "random", "--steps", "1", "--no-video"]  # (short, should it ever run)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--reward {reward}" in err[0] and f"--task {task}" in err[0], err


@pytest.mark.parametrize("reward, task", [("cheetah-run-backward", "cheetah-run"), ("cheetah-jump", "cheetah-run"),
                                          ("pendulum-swingup-smooth", "pendulum-swingup"),
                                          ("cartpole-balance", "cartpole-swingup"), ("cheetah-run", "cheetah-run")])
def test_plan_accepts_a_reward_on_the_same_body(reward, task):
    from envs.tasks import get_task
    from gncontrol.cli.plan import check_reward_task

    check_reward_task(get_task(task), get_task(reward))
