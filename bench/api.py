"""rwbench from Python: what the CLI does, as functions a notebook calls (re-exported by ``rwbench``).

>>> import rwbench
>>> board = rwbench.run("synthetic", frontends=["sample_level", "mfcc"], backends=["elm"], results="results")
>>> board[["frontend", "backend", "accuracy_mean", "ci_low", "ci_high"]]

Each function validates its arguments as the CLI does (an unknown name is an error listing the known ones) and
writes the same files: results, cache and leaderboard are the CLI's, so the two can be mixed freely. (The names
differ from the modules ``rwbench.analysis.leaderboard`` / ``rwbench.evaluate``, which an attribute would shadow.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from .choices import DEFAULT_BACKENDS, DEFAULT_FRONTENDS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from .datamodel import Dataset
    from .folds import FoldResult
    from .frontend import Embedder, Pooling


def _names(value: str | Sequence[str]) -> str:
    return value if isinstance(value, str) else ",".join(value)


def load_dataset(name: str, root: str | Path | None = None, *, tasks: Sequence[str] | None = None,
                 **options) -> list[Dataset]:
    """The registered dataset ``name`` read from ``root`` with its official protocol, one :class:`Dataset` per
    task (``tasks``: some of them); ``options`` are the loader's (``rwbench list datasets``)."""
    from .cli_args import load_registered
    from .datamodel import DATASETS
    from .guards import literal, typed_option

    if isinstance(tasks, str):  # "a,b", as --tasks
        tasks = tasks.split(",")
    spec = DATASETS.get(name)
    # text typed as --dataset-option's is (n_per_class="6": 6; classes="dog,cat": names, never a string's characters)
    options = {key: typed_option(spec.name, spec.build, key, literal(value), value) if isinstance(value, str) else value
               for key, value in options.items()}
    return load_registered(spec, None if root is None else Path(root), list(tasks) if tasks else None, options)


def run(dataset: str | Dataset | Sequence[Dataset] = "synthetic", *, root: str | Path | None = None,
        frontends: str | Sequence[str] = DEFAULT_FRONTENDS, backends: str | Sequence[str] = DEFAULT_BACKENDS,
        results: str | Path = "results", seeds: int | Sequence[int] = 1, weights: str | Sequence[str] = ("random",),
        tasks: Sequence[str] | None = None, **options) -> pd.DataFrame:
    """``rwbench run``: embed ``dataset`` (a registered name read from ``root``, or datasets from
    :func:`load_dataset`, one or a list) with each front-end, evaluate each backend by nested CV, write the result
    files under ``results`` and return the leaderboard of those datasets. ``frontends``/``backends``: names or
    wildcards; ``seeds``: a count or a list; ``options``: the other fields of :class:`rwbench.pipeline.RunOptions`
    (``width``, ``device``, ``pooling``, ``layers`` (as ``--layers``, or a list of layer sets), ``grid``, ``n_jobs``,
    ``cache_dir``, ``skip_bad_audio`` …), and for a registered dataset its loader's: ``partial=True`` and
    ``dataset_options={...}`` (``--dataset-option``)."""
    from .analysis.leaderboard import load
    from .backends import BACKENDS
    from .cli_args import check_loader_keys, loader_flags, writable_folder
    from .datamodel import DATASETS, Dataset
    from .errors import RwbenchError
    from .frontend import FRONTENDS
    from .pipeline import RunOptions
    from .pipeline import run as run_pipeline

    if isinstance(dataset, Dataset):  # one dataset object, as load_dataset's list holds them
        dataset = [dataset]
    if not isinstance(dataset, str):
        dataset = list(dataset)
        given = [name for name, value in (("root", root), ("tasks", tasks), ("partial", options.get("partial")),
                                          ("dataset_options", options.get("dataset_options"))) if value]
        if given:
            raise RwbenchError(f"{', '.join(given)}: options of a registered dataset's loader; datasets given as "
                               "objects are loaded already (pass them to rwbench.load_dataset)")
        if not dataset:
            raise RwbenchError("no dataset given")
    for folder, name in ((results, "results"), (options.get("cache_dir"), "cache_dir")):
        if folder is not None:
            writable_folder(Path(folder), name)
    layers = options.get("layers")
    if layers is not None and not isinstance(layers, str):  # a list of layer sets, as --layers 'a+b,c' separates them
        if isinstance(layers, Sequence) and layers and all(isinstance(s, str) for s in layers):
            options["layers"] = ",".join(layers)
        else:
            raise RwbenchError(f"layers {layers!r}: give default, each, all, layer sets like 'a+b,c', or a list of sets")
    loader = dict(options.pop("dataset_options", None) or {})  # as given: check_duplicates=False is an option too
    check_loader_keys(loader)
    partial = options.pop("partial", False)
    if isinstance(dataset, str):  # the run's flags and the loader's, as in the CLI
        loader.update(loader_flags(DATASETS.get(dataset), skip_bad_audio=options.get("skip_bad_audio", False),
                                   partial=partial))
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise RwbenchError(f"seeds {seeds}: a count takes at least 1 (or give a list of seeds)")
        seeds = range(seeds)
    elif isinstance(seeds, (str, bool)) or not isinstance(seeds, Sequence):
        raise RwbenchError(f"seeds {seeds!r}: give a count (3: seeds 0, 1, 2) or a list of seeds")
    datasets = load_dataset(dataset, root, tasks=tasks, **loader) if isinstance(dataset, str) else list(dataset)
    unknown = sorted(set(options) - {f.name for f in fields(RunOptions)} - {"results_dir"})
    if unknown or "results_dir" in options:  # a TypeError from the dataclass otherwise
        raise RwbenchError(f"rwbench.run: unknown option(s) {unknown or ['results_dir (give results=)']}; it takes "
                           f"the fields of rwbench.pipeline.RunOptions: "
                           f"{', '.join(sorted(f.name for f in fields(RunOptions) if f.name != 'results_dir'))}")
    opts = RunOptions(results_dir=Path(results), seeds=list(seeds),
                      weights=[weights] if isinstance(weights, str) else list(weights), **options)
    run_pipeline(datasets, FRONTENDS.select(_names(frontends)), BACKENDS.select(_names(backends)), opts)
    return load(opts.results_dir, datasets=[d.key for d in datasets])


def load_results(results: str | Path = "results", *, task_type: str | None = None, strict: bool = False,
                test: str = "auto") -> pd.DataFrame:
    """``rwbench leaderboard``: every result file under ``results`` as one table (one row per dataset, front-end,
    width, weights and backend), with its statistics (``test``: ``folds``, ``clips`` or ``auto``)."""
    from .analysis.leaderboard import load

    return load(Path(results), strict=strict, task=task_type, regime=_regime(test))


def _regime(test: str) -> str:
    """``test`` checked as ``--test`` is (a ValueError from deep in the statistics otherwise)."""
    from .choices import REGIMES
    from .errors import RwbenchError

    if test not in REGIMES:
        raise RwbenchError(f"test {test!r} is not one of {list(REGIMES)}")
    return test


def compare(results: str | Path = "results", *, random: str = "random", trained: str = "trained",
            backend: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``rwbench compare``: (front-ends ranked by their ``random`` and ``trained`` rows side by side, the rank
    correlations per dataset and backend: ρ, τ, p, intervals, null rankings)."""
    from .analysis.ranking import comparison

    return comparison(load_results(results), random, trained, backend)


def compare_rows(results: str | Path, a: str, b: str, *, test: str = "auto") -> list[dict]:
    """``rwbench compare A B``: rows ``a`` and ``b`` (``FRONTEND[@WIDTH][:WEIGHTS[:BACKEND]]``, e.g. ``piczak:trained:head``)
    paired on every dataset that has both — per dataset a dict of the blocks' scores, ``mean_difference``,
    ``wins``/``ties``/``losses``, the ``test`` and its ``p``, and the paired bootstrap interval of the difference
    (``bootstrap_ci_low``/``_high``, drawn as ``bootstrap_over`` says), the seeds of each row (``a_seeds``,
    ``b_seeds``) and the result files left out as not valid (``left_out``). ``test``: ``folds``, ``clips`` or
    ``auto``."""
    from .analysis.leaderboard import pair_comparisons, read_results

    regime = _regime(test)
    records, invalid = read_results(Path(results))
    return pair_comparisons(records, a, b, regime, invalid)


def embedder(frontend: str, *, width: str | int = "small", weights: str = "random", seed: int = 0,
             pooling: Pooling = "mean", init: str | None = None) -> Embedder:
    """A front-end instance as a torch module: waveforms ``(batch, samples)`` at its ``spec.sample_rate`` →
    pooled clip embeddings ``(batch, dim)``, as ``rwbench embed`` computes them (clips shorter than the network's
    minimum lengthened by its rule; always in evaluation mode: :class:`~rwbench.frontend.FrozenEmbedder`).
    ``init``: the distribution random weights are drawn from (``rwbench.frontend.INITS``; default the front-end's
    own)."""
    from .frontend import FRONTENDS, FrozenEmbedder

    return FrozenEmbedder(FRONTENDS.get(frontend), width=width, weights=weights, seed=seed, pooling=pooling, init=init)


def cross_validate(features: np.ndarray, labels: np.ndarray, dataset: Dataset, *, backend: str = "svm", seed: int = 0,
             n_jobs: int | None = None) -> list[FoldResult]:
    """Nested CV of ``backend`` on your own ``features`` (one row per clip of ``dataset``, in its clip order) under
    the dataset's protocol: the outer folds' test scores (never the selection score)."""
    import numpy as np

    from .backends import BACKENDS
    from .errors import RwbenchError
    from .evaluate import nested_cv
    from .frontend import checked_seed
    from .guards import checked
    from .options import check_n_jobs

    checked(dataset, partial=bool(dataset.info.get("partial")))  # its classes and folds, as a run checks them
    features, labels = np.asarray(features), np.asarray(labels)
    seed = checked_seed(seed)
    check_n_jobs(n_jobs)
    if features.ndim != 2 or features.shape[1] == 0 or features.dtype.kind not in "iuf":
        raise RwbenchError(f"features must be numbers of shape (clips, dimensions), dimensions > 0; got {features.dtype} "
                           f"of shape {features.shape}")
    if len(features) != len(dataset.clips) or len(labels) != len(dataset.clips):
        raise RwbenchError(f"{dataset.key} has {len(dataset.clips)} clips; features have {len(features)} rows and "
                           f"labels {len(labels)}: give one of each per clip, in the dataset's clip order")
    if not np.isfinite(features).all():
        rows = np.flatnonzero(~np.isfinite(features).all(axis=1))
        raise RwbenchError(f"features of {len(rows)} clip(s) are not finite (rows {rows[:5].tolist()}"
                           f"{' …' if len(rows) > 5 else ''}): a backend would fail or score them by a guess")
    if labels.dtype.kind == "O" and all(isinstance(v, str) for v in labels.ravel()):  # a pandas column of names
        labels = labels.astype(str)
    if labels.dtype.kind in "US":  # class names, as dataset.classes spells them
        unknown = sorted(set(labels) - set(dataset.classes))
        if unknown:
            raise RwbenchError(f"labels {unknown[:3]} are not classes of {dataset.key} ({', '.join(dataset.classes)})")
        labels = np.array([dataset.classes.index(name) for name in labels])
    own = np.asarray(dataset.labels)
    if labels.shape != own.shape:
        raise RwbenchError(f"labels of shape {labels.shape}; {dataset.key}'s are {own.shape} (dataset.labels)")
    if not np.array_equal(labels, own):
        wrong = int((labels != own).reshape(len(own), -1).any(axis=1).sum())
        raise RwbenchError(f"labels differ from {dataset.key}'s own in {wrong} clip(s): its folds are drawn and scored "
                           "with its labels, in its clip order (give dataset.labels; another task needs a dataset of "
                           "its own, rwbench.register_dataset)")
    return nested_cv(features, labels, dataset.splits(), BACKENDS.get(backend), seed=seed,
                     n_classes=len(dataset.classes), n_jobs=n_jobs, task=dataset.kind)
