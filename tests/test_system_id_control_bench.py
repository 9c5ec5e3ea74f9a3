"""benchmarks/system_id_control.py end to end at a tiny budget: every model trained with the rollout loss, rows
written for the controllers asked for."""

import csv

import pytest

from benchmarks import system_id_control


def test_tiny_run_trains_with_the_rollout_loss_and_writes_rows(tmp_path, capsys):
    out = tmp_path / "rows.csv"
    argv = ["--tasks", "cartpole-swingup", "--episodes", "4", "--episode-steps", "48", "--train-steps", "3",
            "--latent", "8", "--window", "2", "--systems", "1", "--first-system", "1", "--steps", "16",
            "--samples", "4", "--iterations", "1", "--horizon", "2", "--rollout-steps", "2", "--change-step", "0",
            "--controllers", "(a) true params", "(b) ID", "true CEM", "nominal CEM", "--ranges", "mass=0.5,3",
            "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "runs"), "--csv", str(out)]
    assert system_id_control.main(argv) == 0
    assert "rollout loss over 2 model steps" in capsys.readouterr().out
    assert (tmp_path / "runs" / "cartpole-swingup" / "sysid_h2" / "model.pt").exists()
    rows = list(csv.DictReader(out.open()))
    assert [r["controller"] for r in rows] == ["(a) true params", "(b) ID", "true CEM", "nominal CEM"]
    assert all(r["rollout_steps"] == "2" and r["ranges"] == "length=0.5,2 mass=0.5,3" for r in rows)
    assert {r["system"] for r in rows} == {"1"}  # --first-system 1: the draw's second system, under its own index
    assert list((tmp_path / "data").glob("*mass0.5-3*"))  # data named by the ranges in force


def test_a_second_run_reuses_the_saved_gns_and_retrains_when_settings_differ(tmp_path, monkeypatch):
    """A confirmation run (--first-system) loads the GNs a run with the same settings and data saved; other
    settings (here --train-steps) train afresh."""
    import agents.model_learning

    argv = ["--tasks", "cartpole-swingup", "--episodes", "4", "--episode-steps", "48", "--train-steps", "3",
            "--latent", "8", "--systems", "1", "--steps", "16", "--samples", "4", "--iterations", "1",
            "--horizon", "2", "--change-step", "0", "--controllers", "(a) true params", "(d) nominal",
            "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "runs")]
    assert system_id_control.main([*argv, "--csv", str(tmp_path / "a.csv")]) == 0
    assert (tmp_path / "runs" / "cartpole-swingup" / "gn_true" / "model.pt").exists()
    fits = []
    real_fit = agents.model_learning.fit_model
    monkeypatch.setattr(agents.model_learning, "fit_model", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    assert system_id_control.main([*argv, "--csv", str(tmp_path / "b.csv")]) == 0
    assert fits == []  # both GNs loaded
    first, again = (list(csv.DictReader((tmp_path / f).open())) for f in ("a.csv", "b.csv"))
    assert [r["return"] for r in again] == [r["return"] for r in first]
    assert system_id_control.main([*argv[:7], "4", *argv[8:], "--csv", str(tmp_path / "c.csv")]) == 0
    assert len(fits) == 2  # --train-steps 4: both trained again


def test_a_malformed_range_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit):
        system_id_control.main(["--ranges", "gear=2,0.5"])
    assert "argument --ranges: 'gear=2,0.5': expected KEY=LOW,HIGH with 0 < LOW <= HIGH" in \
        capsys.readouterr().err


def test_a_negative_first_system_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit):
        system_id_control.main(["--first-system", "-1"])
    assert "--first-system must be >= 0, got -1" in capsys.readouterr().err
