"""Planners aim at the target the env drew for this episode (TaskEnv.episode_reward), not the model file's default."""

import numpy as np
import pytest
import torch

pytest.importorskip("dm_control")

from envs.rewards import tolerance  # noqa: E402
from envs.tasks import get_task  # noqa: E402
from envs.true_model import TaskEnv  # noqa: E402


def test_episode_reward_follows_the_target_of_each_episode():
    task, smooth = get_task("reacher-easy"), get_task("reacher-easy-smooth")
    env = TaskEnv(task, seed=3)
    reward = env.episode_reward(smooth)
    radii = 0.05 + float(env.env.physics.named.model.geom_size["finger", 0])
    targets = []
    for _ in range(2):  # a new target at each reset, followed by the same function
        state = env.reset()
        physics = env.env.physics
        targets.append(task.read_target(physics))
        want = tolerance(torch.tensor([physics.finger_to_target_dist()]), (0.0, radii), margin=0.1)
        got = reward(state, torch.zeros(1, 2))
        assert torch.allclose(got.double(), want.double(), atol=1e-4)
        default = smooth.reward(state, torch.zeros(1, 2))  # the XML's target, not this episode's
        assert not torch.allclose(default.double(), want.double(), atol=1e-3)
    assert targets[0] != targets[1]


def test_tasks_without_targets_keep_their_reward():
    task = get_task("cartpole-swingup")
    env = TaskEnv(task, seed=0)
    state = env.reset()
    a = torch.zeros(1, 1)
    assert np.allclose(env.episode_reward()(state, a).numpy(), task.reward(state, a).numpy())
