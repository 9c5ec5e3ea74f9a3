"""The MPC loop: action repeat, step limits, timings, TensorBoard logging, frames."""

import numpy as np
import torch
from test_planners_problems import PointMass, TensorEnv, point_reward

from planners import RandomShootingPlanner, run_episode


class _Writer:
    def __init__(self):
        self.scalars = []

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))


def test_loop_holds_actions_for_action_repeat_and_reports_timing():
    m = PointMass()
    pl = RandomShootingPlanner(-torch.ones(2), torch.ones(2), horizon=3, samples=10, action_repeat=3)
    env = TensorEnv(PointMass(), point_reward, torch.zeros(4), 10)
    w = _Writer()
    res = run_episode(env, pl, m, point_reward, writer=w, render=lambda: np.zeros((4, 4, 3), np.uint8),
                      progress=False)
    assert res.steps == 10 and len(res.plan_times) == 4  # 3 + 3 + 3 + 1 steps
    assert torch.equal(res.actions[0], res.actions[2]) and not torch.equal(res.actions[2], res.actions[3])
    assert abs(res.episode_return - sum(res.rewards)) < 1e-9
    assert res.plan_time_per_step > 0 and len(res.frames) == 10
    assert {t for t, _, _ in w.scalars} >= {"mpc/reward", "mpc/episode_return", "mpc/plan_time_per_step_s"}


def test_max_steps_truncates_episode():
    m = PointMass()
    pl = RandomShootingPlanner(-torch.ones(2), torch.ones(2), horizon=3, samples=5)
    res = run_episode(TensorEnv(m, point_reward, torch.zeros(4), 100), pl, m, point_reward, max_steps=7,
                      progress=False)
    assert res.steps == 7 and res.summary()["steps"] == 7.0
