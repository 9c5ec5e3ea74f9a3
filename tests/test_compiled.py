"""gncontrol.forward.compiled: a compiled rollout gives the eager model's states (forward-only, as the sampling
planners run it) and a rollout that needs gradients stays eager unless asked. The compile itself takes
15-40 s on this project's CPU, so that test is in the slow tier (CI runs it as its second step)."""

from __future__ import annotations

import pytest
import torch

from envs.tasks import get_task
from gncontrol.errors import InputError
from gncontrol.forward.compiled import CompiledRollout, compiled
from tests.test_fast_path import make_model, random_states


def _setup():
    graph = get_task("cartpole-swingup").graph()
    system = graph.graph_system()
    model = make_model("gn", system, graph).eval()
    gen = torch.Generator().manual_seed(2)
    states = random_states(graph, 5, gen)
    actions = torch.rand(5, 3, graph.action_dim, generator=gen) * 2 - 1
    return graph, system, model, graph.dynamic_graph(states, actions[:, 0]), actions


@pytest.mark.slow
def test_compiled_rollout_gives_the_eager_states_and_keeps_gradients_eager():
    graph, system, model, state, actions = _setup()
    wrapped = compiled(model)
    with torch.no_grad():
        eager = model.rollout(state, actions, system)
        fast = wrapped.rollout(state, actions, system)
        again = wrapped.rollout(state, actions + 0.1, system)  # same shapes: the compiled region is reused
        eager_again = model.rollout(state, actions + 0.1, system)
    assert len(fast) == 3
    for a, b in zip(eager + eager_again, fast + again):
        torch.testing.assert_close(b.nodes, a.nodes, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(b.edges, a.edges)
    # a rollout that needs gradients runs the eager model (backward=False): gradients reach the actions
    a = actions.clone().requires_grad_(True)
    out = wrapped.rollout(state, a, system)
    out[-1].nodes.sum().backward()
    assert a.grad is not None and torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    assert wrapped.control_steps == model.control_steps and wrapped.differentiable


def test_compile_refuses_models_without_a_rollout():
    class StepOnly(torch.nn.Module):
        def step(self, state, action, params=None):
            return state

    with pytest.raises(InputError, match="not a single learned forward model"):
        CompiledRollout(StepOnly())


def test_plan_compile_refuses_the_true_model(tmp_path, capsys):
    from gncontrol.cli import main

    assert main(["plan", "--task", "pendulum-swingup", "--model", "true", "--planner", "cem", "--compile",
                 "--out", str(tmp_path / "p"), "--no-video"]) == 2
    err = capsys.readouterr().err
    assert "--compile" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_plan_with_compile_plans_as_the_eager_model(tmp_path, capsys):
    """`gncontrol plan --compile` with CEM (compiled rollouts) and with the gradient planner (compiled fused steps)
    through a small trained GN: the same return as without it."""
    import json

    from gncontrol.cli import main

    data = tmp_path / "d.h5"
    assert main(["collect", "--task", "pendulum-swingup", "--episodes", "2", "--steps", "30", "--out", str(data)]) == 0
    assert main(["train", "--data", str(data), "--steps", "5", "--latent", "16", "--out", str(tmp_path / "m")]) == 0
    from gncontrol.forward import fast_path

    for planner in (["gradient", "--restarts", "4", "--reward", "pendulum-swingup-smooth"],
                    ["cem", "--samples", "16"]):
        returns = []
        for extra in ([], ["--compile"]):
            out = tmp_path / f"p{planner[0]}{len(extra)}"
            try:
                assert main(["plan", "--task", "pendulum-swingup", "--model", str(tmp_path / "m" / "model.pt"),
                             "--planner", *planner, "--iterations", "2", "--horizon", "3", "--steps", "6",
                             "--no-video", "--out", str(out), *extra]) == 0
            finally:
                fast_path.compile_step(False)  # the gradient planner's --compile compiles the fused step
            returns.append(json.loads((out / "summary.json").read_text())["returns"][0])
        assert returns[1] == pytest.approx(returns[0], abs=1e-4), planner[0]


def test_wrappers_keep_room_for_many_compiled_models():
    """Each wrapper compiles the same function per model and shape: the compile cache keeps RECOMPILE_LIMIT
    entries, not dynamo's default 8 (past which the rollouts would silently run eagerly)."""
    from gncontrol.forward.compiled import RECOMPILE_LIMIT

    _, _, model, _, _ = _setup()
    compiled(model)  # building a wrapper compiles nothing yet (the first rollout does)
    assert torch._dynamo.config.recompile_limit >= RECOMPILE_LIMIT >= 32
