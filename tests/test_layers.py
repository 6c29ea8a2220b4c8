"""The package's layering, read from its imports: a module imports only its own floor or floors below, a stage imports no
other stage, no private name crosses a module, and the analysis wing reads results without importing torch.

Adding a module: put it in ``FLOORS`` below (CONTRIBUTING.md, "Layers", says which floor is for what).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"

PRIMITIVES = {"errors", "fileio", "filehash", "registry", "progress", "choices", "tf_checkpoint", "embedding_manifest",
              "dsp", "elm", "kernel_svm", "audio", "protocol", "tasks", "options", "allocator"}
MECHANISMS = {"cache", "backends", "weight_packs", "datamodel", "guards", "folds", "results", "frontend", "search_space",
              "hear_import", "macs", "embed_job", "clips", "device", "fitting", "fusion", "compiler", "paper",
              "dataset", "weights"}  # deprecated names of datamodel and weight_packs, re-exporting them
STAGES = {"embed", "evaluate", "train", "pretrain", "profile", "check"}
ORCHESTRATION = {"pipeline", "executor", "plan", "train_plan", "proxies", "search", "reproduce", "published_protocol",
                 "weight_figures"}
INTERFACE = {"__init__", "cli", "cli_args", "reproduce_cli", "search_cli", "api", "listing", "hear"}
# floor of each module, bottom up; the analysis wing reads result files and sits on the mechanisms
FLOORS = {**dict.fromkeys(PRIMITIVES, 0), **dict.fromkeys(MECHANISMS, 1), "analysis": 2,
          **dict.fromkeys(STAGES, 3), **dict.fromkeys(ORCHESTRATION, 4), **dict.fromkeys(INTERFACE, 5)}
FLOOR_NAMES = ("primitives", "mechanisms", "analysis", "stages", "orchestration", "interface")


def module_name(path: Path) -> str:
    parts = path.relative_to(BENCH).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def floor_of(module: str) -> int:
    return FLOORS["analysis"] if module.split(".")[0] == "analysis" else FLOORS[module]


def known(*modules: str) -> bool:  # an unplaced module fails test_every_module_has_a_floor, not every test
    return all(m.split(".")[0] == "analysis" or m in FLOORS for m in modules)


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported rwbench module, names, line) of every import of ``path`` outside ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for n in ast.walk(node)}
    package = module_name(path).split(".")[:-1] if path.name != "__init__.py" else module_name(path).split(".")
    package = [] if package == ["__init__"] else package
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or id(node) in typing_only:
            continue
        if node.level:
            base = package[:len(package) - (node.level - 1)]
        elif (node.module or "").startswith("rwbench"):
            base, node = [], ast.ImportFrom(module=(node.module or "")[len("rwbench."):] or None, names=node.names,
                                            level=0, lineno=node.lineno)
        else:
            continue
        names = [a.name for a in node.names]
        if node.module:
            found.append((".".join(base + node.module.split(".")), names, node.lineno))
        else:  # from . import x, y: each a module
            found += [(".".join(base + [name]), [], node.lineno) for name in names]
    return found


MODULES = {module_name(p): p for p in sorted(BENCH.rglob("*.py"))}
EDGES = [(m, target, names, line) for m, p in MODULES.items() for target, names, line in imports(p) if target in MODULES
         or target == "" or target.split(".")[0] in FLOORS]


def test_every_module_has_a_floor():
    missing = sorted(m for m in MODULES if m.split(".")[0] != "analysis" and m not in FLOORS)
    assert not missing, f"put these modules on a floor in tests/test_layers.py FLOORS: {missing}"


def test_no_import_climbs_a_floor():
    upward = [f"{m} ({FLOOR_NAMES[floor_of(m)]}) imports {t} ({FLOOR_NAMES[floor_of(t)]}), line {line}"
              for m, t, _, line in EDGES if t in MODULES and known(m, t) and floor_of(t) > floor_of(m)]
    assert not upward, "\n".join(upward)


def test_no_stage_imports_another_stage():
    sideways = [f"{m} imports stage {t}, line {line}" for m, t, _, line in EDGES
                if m in STAGES and t in STAGES and t != m]
    assert not sideways, "\n".join(sideways)


def test_no_private_name_crosses_a_module():
    private = [f"{m} imports {t}.{name}, line {line}" for m, t, names, line in EDGES for name in names
               if name.startswith("_") and not name.startswith("__")]
    assert not private, "\n".join(private)


def test_the_checker_sees_what_it_must_refuse(tmp_path):
    """The rules above run on parsed imports: a stage → stage import and a private name are found."""
    probe = BENCH / "train.py"
    found = {(t, tuple(n)) for t, n, _ in imports(probe)}
    assert any(t == "fitting" for t, _ in found)  # the fit loop, from its mechanism module
    fake = tmp_path / "fake.py"
    fake.write_text("from typing import TYPE_CHECKING\nfrom .embed import _private\nif TYPE_CHECKING:\n"
                    "    from .pipeline import RunOptions\n")
    parsed = [(t, n) for t, n, _ in imports_of_text(fake)]
    assert parsed == [("embed", ["_private"])]  # the TYPE_CHECKING import is not a runtime edge


def imports_of_text(path: Path) -> list[tuple[str, list[str], int]]:
    """:func:`imports` for a file outside the package (read as a top-level module of rwbench)."""
    target = BENCH / "_layers_probe_.py"
    try:
        target.write_text(path.read_text())
        return imports(target)
    finally:
        target.unlink()


def test_the_analysis_wing_imports_without_torch():
    wing = sorted(f"rwbench.{m}" for m in MODULES if m.split(".")[0] == "analysis")
    code = (f"import sys; import {', '.join(wing)}; "
            "print(__import__('json').dumps([m for m in ('torch', 'torchaudio', 'librosa') if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
