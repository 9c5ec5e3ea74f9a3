"""The package layers: no module imports from a layer above its own, and sibling subpackages stay apart.

Layers, lowest first (docs/design.md draws them):
  0 gncontrol.{errors, checkpoints, run_guard, system_signature, normalisers}  (plain utilities)
  1 gncontrol.gn                                                              (the graph-network library)
  2 gncontrol.{dynamics, systems, body_state, ensemble} and the gncontrol root (shared model pieces)
  3 gncontrol.forward | gncontrol.nri | gncontrol.hamiltonian                 (independent families)
  4 gncontrol.sysid                                                           (builds on forward)
  5 envs   6 planners   7 agents   8 gncontrol.cli                          (the CLI on top)
Two groups on the same layer (forward, nri, hamiltonian) may not import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gncontrol", "envs", "planners", "agents")

LAYERS: list[tuple[str, int]] = [
    ("gncontrol.cli", 8),
    ("gncontrol.__main__", 8),
    ("agents", 7),
    ("planners", 6),
    ("envs", 5),
    ("gncontrol.sysid", 4),
    ("gncontrol.forward", 3),
    ("gncontrol.nri", 3),
    ("gncontrol.hamiltonian", 3),
    ("gncontrol.dynamics", 2),
    ("gncontrol.systems", 2),
    ("gncontrol.body_state", 2),
    ("gncontrol.ensemble", 2),
    ("gncontrol.gn", 1),
    ("gncontrol.errors", 0),
    ("gncontrol.checkpoints", 0),
    ("gncontrol.run_guard", 0),
    ("gncontrol.system_signature", 0),
    ("gncontrol.normalisers", 0),
    ("gncontrol", 2),  # the root package re-exports the GN library and the dynamics interface
]


def layer_of(module: str) -> tuple[str, int]:
    """The (group, layer) a dotted module name belongs to: the longest matching prefix in LAYERS."""
    for prefix, layer in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return prefix, layer
    raise AssertionError(f"{module} has no layer: add it to LAYERS in tests/test_layering.py")


def module_name(path: Path) -> str:
    """The dotted module name of a source file under ROOT."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, where: str) -> list[str]:
    """Every first-party module a source file imports, at any depth (function-local imports included)."""
    found = []
    for node in ast.walk(ast.parse(source, where)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{where}: relative import; use absolute imports"
            base = node.module or ""
            # `from gncontrol.forward import fast_path` imports the submodule gncontrol.forward.fast_path
            found += [f"{base}.{alias.name}" for alias in node.names] if base else []
    return [name for name in found if name.split(".")[0] in PACKAGES]


def sources() -> dict[str, str]:
    """Module name -> source text for every file of the four packages."""
    return {
        module_name(path): path.read_text() for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
    }


def violations(modules: dict[str, str]) -> list[str]:
    """One line per import that goes up a layer or across to a sibling group."""
    bad = []
    for here, source in modules.items():
        group, layer = layer_of(here)
        for target in imported_modules(source, here):
            their_group, their_layer = layer_of(target)
            if their_layer > layer:
                bad.append(f"{here} (layer {layer}) imports {target} (layer {their_layer})")
            elif their_layer == layer and their_group != group and layer == 3:
                bad.append(f"{here} ({group}) imports its sibling {target} ({their_group})")
    return bad


def test_no_module_imports_from_a_layer_above_it():
    assert violations(sources()) == []


def test_the_check_catches_an_upward_import():
    probe = {
        "gncontrol.gn._probe": "def f():\n    from gncontrol.forward.training import TrainConfig\nimport planners\n"
    }
    found = violations(probe)
    assert any("gncontrol.gn._probe (layer 1) imports gncontrol.forward.training" in v for v in found)
    assert any("imports planners" in v for v in found)


def test_sibling_families_stay_apart():
    assert layer_of("gncontrol.nri.training")[1] == layer_of("gncontrol.forward.training")[1]
    found = violations({"gncontrol.nri._probe": "from gncontrol.forward import fast_path\n"})
    assert any("imports its sibling gncontrol.forward.fast_path" in v for v in found)


def import_cycles(modules: dict[str, str]) -> list[list[str]]:
    """Cycles in the module import graph (function-local imports count; package re-exports do not)."""
    packages = {name for name in modules if (ROOT / name.replace(".", "/") / "__init__.py").exists()}
    known = set(modules) - packages

    def resolve(target: str) -> str | None:
        parts = target.split(".")
        for end in range(len(parts), 0, -1):  # `from m import name` names m.name; keep the module part
            if ".".join(parts[:end]) in known:
                return ".".join(parts[:end])
        return None

    edges = {m: {t for t in map(resolve, imported_modules(modules[m], m)) if t and t != m} for m in known}
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(known):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_import_cycle():
    assert import_cycles(sources()) == []


def test_the_cycle_check_catches_a_circle():
    probe = {"agents.a": "def f():\n    from agents.b import g\n", "agents.b": "from agents.a import f\n"}
    assert import_cycles(probe) == [["agents.a", "agents.b", "agents.a"]]
