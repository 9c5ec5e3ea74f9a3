"""Pieces every benchmark shares: the one-line machine description and CSV output under results/.

Every benchmark writes the rows it prints as a CSV too: `add_csv_argument` gives its parser `--csv PATH`
(default results/runs/<name>.csv, <name>_quick.csv with --quick, so the curated CSVs directly in results/
are never overwritten by a run), `csv_path` resolves it, and a `CSVRows` collects the rows, rewriting the
file after each one (a killed run keeps the rows printed so far) and saying where it went at the end.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = RESULTS / "runs"  # raw rows of benchmark runs; the headline CSVs sit in RESULTS itself

__all__ = ["RESULTS", "RUNS", "CSVRows", "add_csv_argument", "csv_path", "machine", "run_plan", "save_figure",
           "task_panels", "write_csv"]


def machine() -> str:
    """This machine in one line (processor, cores, Python, torch, threads, CUDA device), printed by every benchmark."""
    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"{platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
            f"python={platform.python_version()} torch={torch.__version__} threads={torch.get_num_threads()} "
            f"cuda={cuda}")


def run_plan(argv: list[str]) -> dict:
    """Runs `gncontrol plan ARGV` in this process, its progress bars captured, and returns its summary.json.

    argv must hold `--out DIR`; a failing plan raises RuntimeError with the command and its output.
    """
    import contextlib
    import io
    import json

    from gncontrol.cli import main as cli

    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        rc = cli(["plan", *argv])
    if rc != 0:
        raise RuntimeError(f"plan failed: gncontrol plan {' '.join(argv)}\n{log.getvalue()}")
    return json.loads((Path(argv[argv.index("--out") + 1]) / "summary.json").read_text())


def task_panels(count: int) -> tuple:
    """A figure of `count` side-by-side panels (one per task) drawn without a display: (fig, axes [count])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, count, figsize=(5.5 * count, 3.8), squeeze=False)
    return fig, axes[0]


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Lays out `fig`, writes it to `path` (creating the folder) and closes it; returns the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def write_csv(path: str | Path, rows: list[dict]) -> Path:
    """Writes dict rows to `path` (relative: under results/) atomically, so a reader never sees half a file.

    The header is every key in order of first appearance (rows of different tables share one file; a
    missing cell is empty); no rows give an empty file. The rows go to a temporary file in the same
    folder, which then replaces `path`. Returns the path written.
    """
    path = Path(path)
    if not path.is_absolute():
        path = RESULTS / path
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # same folder: os.replace stays one rename
    try:
        with tmp.open("w", newline="") as f:  # (not mkstemp: its file would keep mode 0600)
            if columns:
                writer = csv.DictWriter(f, fieldnames=columns, restval="")
                writer.writeheader()
                writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def add_csv_argument(parser: argparse.ArgumentParser, name: str) -> None:
    """Adds `--csv PATH` for the run's rows, default results/runs/<name>.csv (call it after any --quick option,
    whose runs default to <name>_quick.csv); resolve it with csv_path(args, name)."""
    quick = "" if parser.get_default("quick") is None else f"; runs/{name}_quick.csv with --quick"
    parser.add_argument("--csv", metavar="PATH", default=None,
                        help=f"CSV of the printed rows, relative to benchmarks/results/ unless absolute (default: "
                        f"runs/{name}.csv{quick})")


def csv_path(args: argparse.Namespace, name: str) -> Path:
    """The rows CSV a run asked for with --csv, or its default (see add_csv_argument), as an absolute path."""
    if args.csv:
        path = Path(args.csv)
        return path if path.is_absolute() else RESULTS / path
    return RUNS / f"{name}{'_quick' if getattr(args, 'quick', False) else ''}.csv"


class CSVRows:
    """The result rows of one benchmark run and their CSV file, rewritten after every row so a killed run keeps
    the rows it printed."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: list[dict] = []

    def add(self, row: dict) -> dict:
        """Appends one row (a dict of column -> value) and rewrites the file; returns the row, whose cells a
        benchmark may fill in later (a ratio to a peer measured after it) and rewrite with write."""
        self.rows.append(row)
        self.write()
        return row

    def write(self) -> Path:
        """Rewrites the file with every row so far (also when there are none); returns its path."""
        return write_csv(self.path, self.rows)

    def save(self) -> Path:
        """Writes every row and prints `rows written to PATH`, the last line of the run; returns the path."""
        path = self.write()
        print(f"rows written to {path}")
        return path
