"""EnsembleModel: mean next state for stepping, mean of the members' returns for planning."""

import pytest
import torch
from test_planners_problems import GraphPointMass, PointMass, graph_state, point_reward

from gncontrol.ensemble import EnsembleModel
from planners import GradientPlanner, predicted_return


class GainPointMass(PointMass):
    """PointMass whose actions act `gain` times as strongly (a model with a wrong actuator gain)."""

    def __init__(self, gain: float):
        super().__init__()
        self.gain = gain

    def step(self, state, action, params=None):
        return super().step(state, self.gain * action)


def test_step_is_the_mean_of_the_members_next_states():
    x = torch.tensor([[0.3, -0.2, 0.1, 0.0], [0.0, 0.5, -0.1, 0.2]])
    a = torch.tensor([[0.5, -1.0], [1.0, 0.2]])
    ens = EnsembleModel([GainPointMass(0.5), GainPointMass(1.5)])
    assert ens.differentiable
    assert torch.allclose(ens.step(x, a), PointMass().step(x, a), atol=1e-6)  # linear in the gain
    g = EnsembleModel([GraphPointMass(), GraphPointMass(dt=0.2)]).step(graph_state(x), a)
    assert torch.allclose(g.nodes, (PointMass().step(x, a) + PointMass(dt=0.2).step(x, a)) / 2)


def test_predicted_return_averages_the_members_own_rollouts():
    members = [GainPointMass(0.5), GainPointMass(1.5)]
    ens = EnsembleModel(members)
    x0 = torch.tensor([0.3, -0.2, 0.1, 0.0])
    acts = torch.rand(5, 6, 2) * 2 - 1
    got = predicted_return(ens, point_reward, x0, acts)
    want = sum(predicted_return(m, point_reward, x0, acts) for m in members) / 2
    assert torch.allclose(got, want, atol=1e-5)
    # not the return of the averaged model: the reward is quadratic in the state
    assert not torch.allclose(got, predicted_return(PointMass(), point_reward, x0, acts), atol=1e-3)
    # rollout="mean": ONE rollout of the averaged model, here exactly the true-gain model (linear in the gain)
    mean = predicted_return(EnsembleModel(members, rollout="mean"), point_reward, x0, acts)
    assert torch.allclose(mean, predicted_return(PointMass(), point_reward, x0, acts), atol=1e-5)


@pytest.mark.slow
def test_planning_through_an_ensemble_beats_each_wrong_member_in_the_true_system():
    """Members err in opposite directions (actuator gain 0.6 and 1.4, the truth is 1): the plan
    that is good on average under both is better in the true system than either member's own."""
    x0 = torch.tensor([0.0, 0.0, 0.0, 0.0])
    truth = PointMass()

    def true_return(model):
        planner = GradientPlanner([-1.0, -1.0], [1.0, 1.0], horizon=10, iterations=200, lr=0.1, restarts=1,
                                  action_repeat=3, seed=0)
        planner.plan(model, point_reward, x0)
        return float(predicted_return(truth, point_reward, x0, planner.plan_[None], action_repeat=3)[0])

    low, high = GainPointMass(0.6), GainPointMass(1.4)
    ens = true_return(EnsembleModel([low, high]))
    assert ens > true_return(low) + 1.0 and ens > true_return(high) + 1.0  # measured -8.7 vs -16.2 / -10.2


def test_ensemble_rejects_fewer_than_two_members_and_unknown_rollouts():
    with pytest.raises(ValueError, match="at least 2"):
        EnsembleModel([PointMass()])
    with pytest.raises(ValueError, match="ensemble rollout must be one of"):
        EnsembleModel([PointMass(), PointMass()], rollout="median")


def test_mean_body_states_keeps_quaternions_unit_and_sign_consistent():
    import math

    from gncontrol.ensemble import mean_body_states

    nodes = torch.zeros(2, 1, 15)
    c, s = math.cos(0.3), math.sin(0.3)
    nodes[0, 0, 3:7] = torch.tensor([c, s, 0.0, 0.0])  # rotation by 0.6 rad about x
    nodes[1, 0, 3:7] = -torch.tensor([math.cos(0.1), math.sin(0.1), 0.0, 0.0])  # 0.2 rad, written as -q
    nodes[:, 0, 0] = torch.tensor([1.0, 3.0])
    nodes[:, 0, 13:] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = mean_body_states(nodes)
    q = out[0, 3:7]
    assert q.norm() == pytest.approx(1.0, abs=1e-6)
    assert 2 * math.atan2(float(q[1]), float(q[0])) == pytest.approx(0.4, abs=1e-3)  # between 0.2 and 0.6 rad
    assert out[0, 0] == 2.0 and out[0, 13:].tolist() == [2.0, 3.0]  # other features plainly averaged
    plain = nodes.mean(0)[0, 3:7]
    assert plain.norm() < 0.1  # what the old plain mean gave: not a rotation at all
