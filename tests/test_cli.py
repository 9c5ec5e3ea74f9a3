"""The gncontrol CLI end to end on tiny budgets: collect -> train -> evaluate, config files, demo."""

import json
from pathlib import Path

import pytest
import torch

from gncontrol.cli import main

FULL_RECIPE = Path(__file__).resolve().parents[1] / "configs" / "nri" / "springs5_full.json"  # device cuda


def test_help_lists_subcommands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for cmd in ("collect", "train", "evaluate", "demo"):
        assert cmd in out


def test_collect_train_evaluate_with_config_and_resume(tmp_path, capsys):
    data = tmp_path / "d.h5"
    assert main(["collect", "--task", "pendulum-swingup", "--episodes", "6", "--steps", "30", "--out", str(data),
                 "--no-progress"]) == 0
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"steps": 20, "latent": 16, "hidden": [16], "batch-size": 16,
                               "_paper": "notes are ignored"}))
    out = tmp_path / "run"
    args = ["train", "--config", str(cfg), "--data", str(data), "--out", str(out), "--val-fraction", "0.34"]
    assert main(args + ["--steps", "10"]) == 0
    from gncontrol.checkpoints import load_checkpoint

    rec = load_checkpoint(out / "model.pt")
    assert rec["step"] == 10  # the flag overrode the config's 20
    assert rec["model_config"]["latent"] == 16  # the config overrode the default 128
    assert main(args + ["--steps", "15", "--resume"]) == 0
    assert load_checkpoint(out / "model.pt")["step"] == 15
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out / "model.pt"), "--data", str(data), "--horizons", "1", "5"]) == 0
    text = capsys.readouterr().out
    assert "pendulum-swingup" in text and (out / "rollout_pendulum-swingup.png").stat().st_size > 1000


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "missing.h5"], "missing.h5"),
    (["evaluate", "--model", "nope.pt", "--data", "x.h5"], "checkpoint not found"),
    (["train", "--config", "nope.json"], "config file not found"),
    (["demo", "--task", "cartpole-swingp"], "cartpole-swingp"),
    pytest.param(["nri-train", "--config", str(FULL_RECIPE), "--epochs", "1"], "CUDA is not available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_bad_input_is_one_clear_line(argv, message, capsys, tmp_path):
    assert main(argv + (["--out", str(tmp_path / "o")] if argv[0] == "demo" else [])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_demo_tiny_budget(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--episodes", "3", "--episode-steps", "40", "--train-steps", "20",
            "--finetune-steps", "5", "--rounds", "2", "--mpc-steps", "8", "--horizon", "3", "--iterations", "2",
            "--restarts", "2", "--action-repeat", "2", "--control-steps", "2"]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [r["round"] for r in summary["rounds"]] == [0, 1] and summary["mpc_steps"] == 8
    # random data: 3 swing-up + 3 near-upright (cartpole-balance) episodes x 40 steps, then two 8-step rounds
    assert [r["env_steps"] for r in summary["rounds"]] == [6 * 40 + 8, 6 * 40 + 16]
    assert summary["final_return"] == summary["rounds"][-1]["return"]
    assert summary["reference_return"] is not None and summary["plan_time_per_step_s"] > 0
    assert summary["recipe"]["terminal_weight"] == 25.0 and summary["recipe"]["horizon"] == 3  # flag over recipe
    for name in ("returns.png", "rollout_cartpole-swingup.png", "episode.gif", "model.pt"):
        assert (out / name).stat().st_size > 0, name
    text = capsys.readouterr().out
    assert "demo summary" in text and "return per round" in text
    assert summary["recipe"]["control_steps"] == 2  # a model at the decision time step, 2 control steps a step
    # errors are labelled by the control steps measured: 40-step held-out episodes at the model's 2-step time
    # step give 2 (one model step), 20 and 40
    assert {"rollout_2_error", "rollout_20_error", "rollout_40_error"} <= set(summary)
    assert "rollout_100_error" not in summary and "one_step_error" not in summary
    assert main(["plan", "--task", "cartpole-swingup", "--model", str(out / "model.pt"), "--planner", "random",
                 "--samples", "4", "--horizon", "2", "--action-repeat", "2", "--steps", "2", "--no-video",
                 "--out", str(tmp_path / "p")]) == 0
    # a re-run into the same OUT with other options is refused in one line, nothing overwritten
    before = (out / "model.pt").stat().st_mtime_ns
    capsys.readouterr()
    for other, key in ((["--task", "pendulum-swingup"], "task"), (["--latent", "32"], "latent")):
        assert main(argv + other) == 2
        err = capsys.readouterr().err
        assert "other options" in err and key in err and len(err.strip().splitlines()) == 1
    assert (out / "model.pt").stat().st_mtime_ns == before


def test_shipped_gn_configs_load():
    """Every configs/gn file names only options its command has."""
    from gncontrol.cli import build_parser
    from gncontrol.cli._common import config_defaults

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    files = sorted((Path(__file__).parent.parent / "configs" / "gn").glob("*.json"))
    assert files
    for f in files:
        command = "demo" if f.name.startswith("demo") else "train"
        values = config_defaults(sub.choices[command], f)
        assert values, f


@pytest.mark.parametrize("planner", ["cem", "mcts"])
def test_plan_with_true_model(planner, tmp_path, capsys):
    out = tmp_path / planner
    assert main(["plan", "--task", "pendulum-swingup", "--model", "true", "--planner", planner, "--steps", "4",
                 "--horizon", "3", "--iterations", "2", "--samples", "16", "--out", str(out), "--no-video"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "true" and len(summary["returns"]) == 1


def test_plan_records_episodes_as_training_data(tmp_path, capsys):
    from gncontrol.forward.datasets import load_trajectories

    data, out = tmp_path / "expert.h5", tmp_path / "plan"
    for seed in ("0", "5"):  # the second call appends
        assert main(["plan", "--task", "pendulum-swingup", "--model", "true", "--planner", "cem", "--steps", "6",
                     "--horizon", "3", "--iterations", "2", "--samples", "16", "--out", str(out), "--no-video",
                     "--seed", seed, "--record", str(data)]) == 0
    rec = load_trajectories(data)
    assert rec.states.shape == (2, 7, 2, 13) and rec.actions.shape == (2, 6, 1)
    assert rec.metadata["controller"] == "mpc:cem:true"
    returns = json.loads((out / "summary.json").read_text())["returns"]
    # the stored rewards are the task's torch reward of the stored states: they sum to the env's return
    assert rec.rewards[1].sum() == pytest.approx(returns[0], abs=1e-4)
    assert not (rec.states[0] == rec.states[1]).all()
    assert main(["train", "--data", str(data), "--steps", "3", "--out", str(tmp_path / "m")]) == 0
    # two checkpoints plan through their ensemble; an ensemble with the true model is refused
    assert main(["train", "--data", str(data), "--steps", "3", "--seed", "1", "--out", str(tmp_path / "m2")]) == 0
    ckpts = [str(tmp_path / m / "model.pt") for m in ("m", "m2")]
    assert main(["plan", "--task", "pendulum-swingup", "--reward", "pendulum-swingup-smooth", "--model", *ckpts,
                 "--planner", "gradient", "--steps", "3", "--horizon", "3", "--iterations", "2", "--out", str(out),
                 "--no-video", "--ensemble-rollout", "mean"]) == 0
    assert json.loads((out / "summary.json").read_text())["model"] == " ".join(ckpts)
    capsys.readouterr()
    assert main(["plan", "--model", ckpts[0], "true", "--planner", "cem", "--out", str(out)]) == 2
    assert "ensemble" in capsys.readouterr().err


def test_plan_rejects_gradient_on_true_model(capsys, tmp_path):
    assert main(["plan", "--model", "true", "--planner", "gradient", "--out", str(tmp_path)]) == 2
    assert "not differentiable" in capsys.readouterr().err


def test_cheetah_demo_recipe_trains_on_rollouts_and_a_flag_overrides_it():
    import argparse

    from gncontrol.cli import demo

    def recipe(*flags):
        p = argparse.ArgumentParser()
        demo.add_arguments(p)
        args = p.parse_args(list(flags))
        return demo.agent_config(args, demo.recipe_for(args), 1000)

    assert recipe("--task", "cheetah-run").rollout_steps == 4  # measured: final return 148.1 -> 394.6
    assert recipe("--task", "cheetah-run", "--rollout-steps", "1").rollout_steps == 1
    assert recipe("--task", "cartpole-swingup").rollout_steps == 1


def test_icem_options_reach_the_agents_planner_and_the_rl_benchmark_overrides_recipes():
    import argparse

    import pytest

    from agents.mpc_agent import make_planner
    from benchmarks.rl import agent_override
    from envs.tasks import get_task
    from gncontrol.cli import demo

    p = argparse.ArgumentParser()
    demo.add_arguments(p)
    args = p.parse_args(["--task", "cheetah-run", "--keep-elites", "0.3", "--noise-beta", "2"])
    config = demo.agent_config(args, demo.recipe_for(args), 1000)
    planner = make_planner(config, get_task("cheetah-run"))
    assert (planner.config.keep_elites, planner.config.noise_beta) == (0.3, 2.0)
    plain = p.parse_args(["--task", "cheetah-run"])
    assert demo.agent_config(plain, demo.recipe_for(plain), 1000).keep_elites == 0.0  # off unless asked for
    assert agent_override("population=128") == ("population", 128)
    assert agent_override("hidden=[128, 128]") == ("hidden", (128, 128))
    assert agent_override("mix=even") == ("mix", "even")
    with pytest.raises(argparse.ArgumentTypeError, match="KEY one of"):
        agent_override("no_such_key=1")
