"""Checkpoints load with torch's weights_only unpickler: a crafted pickle is refused before any
of it runs, plain payloads (and old ones holding numpy scalars) load, non-finite weights are refused."""

import collections
import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from gncontrol.checkpoints import load_checkpoint, save_checkpoint, to_plain
from gncontrol.cli import main
from gncontrol.errors import InputError


class _System:  # unpickling calls os.system: it would create the marker file
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Append:  # unpickling calls exec: it would append a line to the marker file
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'a').write('ran\\n')",))


@pytest.mark.parametrize("payload", [_System, _Append])
def test_crafted_pickle_is_refused_and_does_not_run(tmp_path, payload, capsys):
    marker = tmp_path / "marker"
    evil = tmp_path / "model.pt"
    torch.save({"schema_version": 1, "kind": "forward_model", "model": {}, "x": payload(marker)}, evil)
    with pytest.raises(InputError, match="is not a safe gncontrol checkpoint"):
        load_checkpoint(evil)
    assert not marker.exists()
    # the CLI: one line, exit 2, and still nothing ran
    assert main(["evaluate", "--model", str(evil), "--data", str(tmp_path / "none.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a safe gncontrol checkpoint" in err[0], err
    assert not marker.exists()


def test_old_payloads_with_numpy_scalars_and_counters_still_load(tmp_path):
    model = torch.nn.Linear(2, 3)
    sched = torch.optim.lr_scheduler.MultiStepLR(torch.optim.Adam(model.parameters()), milestones=[3, 5])
    old = {"schema_version": 1, "kind": "nri_model", "model": model.state_dict(),
           "history": [{"acc": np.float64(0.75), "n": np.int64(3), "ok": np.bool_(True), "f": np.float32(2)}],
           "scheduler": sched.state_dict(), "config": {"hidden": (8, 8)}}
    torch.save(old, tmp_path / "old.pt")  # as save sites wrote them before configs were made plain
    r = load_checkpoint(tmp_path / "old.pt", kind="nri_model")
    assert r["history"] == [{"acc": 0.75, "n": 3, "ok": True, "f": 2.0}]
    assert type(r["history"][0]["acc"]) is float
    assert isinstance(r["scheduler"]["milestones"], collections.Counter)
    assert torch.equal(r["model"]["weight"], model.state_dict()["weight"])


def test_old_payload_with_numpy_array_is_refused(tmp_path):
    torch.save({"schema_version": 1, "kind": "k", "x": np.zeros(3)}, tmp_path / "a.pt")
    with pytest.raises(InputError, match="not a safe gncontrol checkpoint"):
        load_checkpoint(tmp_path / "a.pt")


@dataclasses.dataclass
class _Cfg:
    sizes: tuple = (1, 2)
    where: Path = Path("runs/x")
    scale: float = 1.0


def test_save_stores_plain_data_only(tmp_path):
    save_checkpoint(tmp_path / "c.pt", "k", {"config": _Cfg(scale=np.float64(0.5)), "arr": np.arange(3),
                                             "model": torch.nn.BatchNorm1d(2).state_dict()})
    raw = torch.load(tmp_path / "c.pt", weights_only=True)  # no safe globals needed
    assert raw["config"] == {"sizes": (1, 2), "where": "runs/x", "scale": 0.5}
    assert raw["arr"] == [0, 1, 2]
    assert raw["model"]._metadata[""]["version"] == 2  # a state dict keeps its versions
    with pytest.raises(TypeError, match="plain data"):
        to_plain({"x": object()})


def test_non_finite_weights_are_refused_on_load_and_save(tmp_path):
    sd = torch.nn.Linear(2, 3).state_dict()
    sd["weight"][0, :] = float("nan")
    sd["bias"][1] = float("inf")
    torch.save({"schema_version": 1, "kind": "forward_model", "model": sd}, tmp_path / "nan.pt")
    with pytest.raises(InputError, match=r"nan\.pt has 3 non-finite \(NaN/inf\) values in model\.weight, "
                                         r"model\.bias"):
        load_checkpoint(tmp_path / "nan.pt")
    with pytest.raises(InputError, match="not saving checkpoint .*3 non-finite"):
        save_checkpoint(tmp_path / "new.pt", "forward_model", {"model": sd})
    assert not (tmp_path / "new.pt").exists()


def test_corrupt_file_is_one_line(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="corrupt checkpoint") as info:
        load_checkpoint(tmp_path / "junk.pt")
    assert "\n" not in str(info.value)
