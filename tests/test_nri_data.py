"""NRI datasets: generation, published normalisation, schema checks, CLI."""

import h5py
import numpy as np
import pytest

from envs.particles.nri_data import generate_dataset, off_diagonal_labels
from gncontrol.cli import main
from gncontrol.nri.dataset import load_nri_split, read_nri_attrs


def test_generate_and_load_springs(tmp_path):
    path = tmp_path / "s.h5"
    attrs = generate_dataset(path, "springs", 5, n_train=20, n_valid=6, n_test=4, seed=1, progress=False)
    tr = load_nri_split(path, "train")
    te = load_nri_split(path, "test")
    assert tr.features.shape == (20, 5, 49, 4) and te.features.shape == (4, 5, 99, 4)
    assert tr.edges.shape == (20, 1, 20)
    # min-max to [-1, 1] with the training extremes, separately for position and velocity
    pos, vel = tr.features[..., :2], tr.features[..., 2:]
    for part in (pos, vel):
        assert part.min() == pytest.approx(-1.0, abs=1e-6) and part.max() == pytest.approx(1.0, abs=1e-6)
    assert attrs["norm"]["loc_max"] > attrs["norm"]["loc_min"]
    again = generate_dataset(tmp_path / "t.h5", "springs", 5, n_train=20, n_valid=6, n_test=4, seed=1,
                             progress=False)
    assert again["norm"] == attrs["norm"]
    np.testing.assert_array_equal(load_nri_split(tmp_path / "t.h5", "train").features, tr.features)


def test_multiplex_and_kuramoto_layouts(tmp_path):
    generate_dataset(tmp_path / "ic.h5", "ic", 5, n_train=4, n_valid=2, n_test=2, progress=False)
    ic = load_nri_split(tmp_path / "ic.h5", "train")
    assert ic.features.shape == (4, 5, 99, 4) and ic.edges.shape == (4, 2, 20)
    assert read_nri_attrs(tmp_path / "ic.h5")["layers"] == ["I", "C"]
    generate_dataset(tmp_path / "k.h5", "kuramoto", 5, n_train=4, n_valid=2, n_test=2, progress=False)
    k = load_nri_split(tmp_path / "k.h5", "train")
    assert k.features.shape == (4, 5, 49, 4) and k.features.abs().max() <= 1.0 + 1e-5


def test_off_diagonal_order():
    e = np.arange(9).reshape(3, 3)
    np.testing.assert_array_equal(off_diagonal_labels(e), [1, 2, 3, 5, 6, 7])


def test_bad_files_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="corrupt"):
        read_nri_attrs(bad)
    path = tmp_path / "s.h5"
    generate_dataset(path, "springs", 3, n_train=2, n_valid=2, n_test=2, progress=False)
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(ValueError, match="schema"):
        load_nri_split(path, "train")
    with pytest.raises(ValueError, match="unknown NRI system"):
        generate_dataset(tmp_path / "x.h5", "gravity", 3, 2, 2, 2, progress=False)


def test_cli_nri_data(tmp_path, capsys):
    out = tmp_path / "c.h5"
    assert main(["nri-data", "--system", "charged", "--out", str(out), "--n-train", "3", "--n-valid", "2",
                 "--n-test", "2"]) == 0
    assert read_nri_attrs(out)["system"] == "charged"
    assert main(["nri-data", "--system", "nope", "--out", str(out)]) == 2
