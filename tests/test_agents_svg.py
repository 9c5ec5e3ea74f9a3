"""SVG(0) / SVG(1) / Dyna agents: budgets, learning curves, gradients through the model (tiny runs)."""

import copy

import numpy as np
import pytest
import torch

from agents.dyna import train_dyna
from agents.model_env import ModelVectorEnv, model_transitions
from agents.svg import SVGConfig, _Policy, train_svg
from envs.tasks import get_task
from gncontrol.gn.graphs import Graph


def _tiny(variant: str) -> SVGConfig:
    return SVGConfig(task="pendulum-swingup", variant=variant, episodes=3, episode_steps=15, warmup_episodes=1,
                     hidden=(16,), batch_size=16, model_latent=16, model_hidden=(16,), model_init_steps=10,
                     model_steps_per_episode=5, eval_every=2)


@pytest.mark.parametrize("variant", ["svg0", "svg1", "dyna"])
def test_agents_run_their_budget_and_learn_a_policy(variant):
    cfg = _tiny(variant)
    curve = train_dyna(cfg) if variant == "dyna" else train_svg(cfg)
    assert curve.variant == variant
    assert curve.env_steps == [15, 30, 45]  # one point per episode, real steps only
    assert len(curve.returns) == 3 and all(np.isfinite(curve.returns))
    assert curve.eval_steps == [30] and np.isfinite(curve.eval_returns[0])
    task = get_task("pendulum-swingup")
    with torch.no_grad():
        a = curve.policy(torch.randn(32, 2 * 13) * 3)
    assert (a >= float(task.action_low[0]) - 1e-6).all() and (a <= float(task.action_high[0]) + 1e-6).all()


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="variant"):
        train_svg(SVGConfig(variant="svg2"))
    with pytest.raises(ValueError, match="warmup"):
        train_svg(SVGConfig(episodes=2, warmup_episodes=2))


class _Linear:
    """A differentiable toy model: next body state = state + 0.1 * action on every number."""

    differentiable = True

    def step(self, state: Graph, action: torch.Tensor, params=None) -> Graph:
        n = state.nodes.shape[0] // action.shape[0]
        return state.replace(nodes=state.nodes + 0.1 * action.repeat_interleave(n, 0))


def test_svg1_policy_gradient_flows_through_the_model_and_model_transitions_are_consistent():
    task = get_task("pendulum-swingup")
    starts = torch.zeros(4, 2, 13)
    starts[:, :, 3] = 1.0
    venv = ModelVectorEnv(_Linear(), task, starts, num_envs=1)
    low, high = torch.tensor(task.action_low).float(), torch.tensor(task.action_high).float()
    policy = _Policy(26, 1, (8,), low, high, torch.zeros(26), torch.ones(26))
    s = starts.reshape(4, -1)
    before = copy.deepcopy(policy.state_dict())
    nxt, r = venv.torch_step(s, policy(s))
    nxt.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    policy.load_state_dict(before)
    sm, am, rm, s2m = model_transitions(venv, policy, s, torch.zeros(1))
    torch.testing.assert_close(am, policy(s).detach())
    torch.testing.assert_close(s2m, s + 0.1 * am.repeat(1, 26))
    torch.testing.assert_close(rm, task.reward(s2m.reshape(4, 2, 13), am))


def test_fitted_model_is_frozen_so_policy_steps_skip_its_weights():
    """SVG(1)'s policy loss backpropagates through the model to the action only (model weights get no grad)."""
    from agents.model_learning import fit_model, new_model
    from envs.collect import collect
    from gncontrol.forward.transitions import SystemTrajectories

    data = SystemTrajectories.from_arrays("pendulum-swingup", collect("pendulum-swingup", 2, steps=10, seed=0,
                                                                      progress=False))
    model = new_model(data, latent=8, hidden=(8,))
    fit_model(model, [data], 3)
    assert not any(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())
    task = get_task("pendulum-swingup")
    venv = ModelVectorEnv(model, task, torch.as_tensor(data.states[:, 0], dtype=torch.float32), num_envs=1)
    s = torch.as_tensor(data.states[:, 0], dtype=torch.float32).reshape(2, -1)
    a = torch.zeros(2, 1, requires_grad=True)
    nxt, _ = venv.torch_step(s, a)
    nxt.sum().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0  # the gradient reaches the action
    assert all(p.grad is None for p in model.parameters())
    losses = fit_model(model, [data], 3)  # fitting again trains (gradients enabled inside fit_model)
    assert len(losses) == 3 and not any(p.requires_grad for p in model.parameters())
