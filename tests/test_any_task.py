"""Any MuJoCo system as a task: dm_control suite names, Gymnasium envs, a user's MJCF with a reward file."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from envs.collect import collect_episode
from envs.tasks import get_task, list_tasks, register_task
from gncontrol.cli import main
from gncontrol.errors import InputError

DATA = Path(__file__).parent / "data"
ARM = f"xml:{DATA / 'arm_and_box.xml'}"
REWARD = f"{DATA / 'arm_reward.py'}:reward"

DMC_DOMAINS = ["acrobot-swingup", "ball_in_cup-catch", "cartpole-swingup", "cheetah-run", "finger-spin",
               "fish-swim", "hopper-hop", "humanoid-walk", "humanoid_CMU-stand", "lqr-lqr_2_1",
               "manipulator-bring_ball", "pendulum-swingup", "point_mass-easy", "quadruped-walk", "reacher-easy",
               "stacker-stack_2", "swimmer-swimmer6", "walker-walk", "dog-walk"]
GYM_ENVS = ["Ant-v5", "HalfCheetah-v5", "Hopper-v5", "Humanoid-v5", "HumanoidStandup-v5",
            "InvertedDoublePendulum-v5", "InvertedPendulum-v5", "Pusher-v5", "Reacher-v5", "Swimmer-v5", "Walker2d-v5"]


@pytest.mark.parametrize("name", DMC_DOMAINS)
def test_every_dm_control_domain_collects_with_the_envs_own_reward(name):
    ep = collect_episode(f"dmc:{name}", seed=0, episode=0, steps=4)
    task = get_task(f"dmc:{name}")
    n = task.graph().num_nodes
    assert ep["states"].shape == (5, n, 13) and ep["actions"].shape == (4, task.action_dim)
    assert np.all(np.isfinite(ep["states"])) and np.all(np.isfinite(ep["rewards"]))
    assert np.all(ep["actions"] >= task.action_low) and np.all(ep["actions"] <= task.action_high)


def test_recorded_env_rewards_are_the_envs_step_rewards():
    """Direct physics stepping reads the dm_control task's reward of the same states dm_control's step gives."""
    ep = collect_episode("dmc:walker-run", seed=3, episode=1, steps=6)
    env = get_task("dmc:walker-run").make_env(seed=0)
    env.task._random = np.random.RandomState(int(np.random.SeedSequence([3, 1]).spawn(3)[0].generate_state(1)[0]))
    env.reset()
    rewards = [env.step(a).reward for a in ep["actions"]]
    np.testing.assert_allclose(ep["rewards"], rewards, rtol=0, atol=1e-12)


def test_dm_control_name_of_a_registered_task_keeps_its_torch_reward():
    assert get_task("dmc:cartpole-swingup").reward_builder == get_task("cartpole-swingup").reward_builder
    assert get_task("dmc:swimmer-swimmer21").graph().num_nodes == 22  # any N of the SwimmerN family
    assert get_task("dmc:hopper-hop").reward_builder == "hopper"  # hopper's hand-written twin
    assert not get_task("dmc:walker-run").has_reward


@pytest.mark.parametrize("env_id", GYM_ENVS)
def test_every_gymnasium_mujoco_env_collects(env_id):
    import gymnasium as gym

    task = get_task(f"gym:{env_id}")
    ref = gym.make(env_id)
    assert task.control_timestep == pytest.approx(ref.unwrapped.dt)
    assert task.episode_length == ref.spec.max_episode_steps
    ep = collect_episode(f"gym:{env_id}", seed=1, episode=0, steps=3)
    assert ep["states"].shape == (4, ref.unwrapped.model.nbody, 13) and np.all(np.isfinite(ep["states"]))


def test_user_model_with_ball_and_free_joints_runs_collect_train_evaluate_plan(tmp_path, capsys):
    data, model, plan = tmp_path / "d.h5", tmp_path / "m", tmp_path / "p"
    assert main(["collect", "--task", ARM, "--reward", REWARD, "--episodes", "4", "--steps", "20", "--out",
                 str(data), "--no-progress"]) == 0
    from gncontrol.forward.datasets import load_trajectories

    tr = load_trajectories(data)
    expected = tr.states[:, 1:, 2, 2] - 0.01 * (tr.actions**2).sum(-1)
    np.testing.assert_allclose(tr.rewards, expected, atol=1e-6)  # the user's reward on the recorded states
    assert tr.metadata["rewards"].startswith("torch:")
    assert main(["train", "--data", str(data), "--out", str(model), "--steps", "10", "--latent", "16",
                 "--hidden", "16", "--batch-size", "16", "--val-fraction", "0.25"]) == 0
    assert main(["evaluate", "--model", str(model / "model.pt"), "--data", str(data), "--horizons", "1", "5"]) == 0
    assert len(list(model.glob("rollout_*.png"))) == 1  # a file-name-safe plot name, in the model folder
    assert main(["plan", "--task", ARM, "--reward", REWARD, "--model", str(model / "model.pt"), "--planner",
                 "cem", "--horizon", "3", "--iterations", "2", "--samples", "8", "--steps", "4", "--out", str(plan),
                 "--no-video"]) == 0
    summary = json.loads((plan / "summary.json").read_text())
    assert len(summary["returns"]) == 1 and np.isfinite(summary["returns"][0])


def test_true_model_planner_on_a_users_model_and_a_gymnasium_env(tmp_path):
    for i, task in enumerate([ARM, "gym:Hopper-v5"]):
        assert main(["plan", "--task", task, "--reward", REWARD, "--model", "true", "--planner", "cem", "--horizon",
                     "3", "--samples", "8", "--iterations", "1", "--steps", "3", "--out", str(tmp_path / str(i)),
                     "--no-video"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["plan", "--task", "dmc:lqr-lqr_2_1", "--reward", REWARD, "--model", "true"], "dm_control generates it"),
    (["plan", "--task", "dmc:walker-run", "--model", "true"], "no torch reward"),
    (["plan", "--task", "dmc:hoper-hop", "--model", "true"], "unknown dm_control domain 'hoper'"),
    (["plan", "--task", "dmc:hopper-fly", "--model", "true"], "domain hopper has tasks"),
    (["plan", "--task", "xml:nowhere.xml", "--model", "true"], "not found"),
    (["plan", "--task", "gym:NoSuchEnv-v5", "--model", "true"], "unknown Gymnasium env"),
    (["plan", "--task", ARM, "--reward", f"{DATA / 'arm_reward.py'}:wrong_shape", "--model", "true"],
     "must return a torch tensor [B]"),
    (["plan", "--task", ARM, "--reward", f"{DATA / 'arm_reward.py'}:one_argument", "--model", "true"],
     "must take (state, action)"),
    (["plan", "--task", ARM, "--reward", f"{DATA / 'arm_reward.py'}:missing", "--model", "true"], "no function"),
    (["collect", "--task", ARM, "--reward", "no_such_module_xyz:reward", "--episodes", "1"], "importing"),
])
def test_bad_task_or_reward_is_one_line(argv, message, tmp_path, capsys):
    assert main(argv + ["--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_register_task_from_python_with_a_callable_reward():
    def height(state, action):
        return state[:, 2, 2]

    task = register_task("test-arm", DATA / "arm_and_box.xml", reward=height, replace=True)
    assert "test-arm" in list_tasks() and get_task("test-arm").has_reward
    env = task.make_env(seed=0)
    env.reset()
    ts = env.step(np.zeros(1))  # the generic env rewards with the user's function
    state = torch.from_numpy(task.graph().body_states(env.physics.data.ptr))[None]
    assert ts.reward == pytest.approx(float(height(state, None)[0]))
    with pytest.raises(InputError, match="already registered"):
        register_task("test-arm", DATA / "arm_and_box.xml")
    with pytest.raises(InputError, match="without ':'"):
        register_task("dmc:mine", DATA / "arm_and_box.xml")


def test_tasks_command_lists_names_and_schemes(capsys):
    assert main(["tasks", "--all"]) == 0
    out = capsys.readouterr().out
    assert "cartpole-swingup" in out and "dmc:hopper-hop" in out and "gym:Hopper-v5" in out and "xml:PATH" in out


@pytest.mark.parametrize("name", ["dmc:hopper-hop", "dmc:swimmer-swimmer7", ARM, "gym:Hopper-v5"])
def test_randomised_collection_on_any_task(name):
    """--randomise works on scheme names: suite models get their domain's ranges (lengths too, from the suite
    XML); a gym: or xml: model gets masses, damping and gears."""
    from envs.randomisation import ranges_for

    ep = collect_episode(name, seed=2, episode=0, steps=3, randomise=True)
    assert np.all(np.isfinite(ep["states"])) and ep["parameters"] is not None
    assert ("length" in ranges_for(name)) == name.startswith("dmc:")
    assert ("length_scale" in ep["parameters"]) == name.startswith("dmc:")


def test_demo_refuses_a_task_without_reward_before_any_work(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--task", "dmc:walker-run", "--out", str(out)]) == 2
    assert "has none" in capsys.readouterr().err and not list(out.glob("*"))


def test_true_model_of_a_model_with_missing_meshes_is_one_line(tmp_path, capsys):
    """dm_control's dog loads its meshes from assets the recompiled XML cannot reach: a clear refusal."""
    assert main(["plan", "--task", "dmc:dog-stand", "--reward", REWARD, "--model",
                 "true", "--steps", "1", "--out", str(tmp_path / "o"), "--no-video"]) == 2
    assert "cannot recompile the model" in capsys.readouterr().err
