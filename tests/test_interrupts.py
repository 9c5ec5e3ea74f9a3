"""Ctrl-C and non-finite losses in the training loops and in `collect`.

Ctrl-C: the last completed step is saved atomically, one line says where and how to go on
(--resume / --append), the CLI exits 130, and resuming continues exactly. A non-finite loss
stops the run with one line (exit 2) and leaves the last good checkpoint untouched.
The interrupts and NaNs are injected through a monkeypatched function inside the loop.
"""

import hashlib
import os
import signal

import pytest
import torch

import gncontrol.forward.training as fwd_training
import gncontrol.nri.training as nri_training
import gncontrol.sysid.training as sid_training
from gncontrol.checkpoints import load_checkpoint
from gncontrol.cli import main
from gncontrol.forward.graph_forward import ForwardModelConfig
from gncontrol.forward.training import TrainConfig
from gncontrol.forward.transitions import SystemTrajectories
from gncontrol.run_guard import NonFiniteLossError
from gncontrol.sysid.model import SystemIDConfig


def at_call(monkeypatch, module, name, k, action, when=lambda *a, **kw: True):
    """Wraps module.name so that its k-th counted call (1-based) returns action(result)."""
    real = getattr(module, name)
    calls = [0]

    def wrapped(*args, **kwargs):
        out = real(*args, **kwargs)
        if when(*args, **kwargs):
            calls[0] += 1
            if calls[0] == k:
                return action(out)
        return out

    monkeypatch.setattr(module, name, wrapped)


def train_step(systems, batch_size, generator):  # not the normalisers' fitting sample
    return batch_size == 8


def ctrl_c(_):
    raise KeyboardInterrupt


def sigint(out):  # a real Ctrl-C: the loop finishes this step, then stops
    os.kill(os.getpid(), signal.SIGINT)
    return out


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- forward model
@pytest.fixture(scope="module")
def pendulum_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "p.h5"
    assert main(["collect", "--task", "pendulum-swingup", "--episodes", "4", "--steps", "20", "--out", str(path),
                 "--no-progress"]) == 0
    return path


TRAIN = ["--steps", "12", "--batch-size", "8", "--latent", "8", "--hidden", "8", "--checkpoint-every", "5",
         "--val-every", "1000", "--threads", "1", "--noise", "0.05"]


def train_args(data, out):
    return ["train", "--data", str(data), "--out", str(out), *TRAIN]


def stderr_lines(capsys, needle):
    return [ln for ln in capsys.readouterr().err.replace("\r", "\n").splitlines() if needle in ln]


def test_train_ctrl_c_keeps_last_completed_step_and_resume_is_exact(pendulum_file, tmp_path, monkeypatch, capsys):
    assert main(train_args(pendulum_file, tmp_path / "full")) == 0
    at_call(monkeypatch, fwd_training, "sample_batch", 8, ctrl_c, when=train_step)  # in step 8: steps 1..7 done
    assert main(train_args(pendulum_file, tmp_path / "cut")) == 130
    lines = stderr_lines(capsys, "interrupted")
    assert lines == [f"interrupted: checkpoint {tmp_path / 'cut' / 'model.pt'} holds step 7 of 12; "
                     "continue with --resume"]
    assert load_checkpoint(tmp_path / "cut" / "model.pt")["step"] == 7
    monkeypatch.undo()
    assert main(train_args(pendulum_file, tmp_path / "cut") + ["--resume"]) == 0
    full = load_checkpoint(tmp_path / "full" / "model.pt")
    resumed = load_checkpoint(tmp_path / "cut" / "model.pt")
    assert resumed["step"] == 12
    for name, value in full["model"].items():
        assert torch.equal(value, resumed["model"][name]), name


def test_train_sigint_finishes_the_step_then_saves_it(pendulum_file, tmp_path, monkeypatch, capsys):
    # Python's own Ctrl-C handler, as in a terminal (a background job of a non-interactive shell inherits
    # SIGINT ignored, where Ctrl-C never reaches the process)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _train_sigint_finishes_the_step(pendulum_file, tmp_path, monkeypatch, capsys)
    finally:
        signal.signal(signal.SIGINT, previous)


def _train_sigint_finishes_the_step(pendulum_file, tmp_path, monkeypatch, capsys):
    at_call(monkeypatch, fwd_training, "sample_batch", 3, sigint, when=train_step)  # the signal lands in step 3
    assert main(train_args(pendulum_file, tmp_path / "run")) == 130
    assert load_checkpoint(tmp_path / "run" / "model.pt")["step"] == 3
    assert len(stderr_lines(capsys, "holds step 3 of 12")) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back


def test_train_non_finite_loss_stops_and_keeps_the_good_checkpoint(pendulum_file, tmp_path, monkeypatch, capsys):
    ckpt = tmp_path / "run" / "model.pt"
    seen = {}

    def poison(b):  # in step 8; model.pt holds step 5
        seen["digest"] = digest(ckpt)
        return b.__class__(b.state.replace(nodes=b.state.nodes * float("nan")), b.action, b.next_nodes, b.system)

    at_call(monkeypatch, fwd_training, "sample_batch", 8, poison, when=train_step)
    assert main(train_args(pendulum_file, tmp_path / "run")) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(line) == 1 and "loss became non-finite (nan) at step 8" in line[0], err
    assert f"{ckpt} (step 5) is kept untouched" in line[0]
    assert digest(ckpt) == seen["digest"] and load_checkpoint(ckpt)["step"] == 5


def test_non_finite_weights_are_never_saved(pendulum_file, tmp_path, monkeypatch):
    from gncontrol.cli._common import load_systems

    data = load_systems([str(pendulum_file)])[0]
    cfg = ForwardModelConfig("gn", (data.static_nodes.shape[-1], data.static_edges.shape[-1],
                                    data.static_globals.shape[-1]), latent=8, hidden=(8,))
    real_step = torch.optim.Adam.step

    def step_to_nan(self, *a, **kw):  # the 4th update leaves NaN weights behind a finite loss
        out = real_step(self, *a, **kw)
        step_to_nan.calls += 1
        if step_to_nan.calls == 4:
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("nan"))
        return out

    step_to_nan.calls = 0
    monkeypatch.setattr(torch.optim.Adam, "step", step_to_nan)
    with pytest.raises(NonFiniteLossError, match="non-finite"):
        fwd_training.train_forward_model(cfg, [data], [], TrainConfig(steps=8, batch_size=8, checkpoint_every=2,
                                                                      val_every=10**9), tmp_path, progress=False)
    assert load_checkpoint(tmp_path / "model.pt")["step"] == 2


# ---------------------------------------------------------------- system ID
def gain_system(n_ep=8, steps=12):
    g = torch.Generator().manual_seed(0)
    k = torch.randint(0, 2, (n_ep,), generator=g).float() * 2 - 1
    a = torch.rand(n_ep, steps, 1, generator=g) * 2 - 1
    states = torch.zeros(n_ep, steps + 1, 2, 13)
    states[..., 3] = 1.0
    v = torch.zeros(n_ep)
    for t in range(steps):
        v = 0.8 * v + k * a[:, t, 0]
        states[:, t + 1, 1, 7] = v
    return SystemTrajectories("gain", states, a, torch.zeros(n_ep, 2, 1), torch.zeros(n_ep, 1, 1),
                              torch.zeros(n_ep, 1), torch.tensor([0]), torch.tensor([1]), torch.tensor([0]))


TINY_ID = SystemIDConfig(latent_sizes=(4, 4, 4), encoder_hidden=8, encoder_mlp=(8,), forward_latent=8,
                         forward_hidden=(8,), window=4)
ID_CFG = TrainConfig(steps=8, batch_size=6, checkpoint_every=3, val_every=10**9)


def test_system_id_ctrl_c_and_non_finite(tmp_path, monkeypatch, capsys):
    data = gain_system()
    kw = dict(targets_per_window=3, progress=False)
    full = sid_training.train_system_id(TINY_ID, [data], [], ID_CFG, tmp_path / "full", **kw)
    with monkeypatch.context() as m:
        at_call(m, sid_training, "sample_sysid_batch", 6, ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            sid_training.train_system_id(TINY_ID, [data], [], ID_CFG, tmp_path / "cut", **kw)
    assert load_checkpoint(tmp_path / "cut" / "model.pt")["step"] == 5
    assert "holds step 5 of 8; continue with --resume" in capsys.readouterr().err
    resumed = sid_training.train_system_id(TINY_ID, [data], [], ID_CFG, tmp_path / "cut", resume=True, **kw)
    for (name, p), q in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), name

    def poison(b):
        b.next_nodes = b.next_nodes * float("inf")
        return b

    at_call(monkeypatch, sid_training, "sample_sysid_batch", 5, poison)
    with pytest.raises(NonFiniteLossError, match=r"at step 5: stopped without saving .*\(step 3\) is kept"):
        sid_training.train_system_id(TINY_ID, [data], [], ID_CFG, tmp_path / "nan", **kw)
    assert load_checkpoint(tmp_path / "nan" / "model.pt")["step"] == 3


# ---------------------------------------------------------------- NRI
@pytest.fixture(scope="module")
def springs(tmp_path_factory):
    from envs.particles.nri_data import generate_dataset

    path = tmp_path_factory.mktemp("nri") / "s.h5"
    generate_dataset(path, "springs", 3, n_train=16, n_valid=8, n_test=8, seed=0, progress=False)
    return path


def training_call(cfg, model, *a, **kw):
    return model.training


def test_nri_ctrl_c_keeps_last_epoch_and_resume_is_exact(springs, tmp_path, monkeypatch, capsys):
    base = dict(data=str(springs), hidden=8, batch_size=8, epochs=3, timesteps=49, threads=1)
    full = nri_training.train_nri(nri_training.NRIConfig(out_dir=str(tmp_path / "a"), **base), progress=False)
    with monkeypatch.context() as m:  # 2 batches per epoch: the 4th is epoch 2's last
        at_call(m, nri_training, "_step_loss", 4, ctrl_c, when=training_call)
        with pytest.raises(KeyboardInterrupt):
            nri_training.train_nri(nri_training.NRIConfig(out_dir=str(tmp_path / "b"), **base), progress=False)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["epoch"] == 1
    assert "holds epoch 1 of 3; continue with --resume" in capsys.readouterr().err
    resumed = nri_training.train_nri(nri_training.NRIConfig(out_dir=str(tmp_path / "b"), **base), resume=True,
                                     progress=False)
    assert [h["train_loss"] for h in full["history"]] == [h["train_loss"] for h in resumed["history"]]

    def poison(out):
        out["loss"] = out["loss"] * float("nan")
        return out

    at_call(monkeypatch, nri_training, "_step_loss", 1, poison, when=training_call)  # epoch 4's first batch
    cfg = nri_training.NRIConfig(out_dir=str(tmp_path / "a"), **{**base, "epochs": 5})
    before = digest(tmp_path / "a" / "last.pt")
    with pytest.raises(NonFiniteLossError, match=r"non-finite \(nan\) at epoch 4: .*\(epoch 3\) is kept untouched"):
        nri_training.train_nri(cfg, resume=True, progress=False)
    assert digest(tmp_path / "a" / "last.pt") == before


# ---------------------------------------------------------------- HNN
HNN_ARGS = ["hnn", "--system", "mass_spring", "--trajectories", "4", "--steps", "30", "--hidden", "16"]


def test_hnn_ctrl_c_and_non_finite(tmp_path, monkeypatch, capsys):
    from gncontrol.hamiltonian import hnn

    out = tmp_path / "hnn.pt"
    with monkeypatch.context() as m:
        at_call(m, hnn.HNN, "derivative", 11, ctrl_c)
        assert main(HNN_ARGS + ["--out", str(out)]) == 130
    rec = load_checkpoint(out, kind="hnn")
    assert rec["step"] == 10 and rec["complete"] is False
    assert len(stderr_lines(capsys, f"interrupted at step 10 of 30: its weights are in {out}")) == 1
    before = digest(out)
    at_call(monkeypatch, hnn.HNN, "derivative", 11, lambda d: d * float("nan"))
    assert main(HNN_ARGS + ["--out", str(out)]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert len(err) == 1 and "loss became non-finite (nan) at step 11" in err[0]
    assert digest(out) == before
