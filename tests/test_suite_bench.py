"""benchmarks/suite.py end to end on two systems at a tiny budget: a torch-reward task and a learned-reward one."""

import csv

import numpy as np
import pytest

from benchmarks import suite


def test_suite_rows_for_a_torch_and_a_learned_reward_task(tmp_path, capsys):
    out = tmp_path / "rows.csv"
    argv = ["--systems", "dmc:pendulum-swingup", "dmc:walker-run", "--episodes", "5", "--episode-steps", "20",
            "--steps", "5", "--latent", "8", "--hidden", "8", "--reward-steps", "5", "--reward-hidden", "8",
            "--mpc-steps", "2", "--horizon", "2", "--samples", "4", "--iterations", "1", "--data-dir",
            str(tmp_path / "data"), "--out", str(tmp_path / "runs"), "--csv", str(out)]
    assert suite.main(argv) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["system"] for r in rows] == ["dmc:pendulum-swingup", "dmc:walker-run"]
    assert rows[0]["reward"] == "torch" and rows[1]["reward"] == "learned" and rows[1]["reward_rmse_ratio"]
    assert all(float(r["gn_20"]) >= 0 and r["gn_mpc"] and r["true_cem"] and r["random"] for r in rows)
    assert suite.main(argv + ["--resume"]) == 0  # nothing left to run: the rows are kept
    assert len(list(csv.DictReader(out.open()))) == 2
    capsys.readouterr()
    assert suite.main(["--report", "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "of 2 systems" in text and "| dmc:walker-run |" in text and "learned (" in text
    # the planning columns again with another recipe, on the same trained models (not trained again)
    saved = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("*.pt")}
    other = tmp_path / "replan.csv"
    assert suite.main(argv[:-1] + [str(other), "--reuse-models", "--plan-reward", "smooth",
                                   "--action-repeat", "2"]) == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("*.pt")} == saved
    again = list(csv.DictReader(other.open()))
    assert [r["gn_20"] for r in again] == [r["gn_20"] for r in rows] and all(r["gn_mpc"] for r in again)


def test_planning_reward_is_the_registered_smooth_twin():
    assert suite.planning_reward("dmc:pendulum-swingup", "smooth") == "pendulum-swingup-smooth"
    assert suite.planning_reward("dmc:finger-spin", "smooth") == "finger-spin-smooth"
    assert suite.planning_reward("dmc:walker-run", "smooth") is None
    assert suite.planning_reward("dmc:pendulum-swingup", "task") is None


def test_report_counts_the_done_when_rows():
    def row(name, gn20, over_random, over_true):
        return {"system": name, "bodies": 3.0, "actions": 1.0, "gn_20": gn20, "mlp_20": 0.5,
                "gn_over_mlp_20": gn20 / 0.5,
                "reward": "torch", "gn_mpc": 10.0, "true_cem": 10.0 / over_true, "random": 10.0 / over_random,
                "gn_mpc_over_random": over_random, "gn_mpc_over_true": over_true}

    no_mpc = {"gn_mpc": "", "gn_mpc_over_random": "", "gn_mpc_over_true": ""}
    text = suite.report([row("dmc:a-b", 0.1, 5.0, 0.6), row("dmc:c-d", 0.4, 2.0, 0.4),
                         {**row("gym:E-v5", 0.2, 1.0, 1.0), **no_mpc}])
    assert "< 0.3 on 2 of 3 systems (a-b, E-v5)" in text
    assert ">= 3x random on 1 of 2 with MPC (a-b)" in text and ">= 50% of the true-model CEM on 1 (a-b)" in text
    costs = {"gn_mpc": -10.0, "true_cem": -8.0, "random": -50.0}  # negative returns: only the gap is meaningful
    assert suite.gap_closed(costs) == pytest.approx(40 / 42)
    assert np.isnan(suite.gap_closed({**costs, "true_cem": "n/a"}))


def test_a_sparse_reward_floors_random_at_one_percent_of_the_best_return():
    sparse = suite.with_ratios({"system": "dmc:pendulum-swingup", "gn_mpc": 33.0, "true_cem": 123.0, "random": 0.0,
                                "mpc_steps": 200.0})
    assert np.isnan(sparse["gn_mpc_over_random"])  # strictly: no ratio to a zero return
    assert sparse["gn_mpc_over_floored_random"] == pytest.approx(33 / 2)
    weak = suite.with_ratios({**sparse, "gn_mpc": 5.0})
    assert weak["gn_mpc_over_floored_random"] == pytest.approx(2.5)  # below 3x: 5 of 200 is not a solved task
    gym = suite.with_ratios({**sparse, "system": "gym:Reacher-v5"})  # unbounded rewards: no floor
    assert np.isnan(gym["gn_mpc_over_floored_random"])
    text = suite.report([{**sparse, "bodies": 2.0, "actions": 1.0, "gn_20": 0.1, "mlp_20": 0.2,
                          "gn_over_mlp_20": 0.5, "reward": "torch"}])
    assert ">= 3x random on 0 of 1" in text and "floored at 1% of the best possible return" in text
    assert "0): 1 (pendulum-swingup)" in text


def test_merge_replaces_rerun_systems_and_keeps_the_order(tmp_path, capsys):
    base = {"bodies": 2.0, "actions": 1.0, "gn_20": 0.1, "mlp_20": 0.2, "gn_over_mlp_20": 0.5, "reward": "torch",
            "true_cem": 100.0, "random": 0.0}
    first, second, out = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "m.csv"
    suite.write_csv(first, [{"system": "dmc:a-b", **base, "gn_mpc": 0.0}, {"system": "dmc:c-d", **base, "gn_mpc": 1.0}])
    suite.write_csv(second, [{"system": "dmc:a-b", **base, "gn_mpc": 50.0, "mpc_steps": 100.0}])
    assert suite.main(["--merge", str(first), str(second), "--csv", str(out), "--mpc-steps", "200"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["system"], float(r["gn_mpc"]), float(r["mpc_steps"])) for r in rows] == [
        ("dmc:a-b", 50.0, 100.0), ("dmc:c-d", 1.0, 200.0)]  # replaced; the old row's steps filled in
    assert float(rows[0]["gn_mpc_over_floored_random"]) == pytest.approx(50.0)
    with pytest.raises(suite.InputError, match="no rows"):
        suite.main(["--merge", str(tmp_path / "missing.csv"), "--csv", str(out)])


def test_suite_trains_and_plans_with_models_at_the_decision_time_step(tmp_path):
    from envs.tasks import get_task, random_policy_return
    from gncontrol.forward.training import load_forward_model

    out = tmp_path / "rows.csv"
    argv = ["--systems", "dmc:pendulum-swingup", "--episodes", "4", "--episode-steps", "24", "--steps", "3",
            "--latent", "8", "--hidden", "8", "--mpc-steps", "4", "--horizon", "2", "--samples", "4",
            "--iterations", "1", "--action-repeat", "2", "--control-steps", "2", "--mpc-episodes", "2",
            "--data-dir", str(tmp_path / "data"),
            "--out", str(tmp_path / "runs"), "--csv", str(out)]
    assert suite.main(argv) == 0
    row = next(csv.DictReader(out.open()))
    assert float(row["control_steps"]) == 2 and float(row["gn_20"]) >= 0 and row["gn_mpc"]
    assert float(row["mpc_episodes"]) == 2  # the planning columns are means over env seeds 0 and 1
    task = get_task("dmc:pendulum-swingup")
    assert float(row["random"]) == pytest.approx(np.mean([random_policy_return(task, 4, s) for s in (0, 1)]))
    assert list((tmp_path / "data").glob("*_hold2_*.h5"))  # its own data: controls held 2 steps
    for kind in ("gn", "mlp"):
        model = load_forward_model(tmp_path / "runs" / "dmc_pendulum-swingup" / kind / "model.pt")[0]
        assert model.control_steps == 2
    assert "(k=2, 2 episodes)" in suite.report(suite.read_rows(out))
    with pytest.raises(SystemExit):  # a model step that an action block does not fill: refused
        suite.main(argv[:-1] + [str(tmp_path / "x.csv"), "--control-steps", "3"])
