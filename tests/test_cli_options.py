"""Every numeric option of every subcommand refuses nonsense with argparse's one-line error; config files,
devices and output paths are checked before any work starts. Nothing here trains or collects data."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from gncontrol.cli import build_parser, main

NONSENSE = ("0", "-1", "nan", "inf")
LIST_NONSENSE = ("0", "[0]", "[-1]", "[NaN]", "[Infinity]", "[1, 0]")

# The only nonsense-probe values an option may accept: 0 where the option documents its meaning (a seed or
# an index is >= 0, a weight/noise/count of 0 means off). -1, NaN and inf are never accepted.
ZERO_OK = {
    "--seed": "*",
    "--noise": ("train", "train-sysid"),
    "--warm-restarts": ("plan", "demo"),
    "--warm-noise": ("plan", "demo"),
    "--smoothness": ("plan", "demo"),
    "--action-noise": ("plan", "demo"),
    "--terminal-weight": ("plan", "demo"),
    "--keep-elites": ("plan", "demo"),
    "--noise-beta": ("plan", "demo"),
    "--identify-steps": ("plan",),
    "--refine-steps": ("plan", "identify"),
    "--episode": ("identify",),
    "--weight-decay": ("hnn", "nri-train"),
    "--dropout": ("nri-train",),
    "--lr-min": ("nri-train",),
    "--burn-in": ("train",),
}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _numeric_kind(kind) -> str | None:
    """'scalar' or 'list' when `kind` (an action's type) turns text into numbers, else None."""
    for probe, shape in (("1", "scalar"), ("[1]", "list")):
        try:
            value = kind(probe)
        except Exception:  # noqa: BLE001 - a type refusing the probe is simply not of that shape
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            return shape
        if isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return shape
    return None


def _valid_text(action: argparse.Action) -> str:
    if action.choices:
        return str(next(iter(action.choices)))
    if action.type is not None and _numeric_kind(action.type) == "list":
        return "[1]"
    return "1" if action.type is not None and _numeric_kind(action.type) else "x"


def _with(action: argparse.Action, text: str) -> list[str]:
    """argv giving `action` the value `text` (padded with valid values where it takes several)."""
    n = action.nargs if isinstance(action.nargs, int) else 1
    return [action.option_strings[-1], text, *[_valid_text(action)] * (n - 1)]


def _required(parser: argparse.ArgumentParser, skip: argparse.Action) -> list[str]:
    argv = []
    for a in parser._actions:
        if a.required and a is not skip and a.option_strings:
            argv += _with(a, _valid_text(a))
    return argv


def _numeric_options():
    out = []
    for cmd, parser in _subparsers().items():
        for a in parser._actions:
            if not a.option_strings or a.nargs == 0:
                continue
            if a.type is None:
                assert not isinstance(a.default, (int, float)) or isinstance(a.default, bool), \
                    f"{cmd} {a.option_strings[-1]} has a numeric default but no checking type="
                continue
            shape = _numeric_kind(a.type)
            if shape:
                out.append((cmd, a.option_strings[-1], shape))
    return out


NUMERIC = _numeric_options()


def test_the_walk_finds_the_numeric_options():
    cmds = {c for c, _, _ in NUMERIC}
    assert {"train", "train-sysid", "collect", "evaluate", "plan", "demo", "identify", "hnn", "nri-data",
            "nri-train"} <= cmds
    assert len(NUMERIC) > 90
    assert ("plan", "--samples", "scalar") in NUMERIC and ("nri-train", "--layer-sizes", "list") in NUMERIC


@pytest.mark.parametrize("cmd, option, shape", NUMERIC, ids=[f"{c} {o}" for c, o, _ in NUMERIC])
def test_every_numeric_option_refuses_nonsense(cmd, option, shape, capsys):
    parser = _subparsers()[cmd]
    action = next(a for a in parser._actions if option in a.option_strings)
    zero_ok = option in ZERO_OK and (ZERO_OK[option] == "*" or cmd in ZERO_OK[option])
    if zero_ok:  # an accepted 0 must be documented in the help text
        assert action.help and (">= 0" in action.help or "0:" in action.help or "[0," in action.help), \
            f"{cmd} {option} accepts 0 without saying what it means"
    top = build_parser()
    for text in (NONSENSE if shape == "scalar" else LIST_NONSENSE):
        argv = [cmd, *_required(parser, action), *_with(action, text)]
        if zero_ok and text == "0":
            args = top.parse_args(argv)
            assert getattr(args, action.dest) in (0, [0]) or getattr(args, action.dest)[0] == 0
            continue
        with pytest.raises(SystemExit) as exc:
            top.parse_args(argv)  # parse only: an accepted value must never start the command here
        assert exc.value.code == 2, f"{cmd} {option} {text} accepted"
        errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert len(errors) == 1 and errors[0].startswith(f"gncontrol {cmd}: error: argument {option}"), errors


def test_an_unset_option_keeps_its_none_default():
    args = build_parser().parse_args(["plan", "--model", "true"])
    assert args.samples is None and args.steps is None
    assert build_parser().parse_args(["train"]).threads is None


def _argparse_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


@pytest.mark.parametrize("argv", [
    ["train", "--checkpoint-every", "0"], ["train", "--val-every", "0"], ["train", "--lr-final=-1e-5"],
    ["train", "--val-fraction", "nan"], ["train", "--val-fraction", "-0.5"], ["train", "--val-fraction", "0"],
    ["train", "--noise", "-1"], ["train", "--noise", "nan"], ["train", "--hidden", "0"], ["train", "--latent", "0"],
    ["train", "--batch-size", "0"], ["train", "--lr", "inf"], ["train", "--threads", "0"],
    ["train", "--threads", "-1"], ["train", "--steps", "1.5"], ["train", "--seed", "-1"],
    ["plan", "--model", "true", "--samples", "0"], ["plan", "--model", "true", "--steps", "0"],
    ["plan", "--model", "true", "--steps", "-4"], ["plan", "--model", "true", "--episodes", "0"],
    ["plan", "--model", "true", "--episodes", "-2"], ["plan", "--model", "true", "--terminal-weight", "nan"],
    ["plan", "--model", "true", "--smoothness", "nan"], ["plan", "--model", "true", "--plan-lr", "1e30"],
    ["plan", "--model", "true", "--warm-noise", "nan"], ["plan", "--model", "true", "--action-noise", "inf"],
    ["evaluate", "--model", "m.pt", "--data", "d.h5", "--horizons", "0"],
    ["evaluate", "--model", "m.pt", "--data", "d.h5", "--horizons", "1", "-5"],
    ["evaluate", "--model", "m.pt", "--data", "d.h5", "--starts", "0"],
    ["hnn", "--lr", "inf"], ["train-sysid", "--latent-sizes", "4", "0", "4"],
    ["nri-train", "--layer-sizes", "[2, 0]"], ["nri-train", "--prior", "[NaN, 0.5]"],
])
def test_examples_are_refused_with_argparse_one_line(argv, capsys):
    option = next(a for a in argv[1:] if a.startswith("--") and a.split("=")[0] not in ("--model", "--data"))
    last = _argparse_error(argv, capsys)
    assert last.startswith(f"gncontrol {argv[0]}: error: argument {option.split('=')[0]}:"), last


def test_plan_lr_bound_is_in_the_message(capsys):
    assert "(0, 10]" in _argparse_error(["plan", "--model", "true", "--plan-lr", "1e30"], capsys)


def test_unknown_device_is_refused_with_the_allowed_forms(capsys):
    last = _argparse_error(["train", "--device", "gpu"], capsys)
    assert "argument --device" in last and "cpu, cuda, cuda:N or mps" in last
    for ok in ("cpu", "cuda", "cuda:1", "mps"):
        assert build_parser().parse_args(["train", "--device", ok]).device == ok


def test_unavailable_cuda_is_one_input_error_line(monkeypatch, capsys, tmp_path):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["evaluate", "--model", str(tmp_path / "m.pt"), "--data", "d.h5", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CUDA is not available" in err[0], err


@pytest.mark.parametrize("content", ["[1, 2]", "3", '"steps"', "null"])
def test_config_that_is_not_an_object_is_refused(content, tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(content)
    assert main(["train", "--config", str(cfg), "--data", "d.h5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(cfg) in err[0] and "must be a JSON object" in err[0], err


@pytest.mark.parametrize("values, option", [
    ({"checkpoint_every": 0}, "checkpoint_every"), ({"lr": float("nan")}, "lr"), ({"noise": -1}, "noise"),
    ({"val-fraction": 1.5}, "val-fraction"), ({"hidden": 16}, "hidden"), ({"hidden": [16, 0]}, "hidden"),
    ({"device": "gpu"}, "device"), ({"resume": "yes"}, "resume"), ({"steps": True}, "steps"),
    ({"steps": 2.5}, "steps"), ({"model": "rnn"}, "model"), ({"steps": None}, "steps"), ({"threads": 0}, "threads"),
])
def test_config_values_pass_the_flags_checks(values, option, tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(values))
    assert main(["train", "--config", str(cfg), "--data", "d.h5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"option '{option}'" in err[0] and str(cfg) in err[0], err


def test_config_values_are_converted(tmp_path):
    from gncontrol.cli._common import config_defaults

    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"steps": 20, "lr": 1, "hidden": [16, 8], "threads": None, "resume": True}))
    values = config_defaults(_subparsers()["train"], cfg)
    assert values == {"steps": 20, "lr": 1.0, "hidden": [16, 8], "threads": None, "resume": True}
    assert isinstance(values["lr"], float)
    cfg.write_text(json.dumps({"layer_sizes": [2, 2], "prior": [0.5, 0.5], "skip_first": False}))
    assert config_defaults(_subparsers()["nri-train"], cfg)["layer_sizes"] == [2, 2]
    cfg.write_text(json.dumps({"gamma": math.inf}))
    with pytest.raises(ValueError, match="option 'gamma'"):
        config_defaults(_subparsers()["nri-train"], cfg)


# ------------------------------------------------------------------ output paths, before any work


def _outputs(tmp_path):
    """(argv without the output, option) of each command's outputs; none of them gets to real work."""
    return [
        (["train", "--data", str(tmp_path / "d.h5")], "--out", "dir"),
        (["train-sysid", "--data", str(tmp_path / "d.h5")], "--out", "dir"),
        (["collect", "--task", "pendulum-swingup", "--episodes", "1"], "--out", "file"),
        (["evaluate", "--model", str(tmp_path / "m.pt"), "--data", "d.h5"], "--out", "dir"),
        (["plan", "--model", str(tmp_path / "m.pt")], "--out", "dir"),
        (["plan", "--model", str(tmp_path / "m.pt"), "--out", str(tmp_path / "p")], "--record", "file"),
        (["demo"], "--out", "dir"),
        (["identify", "--model", str(tmp_path / "m.pt")], "--out", "file"),
        (["hnn", "--steps", "1"], "--out", "file"),
        (["hnn", "--steps", "1"], "--logdir", "dir"),
        (["nri-data"], "--out", "file"),
        (["nri-train", "--data", str(tmp_path / "d.h5")], "--out-dir", "dir"),
    ]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_an_existing_file_where_a_folder_is_needed_is_refused(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    a_dir = tmp_path / "a_dir"
    a_dir.mkdir()
    for argv, option, kind in _outputs(tmp_path):
        target = a_file if kind == "dir" else a_dir
        assert main([*argv, option, str(target)]) == 2, argv
        line = _one_error_line(capsys)
        assert option in line and ("is an existing file" in line or "is a folder" in line), line


def test_an_output_under_a_file_is_refused(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for argv, option, _ in _outputs(tmp_path):
        assert main([*argv, option, str(a_file / "sub" / "out")]) == 2, argv
        line = _one_error_line(capsys)
        assert option in line and "is a file, not a folder" in line, line


def test_an_unwritable_output_is_refused(tmp_path, capsys, monkeypatch):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    # tests run as root, where everything is writable: os.access says "no" for the locked folder only
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == locked else real(path, mode))
    for argv, option, _ in _outputs(tmp_path):
        assert main([*argv, option, str(locked / "new" / "out")]) == 2, argv
        line = _one_error_line(capsys)
        assert option in line and "no permission" in line, line


# ------------------------------------------------------------------ an existing run in --out

KINDS = {"train": "forward_model", "train-sysid": "system_id_model"}


@pytest.mark.parametrize("cmd", ["train", "train-sysid"])
def test_an_existing_run_needs_resume_or_overwrite(cmd, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.pt").write_bytes(b"an earlier run")
    assert main([cmd, "--data", str(tmp_path / "d.h5"), "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert "--resume" in line and "--overwrite" in line and str(out) in line, line
    assert main([cmd, "--data", "d.h5", "--out", str(out), "--resume", "--overwrite"]) == 2
    assert "give only one" in _one_error_line(capsys)
    # --overwrite gets past the check (to the missing data file: nothing was trained)
    assert main([cmd, "--data", str(tmp_path / "d.h5"), "--out", str(out), "--overwrite"]) == 2
    assert "d.h5" in _one_error_line(capsys)


class _FakeSystems:
    name = "fake"
    episode_length = 100

    def split(self, fraction):
        return self, self

    def every(self, k):
        return self


@pytest.fixture
def fake_training(monkeypatch):
    """train / train-sysid with data loading and the trainers replaced by stubs that record their calls."""
    import gncontrol.cli._common as common
    import gncontrol.cli.train as train_cli
    import gncontrol.forward.training as training
    import gncontrol.sysid.training as sysid
    from gncontrol.checkpoints import save_checkpoint

    calls = []

    def fake_train(kind):
        def train(model_config, train_sets, val_sets, config, out_dir, **kw):
            calls.append({"kind": kind, "steps": config.steps, "resume": kw["resume"]})
            save_checkpoint(f"{out_dir}/model.pt", kind, {"step": config.steps})
        return train

    monkeypatch.setattr(common, "load_systems", lambda paths: [_FakeSystems()])
    monkeypatch.setattr(train_cli, "model_config_for", lambda *a: None)
    monkeypatch.setattr(training, "train_forward_model", fake_train("forward_model"))
    monkeypatch.setattr(sysid, "train_system_id", fake_train("system_id_model"))
    return calls


@pytest.mark.parametrize("cmd", ["train", "train-sysid"])
def test_overwrite_replaces_the_run_and_resume_says_what_happened(cmd, tmp_path, capsys, fake_training):
    from gncontrol.checkpoints import load_checkpoint, save_checkpoint

    out = tmp_path / "run"
    ckpt = out / "model.pt"
    save_checkpoint(ckpt, KINDS[cmd], {"step": 10})
    base = [cmd, "--data", "d.h5", "--out", str(out)]
    capsys.readouterr()
    assert main([*base, "--steps", "10", "--resume"]) == 0  # a finished run: nothing to train
    text = capsys.readouterr().out
    assert "nothing to train" in text and "model written" not in text and not fake_training
    assert main([*base, "--steps", "4", "--resume"]) == 0  # fewer steps than done: nothing either
    assert "nothing to train" in capsys.readouterr().out and not fake_training
    assert main([*base, "--steps", "15", "--resume"]) == 0
    assert "resumed at step 10, trained to step 15" in capsys.readouterr().out
    assert fake_training[-1] == {"kind": KINDS[cmd], "steps": 15, "resume": True}
    assert main([*base, "--steps", "3", "--overwrite"]) == 0
    assert "trained 3 steps; model written" in capsys.readouterr().out
    assert fake_training[-1]["resume"] is False and load_checkpoint(ckpt)["step"] == 3
    fresh = tmp_path / "fresh"
    assert main([cmd, "--data", "d.h5", "--out", str(fresh), "--steps", "2", "--resume"]) == 0
    assert "training from scratch" in capsys.readouterr().out


def test_resume_of_another_kind_of_checkpoint_is_one_line(tmp_path, capsys):
    from gncontrol.checkpoints import save_checkpoint

    save_checkpoint(tmp_path / "run" / "model.pt", "system_id_model", {"step": 3})
    assert main(["train", "--data", "d.h5", "--out", str(tmp_path / "run"), "--resume"]) == 2
    assert "expected 'forward_model'" in _one_error_line(capsys)
