"""A real dm_control episode of a task as body-state tensors, for tests of torch rewards against the env's."""

from __future__ import annotations

import numpy as np
import torch


def real_episode(task, seed: int, steps: int, hook=None):
    """(task with the episode's target, states [T, N, 13], actions [T, A], env rewards [T]) of `steps` random
    actions after `hook(physics)` (a start state the test sets, inside reset_context)."""
    env = task.make_env(seed=seed)
    env.reset()
    if hook is not None:
        with env.physics.reset_context():
            hook(env.physics)
    if task.target_kind:
        task = task.with_target(task.read_target(env.physics))
    g = task.graph()
    rng = np.random.default_rng(seed)
    states, actions, rewards = [], [], []
    for _ in range(steps):
        a = rng.uniform(task.action_low, task.action_high)
        ts = env.step(a)
        states.append(g.body_states(env.physics))
        actions.append(a)
        rewards.append(ts.reward)
    return task, torch.as_tensor(np.array(states)), torch.as_tensor(np.array(actions)), np.array(rewards, float)
