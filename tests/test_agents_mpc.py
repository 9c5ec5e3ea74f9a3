"""Online MPC agent and the model-learning helpers it uses (tiny budgets: behaviour, not quality)."""

import pytest
import torch

from agents.model_learning import append_episode, empty_like, fit_model, new_model, random_data
from agents.mpc_agent import MPCAgentConfig, make_planner, run_online_mpc
from envs.tasks import get_task
from gncontrol.errors import InputError


def test_fit_model_lowers_the_one_step_loss():
    data = random_data("pendulum-swingup", episodes=2, steps=40, seed=0)
    model = new_model(data, latent=16, hidden=(16,), seed=0)
    losses = fit_model(model, [data], steps=60, batch_size=32, lr=3e-3)
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.5 * first


def test_append_episode_grows_data_and_checks_shapes():
    data = random_data("pendulum-swingup", episodes=2, steps=10, seed=0)
    agent = empty_like(data)
    assert agent.num_episodes == 0
    with pytest.raises(ValueError, match="static_from"):
        append_episode(agent, data.states[0], data.actions[0])
    agent = append_episode(agent, data.states[1], data.actions[1], data)
    assert agent.num_episodes == 1
    torch.testing.assert_close(agent.states[0], data.states[1])
    torch.testing.assert_close(agent.static_nodes[0], data.static_nodes[0])
    with pytest.raises(ValueError, match="steps"):
        append_episode(agent, data.states[0, :5], data.actions[0, :4])


def test_online_mpc_loop_collects_finetunes_and_reports():
    cfg = MPCAgentConfig(task="pendulum-swingup", random_episodes=2, episode_steps=12, iterations=2,
                         train_steps=10, finetune_steps=5, latent=16, hidden=(16,), horizon=3,
                         action_repeat=2, population=16, elites=4, plan_iterations=1)
    lines = []
    results = run_online_mpc(cfg, log=lines.append)
    assert [r.iteration for r in results] == [0, 1]
    # env steps count the random data and every agent episode
    assert [r.env_steps for r in results] == [2 * 12 + 12, 2 * 12 + 24]
    assert all(r.episode_return == r.episode_return and r.model_loss > 0 for r in results)
    assert len(lines) == 3 and "random episodes" in lines[0] and "iter 1" in lines[2]  # data, then per iteration


def test_unknown_planner_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown planner"):
        make_planner(MPCAgentConfig(planner="nope"), get_task("pendulum-swingup"))


TINY = dict(task="cartpole-swingup", random_episodes=2, episode_steps=12, train_steps=10, finetune_steps=6,
            latent=16, hidden=(16,), horizon=3, action_repeat=2, population=16, elites=4, plan_iterations=1)


def test_a_killed_run_resumes_to_the_same_learning_curve(tmp_path):
    from agents.mpc_agent import curve_rows

    cfg = MPCAgentConfig(**TINY, iterations=3)
    full = run_online_mpc(cfg)

    class Killed(Exception):
        pass

    def kill_after_second(line):
        if "iter 1" in line:
            raise Killed  # iteration 1 logs before it saves: the run dies with iteration 0 saved

    ckpt = tmp_path / "agent.pt"
    with pytest.raises(Killed):
        run_online_mpc(cfg, log=kill_after_second, checkpoint=ckpt)
    lines = []
    resumed = run_online_mpc(cfg, log=lines.append, checkpoint=ckpt)
    assert any("resumed from" in ln and "after iteration 0" in ln for ln in lines)
    keys = ("iteration", "env_steps", "episode_return", "model_loss")
    assert [[r[k] for k in keys] for r in curve_rows(resumed)] == [[r[k] for k in keys] for r in curve_rows(full)]
    assert [r.rewards for r in resumed] == [r.rewards for r in full]
    with pytest.raises(ValueError, match="other settings .*horizon"):
        run_online_mpc(MPCAgentConfig(**{**TINY, "horizon": 4}, iterations=3), checkpoint=ckpt)


def test_env_step_budget_sets_the_number_of_episodes():
    from agents.mpc_agent import planned_iterations

    cfg = MPCAgentConfig(**TINY, env_step_budget=2 * 12 + 3 * 12 + 5)
    assert planned_iterations(cfg, 24, 12) == 3
    with pytest.raises(ValueError, match="leaves no room"):
        planned_iterations(MPCAgentConfig(**TINY, env_step_budget=30), 24, 12)


def test_agent_at_the_decision_time_step_learns_k_step_transitions_of_its_own_episodes():
    """control_steps=k: held random controls, a model of k control steps per step, and the agent's own
    (action-repeat) episodes added at that time step; env steps still count control steps."""
    kept = {}
    cfg = MPCAgentConfig(**{**TINY, "action_repeat": 4}, iterations=2, control_steps=2)
    results = run_online_mpc(cfg, on_model=lambda model, sets: kept.update(model=model, sets=sets))
    assert kept["model"].control_steps == 2
    (pooled,) = kept["sets"]
    assert pooled.episode_length == 6  # 12 control steps / 2, agent episodes cut to the same length
    assert pooled.num_episodes == 2 + 1  # random episodes + the first agent episode (the last fine-tuning's data)
    assert [r.env_steps for r in results] == [2 * 12 + 12, 2 * 12 + 24]
    with pytest.raises(InputError, match="control_steps must be an integer >= 1 dividing action_repeat 4"):
        run_online_mpc(MPCAgentConfig(**{**TINY, "action_repeat": 4}, control_steps=3))


def test_episode_error_scores_every_window_and_drops_after_fitting():
    from agents.model_learning import episode_error

    data = random_data("pendulum-swingup", episodes=2, steps=30, seed=0)
    model = new_model(data, latent=16, hidden=(16,), seed=0)
    before = episode_error(model, data, rollout_steps=3)
    assert before == episode_error(model, data, rollout_steps=3)  # deterministic: every window, no noise
    fit_model(model, [data], steps=80, batch_size=32, lr=3e-3)
    assert episode_error(model, data, rollout_steps=3) < 0.5 * before
    with pytest.raises(InputError, match="no window of 40 steps"):
        episode_error(model, data, rollout_steps=40)


def test_keep_better_model_holds_out_the_newest_episode_and_keeps_the_better_weights(monkeypatch):
    import agents.mpc_agent as mpc

    cfg = MPCAgentConfig(**TINY, iterations=3, keep_better_model=True)
    scores = iter([0.5, 0.4, 0.5, 0.9])  # iteration 1: fine-tuning helps; iteration 2: it hurts
    seen = []

    def fake_error(model, data, rollout_steps):
        seen.append((data.num_episodes, {k: v.clone() for k, v in model.state_dict().items()}))
        return next(scores)

    monkeypatch.setattr(mpc, "episode_error", fake_error)
    lines, final = [], {}
    run_online_mpc(cfg, log=lines.append, on_model=lambda model, sets: final.update(model.state_dict()))
    kept = [line for line in lines if "held-out episode error" in line]
    assert len(kept) == 2 and "fine-tuned model kept" in kept[0] and "previous model kept" in kept[1]
    assert all(n == 1 for n, _ in seen)  # scored on the newest episode alone
    # iteration 2 rejected its fine-tune: the model went back to the weights scored before it
    before_2, after_2 = seen[2][1], seen[3][1]
    assert any(not torch.equal(before_2[k], after_2[k]) for k in before_2)  # fine-tuning did change the weights
    assert all(torch.equal(before_2[k], final[k]) for k in before_2)  # ... and the last episode used the old ones
