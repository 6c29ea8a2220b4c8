"""Mutation testing of rwbench's numeric core: would the tests fail if a number were wrong?

Each mutant is one small edit of one module (an operator, a constant, a swapped argument, an axis, mean → median,
a flipped boolean, a removed ``not`` …), made on the module's AST and written into a **copy** of the repository;
only the module's own tests (:data:`TARGETS`) run against it, ``-x`` (the first failure kills it), under ``nice``
and a per-mutant timeout. A mutant is *killed* when a test fails (or the run times out), *survives* when every test
passes. The score per module is killed / (killed + survived); every survivor is printed as ``file:line`` with the
mutation, to be judged equivalent (no observable change) or covered by a new test.

Safety: the working tree is never written. The script copies ``bench/``, ``architectures/``, ``datasets/``,
``tests/`` and ``pyproject.toml`` into a temporary directory and puts a ``rwbench`` package that points at the
copy first on ``PYTHONPATH`` (the editable install's finder comes after the path finder); it checks that
``rwbench`` and each mutated module import from the copy and aborts otherwise, and it checks that the unmutated
copy passes its tests before mutating a module (a module whose tests fail unmutated is reported and skipped).
Bytecode is never written (``PYTHONDONTWRITEBYTECODE``): a same-size mutant written within the same second as the
previous one could otherwise be loaded from a stale ``.pyc``. Each test run is a child forked from a server
process that has the heavy libraries (torch, scikit-learn, scipy, pandas) imported but never rwbench (it checks): the
child imports rwbench afresh from the copy, so every run sees the mutant on disk, without paying the libraries'
import again (``--no-fork``: a fresh ``python -m pytest`` per run).

    python benchmarks/mutate.py                                  # every module, 30 mutants each, seed 0
    python benchmarks/mutate.py --modules analysis/significance,elm --max-per-module 0   # every mutant of two modules
    python benchmarks/mutate.py --skip-tests 'test_values_*'     # the score without the value tests ("before")
    python benchmarks/mutate.py --compare 'test_values_*'        # before and after in one pass
    python benchmarks/mutate.py --modules elm --mutants 3,17     # just these mutants (numbers from --list)
    python benchmarks/mutate.py --list --modules protocol        # the mutants, without running anything

Not part of CI: one mutant costs one run of its module's tests (seconds to a minute), one at a time.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import fnmatch
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPIED = ("bench", "architectures", "datasets", "tests", "pyproject.toml")

# module key (``bench/<key>.py``, imported as ``rwbench.<key with dots>``: ``analysis/ranking`` is
# ``bench/analysis/ranking.py``, ``rwbench.analysis.ranking``) → the test files run against each of its mutants, fastest
# first (-x stops at the first failure, so a value test that kills most mutants in a second goes first). A file that
# does not exist is left out.
TARGETS: dict[str, tuple[str, ...]] = {
    "evaluate": ("test_values_evaluate.py", "test_evaluate.py"),
    "folds": ("test_values_folds.py", "test_values_evaluate.py", "test_results_v2.py", "test_evaluate.py"),
    # keep_rows / rows_of (window rows of a split) are pinned in test_values_evaluate.py and used by test_evaluate.py
    "protocol": ("test_values_protocol.py", "test_values_evaluate.py", "test_datasets_generic.py", "test_evaluate.py"),
    # the task types' metrics reach the fold record, the result files' bounds and the paired clip tests
    "tasks": ("test_values_tasks.py", "test_values_evaluate.py", "test_values_folds.py", "test_values_results.py",
              "test_values_significance.py", "test_multilabel.py", "test_task_types.py"),
    "analysis/significance": ("test_values_significance.py", "test_significance.py"),
    "analysis/ranking": ("test_values_ranking.py", "test_ranking.py"),
    "kernel_svm": ("test_values_kernel_svm.py", "test_kernel_svm.py"),
    "elm": ("test_values_elm.py", "test_elm.py"),
    "results": ("test_values_results.py", "test_results_v2.py"),
    "proxies": ("test_proxies.py", "test_search.py"),
}
ALIASES = {"significance": "analysis/significance", "ranking": "analysis/ranking"}  # the names before the move


def module_file(key: str) -> str:
    """``bench/<key>.py``, the module's path in the repository (or its copy)."""
    return f"bench/{key}.py"


def module_name(key: str) -> str:
    """``rwbench.<key>`` with the folders as dots: the name the module is imported by."""
    return "rwbench." + key.replace("/", ".")


# -- mutation operators -------------------------------------------------------------------------------------------
BINOPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
          ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
          ast.LShift: ast.RShift, ast.RShift: ast.LShift}
CMPOPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
          ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
FLIPPED_CMP = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}
FUNCTIONS = {"mean": "median", "median": "mean", "nanmean": "nanmedian", "nanmedian": "nanmean", "max": "min",
             "min": "max", "argmax": "argmin", "argmin": "argmax", "maximum": "minimum", "minimum": "maximum",
             "any": "all", "all": "any", "sum": "mean", "nanpercentile": "percentile", "unique": "sort",
             "flatnonzero": "nonzero", "concatenate": "stack", "column_stack": "row_stack", "std": "var",
             "var": "std", "sqrt": "abs", "exp": "log", "square": "abs", "abs": "negative"}
STRINGS = {"macro": "micro", "micro": "macro", "weighted": "macro", "zsplit": "wilcox", "wilcox": "zsplit",
           "pratt": "zsplit", "average": "min", "min": "max", "max": "min", "dense": "min", "two-sided": "greater",
           "rbf": "linear", "linear": "rbf", "scale": "auto", "samples": "pairings", "pairings": "samples",
           "exact": "asymptotic", "pos": "gen", "c": "r", "train": "valid", "valid": "train", "test": "valid",
           "accuracy": "balanced_accuracy", "decision_function": "predict_proba"}

UNDROPPED = {"dtype", "out", "key", "default", "capture_output", "text", "timeout", "cwd", "exist_ok", "parents",
             "digest_size", "encoding", "stacklevel"}  # keywords whose removal is no numeric change (or no change)


@dataclass(frozen=True)
class Mutant:
    module: str
    index: int  # position in the module's deterministic list of candidates
    line: int
    description: str


def _skipped_ranges(tree: ast.AST) -> list[ast.AST]:
    """Nodes whose insides are never mutated: annotations (postponed, never evaluated), f-strings, docstrings,
    decorators, the arguments of ``raise`` and of logging calls (message text)."""
    out: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.arg, ast.AnnAssign)) and node.annotation is not None:
            out.append(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            out.append(node.returns)
        if isinstance(node, ast.JoinedStr):
            out.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.extend(node.decorator_list)
        if isinstance(node, ast.Raise) and node.exc is not None:
            out.append(node.exc)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("log", "logging", "warnings")):
            out.append(node)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            out.append(node)
    return out


def _inside(node: ast.AST, skipped: set[int]) -> bool:
    return id(node) in skipped


def _candidates(tree: ast.AST):
    """Yield (node, description, make) for every mutation of ``tree``: ``make(node)`` returns the mutated copy of
    ``node`` (an expression), in one deterministic order."""
    skipped = {id(n) for top in _skipped_ranges(tree) for n in ast.walk(top)}
    for node in ast.walk(tree):
        if _inside(node, skipped) or not hasattr(node, "lineno"):
            continue
        yield from _node_mutations(node)


def _with(node: ast.AST, **changes) -> ast.AST:
    new = copy.deepcopy(node)
    for key, value in changes.items():
        setattr(new, key, value)
    return new


def _node_mutations(node: ast.AST):
    if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
        new_op = BINOPS[type(node.op)]
        yield node, f"{type(node.op).__name__} → {new_op.__name__}", lambda n, o=new_op: _with(n, op=o())
    elif isinstance(node, ast.AugAssign) and type(node.op) in BINOPS:
        new_op = BINOPS[type(node.op)]
        yield node, f"augmented {type(node.op).__name__} → {new_op.__name__}", lambda n, o=new_op: _with(n, op=o())
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for table in (CMPOPS, FLIPPED_CMP):
                if type(op) in table:
                    new_op = table[type(op)]

                    def make(n, i=i, o=new_op):
                        ops = list(n.ops)
                        ops[i] = o()
                        return _with(n, ops=ops)

                    yield node, f"{type(op).__name__} → {new_op.__name__}", make
    elif isinstance(node, ast.BoolOp):
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        yield node, f"{type(node.op).__name__} → {other.__name__}", lambda n, o=other: _with(n, op=o())
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        yield node, f"removed {'not' if isinstance(node.op, ast.Not) else 'unary minus'}", lambda n: n.operand
    elif isinstance(node, ast.Constant):
        yield from _constant_mutations(node)
    elif isinstance(node, ast.Call):
        yield from _call_mutations(node)
    elif isinstance(node, ast.IfExp):
        yield node, "conditional expression: always the else branch", lambda n: n.orelse
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and node.slice.step is None:
        yield from _slice_mutations(node)


def _constant_mutations(node: ast.Constant):
    value = node.value
    if isinstance(value, bool):
        yield node, f"{value} → {not value}", lambda n: _with(n, value=not n.value)
    elif isinstance(value, int):
        for new in sorted({1 - value if value in (0, 1) else value + 1, value - 1} - {value}):
            if new >= 0:
                yield node, f"constant {value} → {new}", lambda n, v=new: _with(n, value=v)
    elif isinstance(value, float):
        new = 1.0 if value == 0 else 0.0 if value == 1 else value * 2
        yield node, f"constant {value!r} → {new!r}", lambda n, v=new: _with(n, value=v)
    elif isinstance(value, str) and value in STRINGS:
        yield node, f"string {value!r} → {STRINGS[value]!r}", lambda n: _with(n, value=STRINGS[n.value])


def _call_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _call_mutations(node: ast.Call):
    name = _call_name(node.func)
    if name in FUNCTIONS:
        new = FUNCTIONS[name]

        def rename(n, new=new):
            func = copy.deepcopy(n.func)
            if isinstance(func, ast.Name):
                func.id = new
            else:
                func.attr = new
            return _with(n, func=func)

        yield node, f"call {name} → {new}", rename
    positional = [a for a in node.args if not isinstance(a, ast.Starred)]
    if len(positional) == len(node.args) >= 2:
        yield node, f"swapped the first two arguments of {name or 'a call'}", \
            lambda n: _with(n, args=[n.args[1], n.args[0], *n.args[2:]])
    for i, keyword in enumerate(node.keywords):
        if keyword.arg in ("axis", "keepdims", "ddof") and isinstance(keyword.value, ast.Constant):
            continue  # constant mutations cover them
        if keyword.arg is not None and keyword.arg not in UNDROPPED:
            yield node, f"dropped keyword {keyword.arg}= of {name or 'a call'}", \
                lambda n, i=i: _with(n, keywords=[k for j, k in enumerate(n.keywords) if j != i])


def _slice_mutations(node: ast.Subscript):
    s = node.slice
    if s.lower is not None:
        yield node, "slice: dropped the lower bound", lambda n: _with(n, slice=_with(n.slice, lower=None))
    if s.upper is not None:
        yield node, "slice: dropped the upper bound", lambda n: _with(n, slice=_with(n.slice, upper=None))


def mutants(module: str, source: str) -> list[tuple[Mutant, str]]:
    """Every (mutant, mutated source) of :func:`module_file`: the mutated node's source text replaced by the
    parenthesised unparse of its mutated copy (the rest of the file byte for byte)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode()))
    raw = source.encode()
    out = []
    for index, (node, description, make) in enumerate(_candidates(tree)):
        start = offsets[node.lineno - 1] + node.col_offset
        end = offsets[node.end_lineno - 1] + node.end_col_offset
        mutated = make(node)
        if isinstance(node, ast.stmt):
            text = ast.unparse(mutated)
        else:
            text = f"({ast.unparse(mutated)})"
        new = (raw[:start] + text.encode() + raw[end:]).decode()
        try:
            compile(new, module_file(module), "exec")
        except SyntaxError:
            continue
        if ast.dump(ast.parse(new)) == ast.dump(tree):
            continue  # no change after all (e.g. -0 → 0)
        out.append((Mutant(module, index, node.lineno, description), new))
    return out


# -- running ------------------------------------------------------------------------------------------------------
def make_copy(root: Path) -> tuple[Path, Path]:
    """(repository copy, PYTHONPATH entry): ``root/repo`` holds the copied tree; ``root/path/rwbench`` is a link to
    the copy's ``bench``, which links ``architectures`` and ``datasets`` in as the editable install maps them."""
    repo = root / "repo"
    repo.mkdir()
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, repo / name)
    for sub in ("architectures", "datasets"):
        (repo / "bench" / sub).symlink_to(repo / sub, target_is_directory=True)
    path = root / "path"
    path.mkdir()
    (path / "rwbench").symlink_to(repo / "bench", target_is_directory=True)
    return repo, path


def environment(path: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(path), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def check_imports(repo: Path, path: Path, modules: list[str]) -> None:
    """Abort unless ``rwbench`` and each module import from the copy (never from the working tree)."""
    names = ["rwbench", "rwbench.architectures", "rwbench.datasets", "rwbench.analysis", *map(module_name, modules)]
    code = ("import importlib, os\n"
            f"for name in {names!r}:\n"
            "    print(os.path.realpath(importlib.import_module(name).__file__))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, env=environment(path), capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"abort: importing rwbench from the copy failed:\n{out.stderr}")
    real = repo.resolve()
    for name, file in zip(names, out.stdout.split()):
        if not Path(file).is_relative_to(real):
            sys.exit(f"abort: {name} imports from {file}, not from the copy {real}: mutants would not be tested")


PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--no-header", "-W", "ignore")

# The libraries every test run imports (seconds of a run's start on a loaded machine), loaded once by the fork server;
# never rwbench, which each forked run imports afresh from the (mutated) copy.
PRELOADED = ("numpy", "scipy.stats", "scipy.linalg", "pandas", "sklearn.svm", "sklearn.linear_model",
             "sklearn.model_selection", "sklearn.metrics", "sklearn.preprocessing", "sklearn.pipeline",
             "sklearn.neighbors", "joblib", "hpelm", "torch", "soundfile", "pytest")

# The fork server: preloads PRELOADED, then for each JSON list of pytest arguments on stdin forks a child (its own
# session, output to /dev/null) that runs pytest in the copy; prints the child's pid, then its exit code.
SERVER = """
import importlib, json, os, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
if any(m == "rwbench" or m.startswith("rwbench.") for m in sys.modules):
    sys.exit("fork server: rwbench was imported before forking")
import pytest
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        try:
            rc = int(pytest.main(json.loads(line)))
        except BaseException:
            rc = 3
        os._exit(rc)
    print(pid, flush=True)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


class Runner:
    """Runs a module's tests in the copy: each run a fresh ``python -m pytest`` (``fork=False``), or a child forked
    from a server that has the heavy libraries loaded already (``fork=True``: the same tests, without the seconds
    of importing torch, scikit-learn and scipy per mutant). Either way the run is its own process that imports
    rwbench from the copy, under ``nice``."""

    def __init__(self, repo: Path, path: Path, nice: int, fork: bool):
        self.repo, self.path, self.nice, self.fork = repo, path, nice, fork
        self.server: subprocess.Popen | None = None
        self.buffer = b""
        if fork:
            self.server = subprocess.Popen(["nice", "-n", str(nice), sys.executable, "-c", SERVER, *PRELOADED],
                                           cwd=repo, env=environment(path), stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, bufsize=0, start_new_session=True)

    def close(self) -> None:
        if self.server is not None:
            self.server.stdin.close()
            self.server.wait()
            self.server = None

    def _line(self, timeout: float | None) -> str | None:
        """The server's next line, or None after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.server.stdout], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.server.stdout.fileno(), 4096)
            if not chunk:
                sys.exit("abort: the fork server ended")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    def run(self, tests: list[str], timeout: float) -> tuple[str, float]:
        """('passed' | 'failed' | 'timeout' | 'error <rc>', seconds) of one pytest run of ``tests`` in the copy."""
        start = time.monotonic()
        if self.server is None:
            rc = self._subprocess(tests, timeout)
        else:
            self.server.stdin.write((json.dumps([*tests, *PYTEST_ARGS]) + "\n").encode())
            child = int(self._line(None))
            try:
                answer = self._line(timeout)
            except BaseException:  # interrupted: never leave a test run behind on a mutant
                os.killpg(child, signal.SIGKILL)
                raise
            if answer is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child, signal.SIGKILL)
                self._line(None)
                rc = None
            else:
                rc = int(answer)
        seconds = time.monotonic() - start
        if rc is None:
            return "timeout", seconds
        return {0: "passed", 1: "failed"}.get(rc, f"error {rc}"), seconds

    def _subprocess(self, tests: list[str], timeout: float) -> int | None:
        command = ["nice", "-n", str(self.nice), sys.executable, "-m", "pytest", *tests, *PYTEST_ARGS]
        process = subprocess.Popen(command, cwd=self.repo, env=environment(self.path), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return None
        except BaseException:  # interrupted: never leave a test run behind on a mutant
            os.killpg(process.pid, signal.SIGKILL)
            raise


def tests_of(module: str, repo: Path, skip: list[str], only: list[str] | None = None) -> list[str]:
    """The module's test files (:data:`TARGETS`) that exist in the copy, without those matching ``skip`` and, with
    ``only``, just those matching it."""
    names = [name for name in TARGETS[module] if (repo / "tests" / name).exists()
             and not any(fnmatch.fnmatch(name, pattern) for pattern in skip)
             and (only is None or any(fnmatch.fnmatch(name, pattern) for pattern in only))]
    return [f"tests/{name}" for name in names]


def chosen_mutants(module: str, source: str, args) -> tuple[list[tuple[Mutant, str]], int]:
    """(the seeded sample of the module's mutants, or those named by ``--mutants``; the number of candidates)."""
    every = mutants(module, source)
    if args.mutants:
        wanted = {int(i) for i in args.mutants.split(",")}
        return [m for m in every if m[0].index in wanted], len(every)
    if not args.max_per_module or len(every) <= args.max_per_module:
        return every, len(every)
    sample = random.Random(f"{args.seed}:{module}").sample(every, args.max_per_module)
    return sorted(sample, key=lambda m: m[0].index), len(every)


def empty_score(module: str, total: int) -> dict:
    return {"module": module, "total": total, "killed": 0, "timeout": 0, "survived": [], "errors": []}


def record(score: dict, state: str, line: str) -> None:
    if state == "failed":
        score["killed"] += 1
    elif state == "timeout":
        score["timeout"] += 1
    elif state == "passed":
        score["survived"].append(line)
    else:  # pytest could not even collect: the tests noticed
        score["errors"].append(f"{line} ({state})")
        score["killed"] += 1


def skipped(score: dict, after: dict | None, why: str) -> tuple[dict, dict | None]:
    for r in (score, after):
        if r is not None:
            r["skipped"] = why
    return score, after


def run_module(module: str, repo: Path, runner: Runner, args) -> tuple[dict, dict | None]:
    """(score, score with the ``--compare`` tests added, or None). In compare mode each mutant runs the module's
    tests without the ``--compare`` files first; only a survivor runs those files next (a mutant killed without
    them is killed with them: one pass gives both scores)."""
    before = tests_of(module, repo, args.skip_tests + args.compare, args.only_tests)
    added = tests_of(module, repo, args.skip_tests, args.compare) if args.compare else []
    target = repo / module_file(module)
    original = target.read_text()
    chosen, total = chosen_mutants(module, original, args)
    print(f"\n== {module}: {len(chosen)} of {total} mutants; tests: {' '.join(before) or '(none)'}"
          + (f"; then on survivors: {' '.join(added) or '(none)'}" if args.compare else ""), flush=True)
    score, after = empty_score(module, total), (empty_score(module, total) if args.compare else None)
    if not before + added:
        return skipped(score, after, "no test file")
    state, seconds = runner.run(before + added, args.baseline_timeout)
    if state != "passed":
        print(f"   unmutated copy: {state} ({seconds:.0f} s): tests must pass before mutating; module skipped", flush=True)
        return skipped(score, after, f"unmutated tests {state}")
    timeout = args.timeout_factor * seconds + 10
    print(f"   unmutated copy passes in {seconds:.0f} s; per-mutant timeout {timeout:.0f} s", flush=True)
    try:
        for mutant, source in chosen:
            target.write_text(source)
            line = f"{module_file(module)}:{mutant.line}  {mutant.description}  [#{mutant.index}]"
            state, seconds = runner.run(before, timeout) if before else ("passed", 0.0)
            record(score, state, line)
            shown = f"{state:8s} {seconds:5.1f} s"
            if after is not None:
                if state == "passed" and added:
                    state, seconds = runner.run(added, timeout)
                    shown += f" → {state:8s} {seconds:5.1f} s"
                record(after, state, line)
            print(f"   {shown}  {line}", flush=True)
    finally:
        target.write_text(original)
    return score, after


def report(results: list[dict], title: str) -> None:
    print(f"\n## {title}\n")
    print("| module | mutants | killed | timeout | survived | score |")
    print("|---|---|---|---|---|---|")
    for r in results:
        if "skipped" in r:
            print(f"| `{module_file(r['module'])}` | – | – | – | – | skipped: {r['skipped']} |")
            continue
        caught = r["killed"] + r["timeout"]
        n = caught + len(r["survived"])
        score = f"{100 * caught / n:.0f} %" if n else "–"
        print(f"| `{module_file(r['module'])}` | {n} of {r['total']} | {r['killed']} | {r['timeout']} | "
              f"{len(r['survived'])} | {score} |")
    for r in results:
        for line in r["survived"]:
            print(f"survived: {line}")
        for line in r["errors"]:
            print(f"error (counted as killed): {line}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--modules", default=",".join(TARGETS), help="comma-separated, of: " + ", ".join(TARGETS))
    parser.add_argument("--max-per-module", type=int, default=30, help="seeded sample of mutants per module (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mutants", help="comma-separated mutant numbers (the [#n] of a listing) instead of a sample; "
                                          "one module")
    parser.add_argument("--skip-tests", action="append", default=[], metavar="GLOB",
                        help="leave test files matching GLOB out (repeatable), e.g. 'test_values_*'")
    parser.add_argument("--only-tests", action="append", metavar="GLOB", help="run only the test files matching GLOB")
    parser.add_argument("--compare", action="append", default=[], metavar="GLOB",
                        help="score without and with the test files matching GLOB in one pass (before / after)")
    parser.add_argument("--timeout-factor", type=float, default=3.0, help="per-mutant timeout: factor × unmutated time + 10 s")
    parser.add_argument("--baseline-timeout", type=float, default=900)
    parser.add_argument("--nice", type=int, default=15, help="niceness added to each test run (default 15)")
    parser.add_argument("--no-fork", action="store_true",
                        help="start every test run as a fresh python (default: fork it from a server that has torch, "
                             "scikit-learn and scipy loaded)")
    parser.add_argument("--list", action="store_true", help="print the chosen mutants and stop")
    args = parser.parse_args(argv)
    modules = [ALIASES.get(m.strip(), m.strip()) for m in args.modules.split(",") if m.strip()]
    unknown = sorted(set(modules) - set(TARGETS))
    if unknown:
        parser.error(f"unknown modules {unknown}")
    if args.mutants and len(modules) != 1:
        parser.error("--mutants names the mutants of one module")
    if args.list:
        for module in modules:
            chosen, total = chosen_mutants(module, (REPO / module_file(module)).read_text(), args)
            print(f"== {module}: {len(chosen)} of {total}")
            for mutant, _ in chosen:
                print(f"   {module_file(module)}:{mutant.line}  {mutant.description}  [#{mutant.index}]")
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # kill: restore the copy's module and clean up
    with tempfile.TemporaryDirectory(prefix="rwbench-mutate-") as tmp:
        repo, path = make_copy(Path(tmp))
        check_imports(repo, path, modules)
        print(f"copy of {REPO} in {repo}; rwbench imports from the copy", flush=True)
        runner = Runner(repo, path, args.nice, not args.no_fork)
        try:
            results = [run_module(module, repo, runner, args) for module in modules]
        finally:
            runner.close()
    sampled = "the mutants asked for" if args.mutants else f"max {args.max_per_module or 'all'} per module, seed {args.seed}"
    label = f" without {', '.join(args.compare)}" if args.compare else ""
    report([score for score, _ in results], f"mutation score{label} ({sampled})")
    if args.compare:
        report([after for _, after in results], f"mutation score with {', '.join(args.compare)} ({sampled})")


if __name__ == "__main__":
    main()
