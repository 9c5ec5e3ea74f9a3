"""`gncontrol hnn`: trains, reports, writes a loadable checkpoint; bad input is a one-line error."""

from __future__ import annotations

from gncontrol.checkpoints import load_checkpoint
from gncontrol.cli import main


def test_hnn_cli_trains_and_saves(tmp_path, capsys):
    out = tmp_path / "hnn.pt"
    rc = main(["hnn", "--system", "mass_spring", "--trajectories", "4", "--steps", "20",
               "--hidden", "16", "--out", str(out), "--logdir", str(tmp_path / "tb")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "HNN on mass_spring" in text
    ckpt = load_checkpoint(out, kind="hnn")
    assert ckpt["config"]["state_dim"] == 2 and ckpt["test_mse"] > 0
    assert any((tmp_path / "tb").iterdir())


def test_hnn_cli_rejects_unknown_system(capsys):
    assert main(["hnn", "--system", "ten_body"]) == 2
    assert "unknown system" in capsys.readouterr().err


def test_hnn_configs_parse_and_bad_keys_are_errors(tmp_path, capsys):
    import json
    from pathlib import Path

    from gncontrol.cli import build_parser
    from gncontrol.cli._common import config_defaults

    sub = build_parser().parse_args(["hnn"])._parser
    paths = sorted(Path("configs/hamiltonian").glob("hnn_*.json"))
    assert paths
    for path in paths:
        assert config_defaults(sub, path)["system"] in path.name
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sistem": "pendulum"}))
    assert main(["hnn", "--config", str(bad)]) == 2
    assert "unknown option 'sistem'" in capsys.readouterr().err
