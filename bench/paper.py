"""Papers as data: a study's settings, datasets, front-ends, backends and published numbers, read from a TOML file.

The shipped files live in ``rwbench/papers/<id>.toml`` (package data); ``rwbench reproduce PATH.toml`` reads any
other. A file is checked when it is read: an unknown or missing key, a value of the wrong type, an unknown
front-end, dataset or backend, or a published number for a row the paper does not run is an error naming the
file and the key. The format, key by key, is in ``bench/papers/README.md``.

A published number records where it was read (``table``, ``text`` or ``figure``) and how precisely (``precision``,
in the number's own unit: ±0.3 points for a bar read off a figure, 0.00005 for a four-decimal table entry). A
number that could not be found is recorded as such (``[[not_found]]``), never invented.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .choices import PRIMARY_METRICS
from .errors import RwbenchError, UnknownNameError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the tomli backport (a dependency there)
    import tomli as tomllib

WHERE = ("table", "text", "figure")  # where a published number was read
IMPLEMENTATIONS = ("pons2019", "rwbench")  # a paper's own protocol: rwbench.published_protocol's, or rwbench's own
UNITS = {"fraction": 1.0, "percent": 100.0}  # a published number's unit -> how many units make 1.0


class PaperError(RwbenchError):
    """A paper file that does not follow the format: the message names the file and the key."""


@dataclass(frozen=True)
class Source:
    key: str
    citation: str
    url: str = ""


@dataclass(frozen=True)
class PaperDataset:
    name: str  # a registered dataset
    label: str
    get: str  # how to obtain it (printed when it is not given)
    tasks: tuple[str, ...] | None = None
    options: dict = field(default_factory=dict)  # loader options (rwbench's --dataset-option)
    frontends: tuple[str, ...] | None = None  # those run on it (default: the paper's)
    instead_of: str | None = None  # run only when that dataset is not given (ESC-10 for ESC-50)
    protocol_mark: str = "≠"  # how the paper's protocol on it compares with rwbench's: "=", "≈" or "≠"
    protocol_note: str = ""


@dataclass(frozen=True)
class PaperRow:
    """A row of the paper's table: dataset, front-end, weights and backend."""

    dataset: str
    frontend: str
    weights: str
    backend: str

    @property
    def row(self) -> tuple[str, str, str, str]:
        return (self.dataset, self.frontend, self.weights, self.backend)


@dataclass(frozen=True)
class Published(PaperRow):
    """One published number, as a fraction (accuracy, ROC-AUC) with its precision in the same unit."""

    value: float
    metric: str
    where: str
    precision: float | None
    source: str
    note: str = ""


@dataclass(frozen=True)
class NotFound(PaperRow):
    what: str  # what was looked for and where


@dataclass(frozen=True)
class Trained:
    """A trained row of the paper (``rwbench train``: weights ``trained``, backend ``head``), shown when present."""

    frontend: str
    command: str  # the command that makes it (printed when its results are absent)


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    citation: str
    url: str
    summary: str
    file: Path
    width: str
    seeds: int
    grid: str
    weights: tuple[str, ...]
    protocol: str  # an implementation in rwbench.published_protocol, or "rwbench" (the paper's is rwbench's own)
    protocol_description: str
    datasets: tuple[PaperDataset, ...]
    frontends: tuple[str, ...]
    backends: tuple[str, ...]
    published: tuple[Published, ...]
    not_found: tuple[NotFound, ...] = ()
    trained: tuple[Trained, ...] = ()
    sources: tuple[Source, ...] = ()
    notes: tuple[str, ...] = ()

    def dataset(self, name: str) -> PaperDataset:
        for d in self.datasets:
            if d.name == name:
                return d
        raise UnknownNameError(f"dataset of paper {self.id}", name, [d.name for d in self.datasets])

    def frontends_on(self, dataset: PaperDataset) -> tuple[str, ...]:
        return dataset.frontends or self.frontends

    def source(self, key: str) -> Source:
        return next(s for s in self.sources if s.key == key)


# -- reading ----------------------------------------------------------------------------------------
class _Table:
    """One TOML table being read: every key taken is checked; what is left over is an unknown key."""

    def __init__(self, data: object, file: Path, where: str) -> None:
        if not isinstance(data, dict):
            raise PaperError(f"{file}: {where or 'the file'} must be a table, got {type(data).__name__}")
        self.data, self.file, self.where = data, file, where
        self.taken: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def get(self, name: str, kind: type | tuple[type, ...], default=..., *, choices=None):
        self.taken.add(name)
        if name not in self.data:
            if default is ...:
                raise PaperError(f"{self.file}: {self.key(name)} is missing")
            return default
        value = self.data[name]
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            names = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
            raise PaperError(f"{self.file}: {self.key(name)} is {value!r}, not {names}")
        if choices is not None and value not in choices:
            raise PaperError(f"{self.file}: {self.key(name)} is {value!r}, not one of {list(choices)}")
        return value

    def strings(self, name: str, default=...) -> tuple[str, ...] | None:
        value = self.get(name, list, default)
        if value is None or value is default:
            return value
        if not value or not all(isinstance(v, str) and v for v in value):
            raise PaperError(f"{self.file}: {self.key(name)} must be a non-empty list of names, got {value!r}")
        return tuple(value)

    def table(self, name: str) -> _Table:
        return _Table(self.get(name, dict), self.file, self.key(name))

    def tables(self, name: str, default=...) -> list[_Table]:
        items = self.get(name, list, [] if default is ... else default)
        if default is ... and not items:
            raise PaperError(f"{self.file}: {self.key(name)} is missing (at least one [[{name}]])")
        return [_Table(item, self.file, f"{self.key(name)}[{i}]") for i, item in enumerate(items)]

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.taken)
        if unknown:
            raise PaperError(f"{self.file}: unknown key(s) {', '.join(self.key(k) for k in unknown)}")


def read_paper(path: str | Path, *, check_names: bool = True) -> Paper:
    """The paper described by the TOML file ``path``, checked (``check_names``: every front-end, dataset and
    backend it names is registered in rwbench)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise PaperError(f"cannot read paper file {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise PaperError(f"{path}: not valid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise PaperError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    paper = _paper(_Table(data, path, ""), path)
    if check_names:
        check_registered(paper)
    _check_rows(paper)
    return paper


def _paper(top: _Table, path: Path) -> Paper:
    head, settings, protocol = top.table("paper"), top.table("settings"), top.table("protocol")
    sources = tuple(_source(t) for t in top.tables("sources"))
    frontends, backends = top.strings("frontends"), top.strings("backends")
    paper = dict(
        id=head.get("id", str), title=head.get("title", str), citation=head.get("citation", str),
        url=head.get("url", str, ""), summary=head.get("summary", str, ""), file=path,
        width=str(settings.get("width", (str, int), "paper")), seeds=settings.get("seeds", int, 1),
        grid=settings.get("grid", str, "study"), weights=settings.strings("weights", ("random",)),
        protocol=protocol.get("implementation", str, choices=IMPLEMENTATIONS),
        protocol_description=protocol.get("description", str),
        notes=top.strings("notes", ()) or (),
        datasets=tuple(_dataset(t) for t in top.tables("datasets")), frontends=frontends, backends=backends,
        sources=sources,
        published=tuple(p for t in top.tables("published", []) for p in _published(t, {s.key for s in sources})),
        not_found=tuple(_not_found(t) for t in top.tables("not_found", [])),
        trained=tuple(Trained(t.get("frontend", str), t.get("command", str)) for t in top.tables("trained", [])),
    )
    for table in (head, settings, protocol):
        table.done()
    top.done()
    if paper["seeds"] < 1:
        raise PaperError(f"{path}: settings.seeds must be at least 1")
    if path.stem != paper["id"]:
        raise PaperError(f"{path}: paper.id {paper['id']!r} must be the file's name ({path.stem!r})")
    return Paper(**paper)


def _source(t: _Table) -> Source:
    out = Source(t.get("key", str), t.get("citation", str), t.get("url", str, ""))
    t.done()
    return out


def _dataset(t: _Table) -> PaperDataset:
    out = PaperDataset(
        name=t.get("name", str), label=t.get("label", str), get=t.get("get", str), tasks=t.strings("tasks", None),
        options=t.get("options", dict, {}), frontends=t.strings("frontends", None),
        instead_of=t.get("instead_of", str, None), protocol_mark=t.get("protocol_mark", str, "≠", choices=("=", "≈", "≠")),
        protocol_note=t.get("protocol_note", str, ""))
    t.done()
    return out


def _published(t: _Table, sources: set[str]) -> list[Published]:
    """One ``[[published]]`` block: several front-ends' numbers read from one place, in one unit."""
    unit = t.get("unit", str, "fraction", choices=tuple(UNITS))
    scale = UNITS[unit]
    precision = t.get("precision", (int, float), None)
    if precision is not None and not (math.isfinite(precision) and precision > 0):  # inf: every gap "agrees"
        raise PaperError(f"{t.file}: {t.key('precision')} is {precision!r}, not a positive finite number")
    source = t.get("source", str)
    if source not in sources:
        raise PaperError(f"{t.file}: {t.key('source')} is {source!r}, not a key of [[sources]] ({sorted(sources)})")
    common = dict(dataset=t.get("dataset", str), weights=t.get("weights", str, "random"), backend=t.get("backend", str),
                  # the metric a task type ranks on: the one rwbench's cell shows beside it
                  metric=t.get("metric", str, "accuracy", choices=PRIMARY_METRICS),
                  where=t.get("where", str, choices=WHERE),
                  precision=None if precision is None else precision / scale, source=source, note=t.get("note", str, ""))
    values = t.table("values")
    if not values.data:  # a block of no numbers: a row of the paper lost without a word
        raise PaperError(f"{t.file}: {t.key('values')} is empty; give the front-ends' numbers or remove the block")
    if unit == "percent" and (small := [k for k, v in values.data.items() if isinstance(v, (int, float)) and 0 < v <= 1]):
        raise PaperError(f"{t.file}: {', '.join(values.key(k) for k in small)} in (0, 1] under unit = \"percent\": a "
                         "fraction? (0.5 percent is half of one percent, below chance on any task here); write it as "
                         "a percent, or set unit = \"fraction\" for a block of fractions")
    out = []
    for frontend in list(values.data):
        value = values.get(frontend, (int, float))
        if not math.isfinite(value) or not 0 <= value / scale <= 1:
            raise PaperError(f"{t.file}: {values.key(frontend)} is {value!r}, not a score in [0, 1] {unit}")
        out.append(Published(frontend=frontend, value=value / scale, **common))
    values.done()
    t.done()
    return out


def _not_found(t: _Table) -> NotFound:
    out = NotFound(t.get("dataset", str), t.get("frontend", str), t.get("weights", str, "random"),
                   t.get("backend", str), t.get("what", str))
    t.done()
    return out


def _check_rows(paper: Paper) -> None:
    """Every published (or not-found) row is one the paper runs: its dataset, front-end on that dataset, weights
    and backend (``trained`` rows: backend ``head`` and a ``[[trained]]`` entry); no row twice."""
    seen: set[tuple] = set()
    trained = {t.frontend for t in paper.trained}
    names = [d.name for d in paper.datasets]
    if twice := sorted({n for n in names if names.count(n) > 1}):  # every row would be shown twice
        raise PaperError(f"{paper.file}: datasets: {', '.join(map(repr, twice))} has two [[datasets]] entries; keep one")
    for name in names:  # one cell scale per dataset: its task's metric
        if len(metrics := sorted({p.metric for p in paper.published if p.dataset == name})) > 1:
            raise PaperError(f"{paper.file}: the published numbers of {name!r} are in {' and '.join(metrics)}: a "
                             "dataset's numbers are all in its task's metric")
    for kind, items in (("published", paper.published), ("not_found", paper.not_found)):
        for i, item in enumerate(items):
            where = f"{paper.file}: {kind}[{i}] ({'/'.join(item.row)})"
            if item.dataset not in names:
                raise PaperError(f"{where}: dataset {item.dataset!r} is not one of the paper's {names}")
            runs = paper.frontends_on(paper.dataset(item.dataset))
            if item.weights == "trained":
                if item.backend != "head" or item.frontend not in trained:
                    raise PaperError(f"{where}: a trained row needs backend 'head' and a [[trained]] entry for "
                                     f"{item.frontend!r}")
            elif item.frontend not in runs or item.backend not in paper.backends or item.weights not in paper.weights:
                raise PaperError(f"{where}: not a row the paper runs (front-ends {list(runs)}, backends "
                                 f"{list(paper.backends)}, weights {list(paper.weights)})")
            if item.row in seen:
                raise PaperError(f"{where}: this row has two published entries")
            seen.add(item.row)
    for d in paper.datasets:
        if d.instead_of is not None and d.instead_of not in [x.name for x in paper.datasets]:
            raise PaperError(f"{paper.file}: dataset {d.name!r}: instead_of {d.instead_of!r} is not a dataset of the paper")


def check_registered(paper: Paper) -> None:
    """Every front-end, dataset (and task), backend and grid the paper names exists in rwbench's registries."""
    from .backends import BACKENDS, GRID_NAMES
    from .datamodel import DATASETS
    from .frontend import FRONTENDS, offers

    def lookup(registry, name: str, key: str):
        try:
            return registry.get(name)
        except RwbenchError as err:
            raise PaperError(f"{paper.file}: {key}: {err}") from None

    for name in paper.backends:
        lookup(BACKENDS, name, "backends")
    if paper.grid not in GRID_NAMES:
        raise PaperError(f"{paper.file}: settings.grid {paper.grid!r} is not one of {list(GRID_NAMES)}")
    fronts = {name: lookup(FRONTENDS, name, "frontends") for d in paper.datasets for name in paper.frontends_on(d)}
    fronts.update({t.frontend: lookup(FRONTENDS, t.frontend, "trained") for t in paper.trained})
    _check_trained(paper, FRONTENDS)
    for tag in paper.weights:
        if not any(offers(spec, tag) or not spec.is_learnable() for spec in fronts.values()):
            raise PaperError(f"{paper.file}: settings.weights: no front-end of the paper offers weights {tag!r}")
    numbered = {item.dataset for item in (*paper.published, *paper.not_found)}
    for d in paper.datasets:
        spec = lookup(DATASETS, d.name, f"datasets ({d.name})")
        for task in d.tasks or ():
            if task not in spec.tasks:
                raise PaperError(f"{paper.file}: datasets ({d.name}): task {task!r} is not one of {list(spec.tasks)}")
        tasks = d.tasks or (spec.tasks if spec.default_tasks is None else spec.default_tasks)
        if d.name in numbered and len(tasks) > 1:  # [[published]] names no task: its number would sit beside each
            raise PaperError(f"{paper.file}: datasets ({d.name}): its published numbers are of one task; set tasks = "
                             f"[...] to one of {list(tasks)}")
    for item in (*paper.published, *paper.not_found):
        spec = fronts.get(item.frontend)  # None: not a front-end the paper runs (said by _check_rows)
        if spec is not None and item.weights != "trained" and spec.is_learnable() and not offers(spec, item.weights):
            raise PaperError(f"{paper.file}: front-end {item.frontend!r} does not offer weights {item.weights!r}")
        # a weight-free front-end (MFCC) runs once, under the first tag: a number filed under another is never shown
        if spec is not None and not spec.is_learnable() and item.weights not in ("trained", paper.weights[0]):
            raise PaperError(f"{paper.file}: {item.frontend!r} has no weights and its rows are those of "
                             f"settings.weights' first tag: give its number weights = {paper.weights[0]!r} (it has "
                             f"{item.weights!r}{', the default' if item.weights == 'random' else ''})")


def _check_trained(paper: Paper, registry) -> None:
    """Each ``[[trained]]`` entry: a front-end with weights to train, named once (its command is read by
    ``rwbench train``'s parser before any work: :func:`rwbench.reproduce_cli.check_trained_commands`)."""
    seen: set[str] = set()
    for i, t in enumerate(paper.trained):
        where = f"{paper.file}: trained[{i}] ({t.frontend})"
        if t.frontend in seen:
            raise PaperError(f"{where}: a second [[trained]] entry for {t.frontend!r}; keep one (its row is one row)")
        seen.add(t.frontend)
        if not registry.get(t.frontend).is_learnable():
            raise PaperError(f"{where}: {t.frontend!r} has no weights to train; remove the entry")


# -- the shipped papers ---------------------------------------------------------------------------------
def paper_files() -> dict[str, Path]:
    """The shipped paper files by id."""
    folder = resources.files("rwbench") / "papers"
    return {Path(str(f)).stem: Path(str(f)) for f in folder.iterdir() if str(f).endswith(".toml")}


def find_paper(name: str) -> Paper:
    """A shipped paper by id (``pons2019``), or the paper file at a path (``my-study.toml``)."""
    files = paper_files()
    if name.endswith(".toml") or "/" in name:
        path = Path(name).expanduser()
        shipped = files.get(path.stem)
        if shipped is not None and path.resolve() != Path(shipped).resolve():
            raise PaperError(f"{path}: {path.stem!r} is the id of a shipped paper, and its record "
                             f"(reproduce/{path.stem}.json) would be taken for that paper's; rename the file and "
                             f"its paper.id")
        return read_paper(path)
    if name not in files:
        raise UnknownNameError("paper", name, sorted(files))
    return read_paper(files[name])
