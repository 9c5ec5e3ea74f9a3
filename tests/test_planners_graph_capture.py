"""Gradient MPC with its iteration recorded as a CUDA graph (planners.graph_capture, GradientConfig.cuda_graph).

On this CPU the captured planner runs the same host-free iteration eagerly on static buffers; it must plan
exactly what the ordinary planner plans over an episode (the start state refilled every control step), record
again when the model's weights change, and read nothing back to the host inside an iteration (what a CUDA graph
cannot record). With CUDA, the replayed graph is compared with the eager planner too.
"""

import collections

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

pytest.importorskip("dm_control")

from envs.true_model import TaskEnv  # noqa: E402
from planners import GradientConfig, GradientPlanner  # noqa: E402
from planners.graph_capture import CapturedShooting  # noqa: E402

# ops that read a value back to the host, make a data-dependent shape or copy host data to the device
HOST_OPS = ("_local_scalar_dense", "nonzero", "masked_select", "lift_fresh", "item", "is_nonzero")


class HostOps(TorchDispatchMode):
    """Counts the dispatched ops in HOST_OPS."""

    def __init__(self):
        super().__init__()
        self.seen = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in HOST_OPS:
            self.seen[name] += 1
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope="module")
def cartpole(tiny_cartpole_gn):
    return tiny_cartpole_gn


def episode_actions(task, model, system, config: GradientConfig, steps: int = 4, device: str = "cpu"):
    """Actions and planned returns of `steps` control steps of a real cartpole episode planned through `model`."""
    planner = GradientPlanner(task.action_low, task.action_high, config, device=device)
    env = TaskEnv(task, seed=3)
    state, params = env.reset(), system.to(device)
    actions, returns = [], []
    for _ in range(steps):
        a = planner.plan(model, task.reward, state.to(device), params=params)
        actions.append(a.cpu())
        returns.append(planner.last_return)
        state = env.step(a.cpu())[0]
    return torch.stack(actions), returns, planner


@pytest.mark.parametrize("settings", [dict(), dict(action_noise=0.3, noise_samples=3, warm_restarts=1),
                                      dict(squash="clip", smoothness=0.5, terminal_weight=2.0)],
                         ids=["default", "robust", "clip"])
def test_captured_planner_plans_what_the_eager_planner_plans(cartpole, settings):
    task, model, system = cartpole
    config = GradientConfig(horizon=5, iterations=3, restarts=3, action_repeat=2, **settings)
    eager, eager_returns, _ = episode_actions(task, model, system, config)
    captured, captured_returns, planner = episode_actions(
        task, model, system, GradientConfig(**{**config.__dict__, "cuda_graph": True}))
    assert torch.allclose(captured, eager, atol=1e-6), (captured, eager)
    assert captured_returns == pytest.approx(eager_returns, rel=1e-5)
    assert len(set(captured.flatten().tolist())) > 1  # the state really changed between control steps
    assert isinstance(planner._captured, CapturedShooting) and planner._captured.replays == 0  # no GPU here


def test_new_weights_are_recorded_again(cartpole):
    task, model, system = cartpole
    config = GradientConfig(horizon=4, iterations=2, restarts=2, cuda_graph=True)
    planner = GradientPlanner(task.action_low, task.action_high, config)
    state = TaskEnv(task, seed=0).reset()
    planner.plan(model, task.reward, state, params=system)
    first = planner._captured
    planner.plan(model, task.reward, state, params=system)
    assert planner._captured is first  # same weights, same shapes: reused
    with torch.no_grad():
        next(model.parameters()).add_(0.01)  # what an optimiser step does: the weights' version moves
    try:
        planner.reset()
        a = planner.plan(model, task.reward, state, params=system)
        assert planner._captured is not first
        eager = GradientPlanner(task.action_low, task.action_high, GradientConfig(horizon=4, iterations=2,
                                                                                 restarts=2))
        assert torch.allclose(a, eager.plan(model, task.reward, state, params=system), atol=1e-6)
    finally:
        with torch.no_grad():
            next(model.parameters()).sub_(0.01)


def test_an_iteration_reads_nothing_back_to_the_host(cartpole, monkeypatch):
    """What a CUDA graph cannot record (a host read, a data-dependent shape, a host-to-device copy) is absent
    from the captured iteration: the objective's GN rollout and the task reward, their backward, the bookkeeping.
    Adam's step is left out here: on CUDA it is torch's capturable Adam (step count on the device); on a CPU
    torch's Adam reads its step count, which the spy would count."""
    task, model, system = cartpole
    planner = GradientPlanner(task.action_low, task.action_high,
                              GradientConfig(horizon=5, iterations=2, restarts=3, action_repeat=2, cuda_graph=True))
    state = TaskEnv(task, seed=0).reset()
    planner.plan(model, task.reward, state, params=system)  # built and warm
    ascent = planner._captured.ascent
    updates = []
    monkeypatch.setattr(ascent.opt, "step", lambda: updates.append(1))
    with HostOps() as spy:
        ascent.step()
    assert updates == [1] and ascent.var.grad is not None and ascent.var.grad.abs().sum() > 0
    assert not spy.seen, dict(spy.seen)
    with HostOps() as spy:  # the ordinary path does read back (so the spy sees what it should)
        planner._captured.ascent.result(2)
    assert spy.seen["_local_scalar_dense"] >= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: the graph is recorded on a GPU")
def test_replayed_graph_plans_what_the_eager_planner_plans_on_cuda(cartpole):
    task, model, system = cartpole
    model = model.to("cuda")
    config = GradientConfig(horizon=5, iterations=3, restarts=3, action_repeat=2)
    eager, _, _ = episode_actions(task, model, system, config, device="cuda")
    captured, _, planner = episode_actions(task, model, system, GradientConfig(**{**config.__dict__,
                                                                                 "cuda_graph": True}),
                                           device="cuda")
    model.to("cpu")
    assert planner._captured.replays == 4 * 3
    assert torch.allclose(captured, eager, atol=1e-4)


def test_cuda_graph_with_a_sampling_planner_is_one_clear_line(tmp_path, capsys):
    from gncontrol.cli import main

    assert main(["plan", "--task", "cartpole-swingup", "--model", "true", "--planner", "cem", "--cuda-graph",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--cuda-graph" in err[0] and "gradient" in err[0], err
