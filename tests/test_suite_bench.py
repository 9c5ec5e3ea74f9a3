"""benchmarks/suite.py end to end on two systems at a tiny budget: a torch-reward task and a learned-reward one."""

import csv

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
