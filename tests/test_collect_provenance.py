"""`collect`: Ctrl-C keeps a valid file and says how --append continues; every episode records
how it was made, so an --append with another controller, seed or --randomise is described too."""

import json

import h5py
import numpy as np

import envs.collect as collect_mod
from gncontrol.cli import main
from gncontrol.forward.datasets import episode_provenance, load_trajectories

BASE = ["collect", "--task", "pendulum-swingup", "--steps", "10", "--no-progress"]


def test_ctrl_c_keeps_written_episodes_and_append_continues(tmp_path, monkeypatch, capsys):
    assert main(BASE + ["--episodes", "5", "--out", str(tmp_path / "full.h5")]) == 0
    real, calls = collect_mod.add_rewards, [0]

    def add_rewards(ep):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return real(ep)

    monkeypatch.setattr(collect_mod, "add_rewards", add_rewards)
    cut = tmp_path / "cut.h5"
    capsys.readouterr()
    assert main(BASE + ["--episodes", "5", "--out", str(cut)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"interrupted: 2 of 5 episodes written to {cut} (2 in the file); the same command with "
                   "--append --episodes 3 continues"]
    assert load_trajectories(cut).num_episodes == 2  # a valid file
    monkeypatch.undo()
    assert main(BASE + ["--episodes", "3", "--out", str(cut), "--append"]) == 0
    a, b = load_trajectories(tmp_path / "full.h5"), load_trajectories(cut)
    assert np.array_equal(a.states, b.states) and np.array_equal(a.actions, b.actions)
    assert a.metadata["episode_seeds"] == b.metadata["episode_seeds"]


def test_append_with_other_options_records_per_episode_provenance(tmp_path):
    out = tmp_path / "d.h5"
    assert main(BASE + ["--episodes", "2", "--out", str(out)]) == 0
    assert main(BASE + ["--episodes", "1", "--out", str(out), "--append", "--controller", "ou", "--seed", "7",
                        "--randomise"]) == 0
    data = load_trajectories(out)
    prov = data.metadata["provenance"]
    assert [(p["controller"], p["seed"], p["randomise"], p["episode"]) for p in prov] == [
        ("uniform", 0, False, 0), ("uniform", 0, False, 1), ("ou", 7, True, 2)]
    assert prov[2]["command"]["append"] is True and prov[2]["command"]["first_episode"] == 2
    assert prov[0]["command"]["episodes"] == 2 and prov[0]["command"]["append"] is False
    assert data.select([2]).metadata["provenance"] == [prov[2]]
    assert data.metadata["controller"] == "uniform"  # the file level stays the first collection's


def test_old_files_without_provenance_stay_readable_and_appendable(tmp_path):
    out = tmp_path / "old.h5"
    assert main(BASE + ["--episodes", "2", "--seed", "3", "--out", str(out)]) == 0
    with h5py.File(out, "a") as f:  # as written before provenance was recorded
        meta = json.loads(f["metadata_json"][()])
        del meta["provenance"]
        del f["metadata_json"]
        f.create_dataset("metadata_json", data=json.dumps(meta))
    old = load_trajectories(out)
    assert episode_provenance(old) == [{"controller": "uniform", "seed": 3, "randomise": False, "episode": i,
                                        "inferred": True} for i in range(2)]
    assert main(BASE + ["--episodes", "1", "--out", str(out), "--append", "--controller", "ou"]) == 0
    prov = load_trajectories(out).metadata["provenance"]
    assert [p.get("inferred", False) for p in prov] == [True, True, False]
    assert prov[2]["controller"] == "ou" and prov[2]["seed"] == 0
