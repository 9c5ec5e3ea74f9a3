"""Every benchmark writes its rows as CSV: the shared helper (benchmarks.common) and each script's --csv option."""

from __future__ import annotations

import argparse
import csv
import importlib
import pkgutil
import re

import pytest

import benchmarks
from benchmarks import common
from benchmarks.common import RESULTS, RUNS, CSVRows, add_csv_argument, csv_path, write_csv

BENCHMARKS = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__))


def read(path) -> list[dict]:
    """The rows of a CSV file as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_write_csv_header_is_every_column_in_order_of_first_appearance(tmp_path):
    path = write_csv(tmp_path / "rows.csv", [{"task": "a", "x": 1.5}, {"task": "b", "y": "n/a"}])
    assert path.read_text().splitlines()[0] == "task,x,y"
    assert read(path) == [{"task": "a", "x": "1.5", "y": ""}, {"task": "b", "x": "", "y": "n/a"}]
    assert write_csv(tmp_path / "none.csv", []).read_text() == ""


def test_write_csv_is_atomic_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    class Unprintable:
        def __str__(self):
            raise RuntimeError("cannot format")

    path = write_csv(tmp_path / "rows.csv", [{"a": 1}])
    with pytest.raises(RuntimeError, match="cannot format"):
        write_csv(path, [{"a": 2}, {"a": Unprintable()}])
    assert read(path) == [{"a": "1"}]
    write_csv(path, [{"a": 3}])  # replaced in one rename
    assert read(path) == [{"a": "3"}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


def test_write_csv_puts_relative_paths_under_results(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    assert write_csv("runs/x.csv", [{"a": 1}]) == tmp_path / "runs" / "x.csv"
    assert read(tmp_path / "runs" / "x.csv") == [{"a": "1"}]


def test_csv_argument_defaults_to_results_runs_and_a_quick_file_with_quick(tmp_path):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    add_csv_argument(ap, "bench")
    assert "bench_quick.csv" in ap.format_help()
    assert csv_path(ap.parse_args([]), "bench") == RUNS / "bench.csv"
    assert csv_path(ap.parse_args(["--quick"]), "bench") == RUNS / "bench_quick.csv"
    assert csv_path(ap.parse_args(["--csv", "mine.csv"]), "bench") == RESULTS / "mine.csv"
    assert csv_path(ap.parse_args(["--quick", "--csv", str(tmp_path / "x.csv")]), "bench") == tmp_path / "x.csv"

    no_quick = argparse.ArgumentParser()
    add_csv_argument(no_quick, "other")
    assert "quick" not in no_quick.format_help()
    assert csv_path(no_quick.parse_args([]), "other") == RUNS / "other.csv"


def test_csv_rows_rewrite_the_file_after_each_row_and_say_where_at_the_end(tmp_path, capsys):
    rows = CSVRows(tmp_path / "sub" / "rows.csv")
    row = rows.add({"system": "a", "error": 0.5})
    assert read(rows.path) == [{"system": "a", "error": "0.5"}]  # a killed run keeps this row
    rows.add({"system": "b", "error": 0.25})
    row["ratio"] = 2.0  # a cell filled in once its peer is measured
    assert rows.save() == rows.path
    assert read(rows.path) == [{"system": "a", "error": "0.5", "ratio": "2.0"},
                               {"system": "b", "error": "0.25", "ratio": ""}]
    assert capsys.readouterr().out.splitlines()[-1] == f"rows written to {rows.path}"


def test_every_benchmark_is_checked():
    assert {"suite", "plan_speed", "control", "agents", "gn_throughput", "hamiltonian"} <= set(BENCHMARKS)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_main_has_a_csv_option(name, capsys):
    module = importlib.import_module(f"benchmarks.{name}")
    if not callable(getattr(module, "main", None)):
        pytest.skip(f"benchmarks.{name} is a helper module (no main)")
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    options = re.findall(r"^\s+(-[-\w]+)", capsys.readouterr().out, flags=re.MULTILINE)
    assert "--csv" in options, f"benchmarks.{name} has no --csv option (benchmarks.common.add_csv_argument)"
