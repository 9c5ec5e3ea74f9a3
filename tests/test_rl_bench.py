"""benchmarks/rl.py --merge: earlier runs' curves read back, compared at equal env steps, written as one CSV."""

import csv

import pytest

from benchmarks import rl


def write_rows(path, agent, seed, points, budget):
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["task", "agent", "seed", "env_steps", "return", "budget", "seconds"])
        w.writeheader()
        for steps, ret in points:
            w.writerow({"task": "cheetah-run", "agent": agent, "seed": seed, "env_steps": steps, "return": ret,
                        "budget": budget, "seconds": 10.0})


def test_merge_compares_agents_at_their_shared_env_steps(tmp_path, capsys):
    files = []
    for seed, (mpc, sac) in enumerate([((300.0, 400.0), (200.0, 300.0)), ((100.0, 200.0), (100.0, 100.0))]):
        files += [tmp_path / f"mpc{seed}.csv", tmp_path / f"sac{seed}.csv"]
        write_rows(files[-2], "mpc", seed, [(9000, mpc[0]), (10000, mpc[1])], 10000)
        write_rows(files[-1], "sac", seed, [(5000, 1.0), (10000, sac[1])], 10000)
    out = tmp_path / "all.csv"
    assert rl.main(["--merge", *map(str, files), "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    # at 10000 steps: mpc (400 + 200) / 2 = 300, sac (300 + 100) / 2 = 200; 9000 and 5000 are not shared
    assert "| cheetah-run | mpc | 10000 | 400.0 / 200.0 | 300.0 | 1.50 |" in text
    assert "mean over seeds at equal env steps: 10000: 300.0 / 200.0" in text
    assert len(list(csv.DictReader(out.open()))) == 8 and out.with_suffix(".png").exists()


def test_merge_names_a_missing_file(tmp_path):
    with pytest.raises(SystemExit, match="no file nope.csv"):
        rl.main(["--merge", "nope.csv", "--csv", str(tmp_path / "x.csv")])
