"""Imports a benchmark module (benchmarks/ is a package run from the repository root), for tests of its helpers."""

from __future__ import annotations

import importlib
from types import ModuleType


def load_benchmark(name: str) -> ModuleType:
    """The module benchmarks.<name>."""
    return importlib.import_module(f"benchmarks.{name}")
