"""The learned model as a Gymnasium env: checker, batching, autoreset, divergence, gradients."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from agents.model_env import ModelEnv, ModelVectorEnv
from agents.model_learning import fit_model, new_model, random_data
from envs.tasks import get_task
from gncontrol.gn.graphs import Graph


@pytest.fixture(scope="module")
def setup():
    task = get_task("cartpole-swingup")
    data = random_data(task.name, episodes=3, steps=40, seed=0)
    model = new_model(data, latent=16, hidden=(16,), seed=0)
    fit_model(model, [data], steps=20, batch_size=32)
    return task, data, model, data.states.reshape(-1, data.num_nodes, 13)


def test_single_env_passes_gymnasium_checker(setup):
    task, _, model, starts = setup
    env = ModelEnv(model, task, starts, episode_length=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        check_env(env, skip_render_check=True)


def test_vector_env_shapes_seeding_and_rewards(setup):
    task, _, model, starts = setup
    venv = ModelVectorEnv(model, task, starts, num_envs=5, episode_length=7)
    assert isinstance(venv, gym.vector.VectorEnv)
    obs, _ = venv.reset(seed=3)
    assert obs.shape == (5, 3 * 13) and obs.dtype == np.float32
    # start states come from the data
    flat = starts.reshape(starts.shape[0], -1).numpy()
    assert all(np.isclose(flat, o, atol=1e-6).all(1).any() for o in obs)
    obs2, _ = venv.reset(seed=3)
    np.testing.assert_array_equal(obs, obs2)
    a = np.full((5, 1), 0.7, np.float32)
    o1, r, term, trunc, _ = venv.step(a)
    assert o1.shape == obs.shape and r.shape == (5,) and not term.any() and not trunc.any()
    assert not np.allclose(o1, obs)  # the model moved the state
    # the env's reward is the task reward of the model's prediction (the torch view agrees)
    with torch.no_grad():
        nxt, rt = venv.torch_step(torch.as_tensor(obs), torch.as_tensor(a))
    np.testing.assert_allclose(o1, nxt.numpy(), atol=1e-5)
    np.testing.assert_allclose(r, rt.numpy(), atol=1e-5)


def test_truncation_then_next_step_autoreset(setup):
    task, _, model, starts = setup
    venv = ModelVectorEnv(model, task, starts, num_envs=3, episode_length=4)
    venv.reset(seed=0)
    a = np.zeros((3, 1), np.float32)
    for t in range(4):
        _, _, term, trunc, _ = venv.step(a)
        assert trunc.all() == (t == 3) and not term.any()
    obs, r, term, trunc, _ = venv.step(a)  # the autoreset step
    assert (r == 0).all() and not trunc.any() and not term.any()
    flat = starts.reshape(starts.shape[0], -1).numpy()
    assert all(np.isclose(flat, o, atol=1e-6).all(1).any() for o in obs)
    _, _, _, trunc, _ = venv.step(a)
    assert not trunc.any()  # the step counter restarted


class _Exploding:
    differentiable = True

    def step(self, state: Graph, action: torch.Tensor, params=None) -> Graph:
        return state.replace(nodes=state.nodes * 1e6)


def test_diverged_prediction_terminates(setup):
    task, _, _, starts = setup
    venv = ModelVectorEnv(_Exploding(), task, starts[1:], num_envs=2, episode_length=10)
    obs, _ = venv.reset(seed=0)
    o, r, term, trunc, _ = venv.step(np.zeros((2, 1), np.float32))
    assert term.all() and (r == 0).all() and np.isfinite(o).all()


def test_torch_step_is_differentiable(setup):
    task, _, model, starts = setup
    venv = ModelVectorEnv(model, task, starts, num_envs=4)
    obs = starts[:4].reshape(4, -1)
    a = torch.zeros(4, 1, requires_grad=True)
    nxt, r = venv.torch_step(obs, a)
    (r.sum() + nxt.sum()).backward()
    assert a.grad is not None and a.grad.abs().sum() > 0


def test_bad_inputs_raise(setup):
    task, _, model, starts = setup
    with pytest.raises(ValueError, match="start_states"):
        ModelVectorEnv(model, task, starts[:, :2], num_envs=2)
    venv = ModelVectorEnv(model, task, starts, num_envs=2)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="actions must be"):
        venv.step(np.zeros((3, 1), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        venv.step(np.full((2, 1), np.nan, np.float32))


def test_stable_baselines3_trains_in_the_model_env(setup):
    import stable_baselines3 as sb3  # in the test extra: its absence is a failure, not a skip

    task, _, model, starts = setup
    env = ModelEnv(model, task, starts, episode_length=20)
    agent = sb3.SAC("MlpPolicy", env, learning_starts=10, batch_size=16, seed=0, verbose=0)
    agent.learn(total_timesteps=40)
    action, _ = agent.predict(env.reset(seed=0)[0], deterministic=True)
    assert env.action_space.contains(action)
