"""The public Python API (``rwbench.api``, re-exported by ``rwbench``): the README's notebook cell runs as written
and agrees with the files it wrote; ``import rwbench`` stays light."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rwbench

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_the_readme_notebook_cell_runs_and_its_cross_validation_matches_the_stored_row(tmp_path, monkeypatch, capsys):
    (cell,) = re.findall(r"```python\n(# notebook: .*?)```", README.read_text(), re.S)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(cell, "README.md notebook cell", "exec"), scope)
    board, folds = scope["board"], scope["folds"]
    assert set(board["frontend"]) == {"my_net", "logmel_stats"} and set(board["backend"]) == {"logreg"}
    (stored,) = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("my_net__*logreg.json")]
    assert [f.accuracy for f in folds] == pytest.approx([f["accuracy"] for f in stored["folds"]], abs=1e-12)
    assert [f.best_params for f in folds] == [f["best_params"] for f in stored["folds"]]
    row = board[board["frontend"] == "my_net"].iloc[0]
    assert row["accuracy_mean"] == pytest.approx(np.mean([f.accuracy for f in folds]), abs=1e-4)
    assert rwbench.load_results(tmp_path / "results").shape[0] == len(board)
    assert "my_net" in capsys.readouterr().out
    from rwbench.check import check_frontend  # the cell's front-end is a valid plugin (declared minimum input too)

    failed = [r for r in check_frontend(rwbench.frontend.FRONTENDS.get("my_net")) if not r.passed]
    assert not failed, failed


def test_cross_validate_refuses_features_that_do_not_match_the_clips():
    (timbre,) = rwbench.load_dataset("synthetic", tasks=["timbre"])
    with pytest.raises(rwbench.errors.RwbenchError, match=r"has 150 clips; features have 3 rows"):
        rwbench.cross_validate(np.zeros((3, 4)), timbre.labels, timbre)
    features = np.random.default_rng(0).normal(size=(len(timbre.clips), 4))
    with pytest.raises(rwbench.errors.RwbenchError, match=r"labels differ from synthetic/timbre's own in \d+ clip"):
        rwbench.cross_validate(features, np.random.default_rng(1).permutation(timbre.labels), timbre)
    names = [timbre.classes[i] for i in timbre.labels]  # class names, as the dataset spells them, are read as its labels
    by_name = rwbench.cross_validate(features, names, timbre, backend="logreg")
    assert [f.accuracy for f in by_name] == [f.accuracy for f in rwbench.cross_validate(features, timbre.labels, timbre,
                                                                                         backend="logreg")]


def test_import_rwbench_is_light_and_names_its_api():
    code = "import sys, rwbench; print(sorted(m for m in ('torch', 'pandas', 'sklearn') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
    assert {"run", "load_results", "compare", "load_dataset", "embedder", "cross_validate", "register_frontend",
            "register_dataset", "register_backend", "register_task_type"} <= set(rwbench.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        rwbench.nothing  # noqa: B018


@pytest.mark.parametrize("old, new, names", [
    ("dataset", "datamodel", ["register_dataset", "DATASETS", "Dataset", "Clip"]),
    ("weights", "weight_packs", ["register_weight_pack", "WEIGHT_PACKS", "fetch", "listing", "WeightsError"]),
])
def test_a_renamed_module_still_imports_under_its_old_name_with_a_deprecation_warning(old, new, names):
    code = (f"import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
            f"try:\n    import rwbench.{old}\nexcept DeprecationWarning as w:\n    print(w)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert f"rwbench.{old} is now rwbench.{new}" in shown
    import importlib

    with pytest.warns(DeprecationWarning):
        before = importlib.reload(importlib.import_module(f"rwbench.{old}"))
    after = importlib.import_module(f"rwbench.{new}")
    assert all(getattr(before, name) is getattr(after, name) for name in names)


def test_the_package_exports_what_a_dataset_plugin_needs():
    import rwbench.datamodel as datamodel

    assert rwbench.Dataset is datamodel.Dataset and rwbench.Clip is datamodel.Clip
    assert rwbench.register_dataset is datamodel.register_dataset


PLUGIN = '''
from torch import nn
from rwbench.frontend import register_frontend
K = 64


class TwoLayer(nn.Module):
    def __init__(self, filters):
        super().__init__()
        self.conv1 = nn.Conv1d(1, filters, K, stride=64)
        self.conv2 = nn.Conv1d(filters, filters, 3, padding=1)

    def forward(self, x):
        a = self.conv1(x).relu()
        return [a, self.conv2(a).relu()]


@register_frontend(name="two_layer", input_kind="waveform", sample_rate=16000, widths={"small": 4, "paper": 64},
                   feature_dim=lambda nf: 2 * nf, feature_layers=("conv1", "conv2"), min_input=256, source="a lab")
def two_layer(filters):
    return TwoLayer(filters)
'''


def test_a_row_whose_seeds_two_versions_of_a_plugin_computed_is_named_not_comparable(tmp_path):
    """Seeds 0 and 1 run, the plugin edited (K 64 → 128: the same parameter count's shape differs, and so does the
    network), then seed 0 alone rerun: the leaderboard pooled both networks in one row as seed noise."""
    plugin = tmp_path / "my_frontend.py"
    plugin.write_text(PLUGIN)
    common = ["--plugin", str(plugin), "--results", str(tmp_path / "r")]

    def rwbench(*argv: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "rwbench.cli", *argv, *common], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done

    def run(seeds: str) -> None:
        rwbench("run", "--frontends", "two_layer", "--tasks", "timbre", "--backends", "logreg", "--seeds", seeds,
                "--dataset-option", "n_per_class=5", "--dataset-option", "seconds=0.5", "--workers", "0",
                "--cache", str(tmp_path / "cache"), "-q")

    run("2")
    assert "different networks" not in rwbench("leaderboard").stderr
    plugin.write_text(PLUGIN.replace("K = 64", "K = 128"))
    run("1")
    board = rwbench("leaderboard", "--format", "json").stdout
    (line,) = json.loads(board)["metadata"]["not_comparable"]
    assert "two_layer random logreg: its seeds were computed by different networks (seed 0: version" in line
    assert line.count("code ") == 2


def test_a_plugin_edited_in_place_is_embedded_again_not_read_from_the_cache(tmp_path):
    import subprocess
    import sys

    plugin = tmp_path / "my_frontend.py"
    plugin.write_text(PLUGIN)
    command = [sys.executable, "-m", "rwbench.cli", "embed", "--plugin", str(plugin), "--frontends", "two_layer",
               "--tasks", "timbre", "--dataset-option", "n_per_class=5", "--dataset-option", "seconds=0.5",
               "--workers", "0", "--cache", str(tmp_path / "cache"), "-q"]

    def embedded() -> set[str]:
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return {p.parent.name for p in (tmp_path / "cache").rglob("manifest.json")}

    first = embedded()
    assert embedded() == first  # unchanged: the cache is reused
    plugin.write_text(PLUGIN.replace("K = 64", "K = 128"))  # the same dims, another network
    assert len(embedded() - first) == 1, "the edited plugin's embeddings are computed again, under a new key"
    # its network's class in a module of its own: only the registering file was hashed, so an edit there read
    # the old network's embeddings from the cache
    layers, (head, tail) = tmp_path / "my_layers.py", PLUGIN.split("\n\n@register_frontend")
    layers.write_text(head.replace("from rwbench.frontend import register_frontend\n", ""))
    plugin.write_text("from rwbench.frontend import register_frontend\nfrom my_layers import TwoLayer\n\n"
                      "@register_frontend" + tail)
    second = embedded()
    assert embedded() == second
    layers.write_text(layers.read_text().replace("K = 64", "K = 32"))
    assert len(embedded() - second) == 1, "an edit of the module the network's class is in is another key"


def test_the_api_embedder_stays_in_eval_mode_lengthens_short_clips_and_refuses_bad_shapes():
    import torch

    import rwbench
    from rwbench.errors import RwbenchError

    net = rwbench.embedder("samplecnn", seed=0)
    clips = torch.randn(4, net.spec.min_samples())
    before = net(clips)
    net.train()  # a harness fitting a probe on a frozen upstream sets its whole tree to train mode
    assert not net.training and torch.equal(net(clips), before)  # batch norm kept its running statistics
    torch.testing.assert_close(net(clips[:1]), before[:1])  # and the batch does not matter (float noise aside)
    mfcc = rwbench.embedder("mfcc")
    short = torch.randn(1, 1000)  # under mfcc's 2048 samples: repeat-padded as `rwbench embed` does, never NaN
    assert torch.isfinite(mfcc(short)).all()
    assert torch.equal(mfcc(short), mfcc(short.repeat(1, 3)[:, :2048]))
    for bad in (torch.randn(1000), torch.zeros(2, 0)):
        with pytest.raises(RwbenchError, match="waveforms must be"):
            mfcc(bad)
    with pytest.raises(RwbenchError, match=r"seeds are integers from 0 to 2\^31"):
        rwbench.embedder("mfcc", seed=-1)


def test_the_api_run_has_the_commands_defaults():
    import inspect

    import rwbench
    from rwbench.cli import build_parser

    run = inspect.signature(rwbench.run).parameters
    args = build_parser().parse_args(["run"])
    assert (run["frontends"].default, run["backends"].default) == (args.frontends, args.backends)


def test_an_already_pooled_layer_of_a_learnable_front_end_is_as_wide_as_declared_under_mean_std():
    import torch

    from rwbench.frontend import Embedder, FrontendSpec

    class Flat(torch.nn.Module):
        def __init__(self, filters):
            super().__init__()
            self.conv = torch.nn.Conv1d(1, filters, 64, stride=32)
            self.fc = torch.nn.Linear(filters, filters)

        def forward(self, x):
            a = self.conv(x).relu()
            return [a, self.fc(a.mean(-1))]  # the second layer is (batch, channels) already

    spec = FrontendSpec(name="flat_test", build=Flat, input_kind="waveform", sample_rate=16000,
                        widths={"small": 6, "paper": 12}, feature_dim=lambda nf: 2 * nf,
                        feature_layers=("conv", "fc"), min_input=64, source="a test")
    out = Embedder(spec, pooling="mean_std")(torch.randn(2, 1600))
    assert out.shape[1] == spec.dim("small", "mean_std") == 24
    assert torch.equal(out[:, 18:], torch.zeros(2, 6))  # the pooled layer's std over its one position


BACKEND_PLUGIN = '''
from sklearn.neighbors import KNeighborsClassifier

from rwbench.backends import register_backend, scaled


@register_backend(name="my_knn", grid=[{"clf__n_neighbors": [1, 3]}], description="k-NN from a lab")
def my_knn(seed):
    return scaled(KNeighborsClassifier())
'''


def test_a_plugin_keeps_its_code_hash_where_dask_sends_it_by_value(tmp_path, monkeypatch):
    """A Dask worker gets a plugin's backend and front-end pickled by value, with no source file to hash: the hash
    taken where the plugin was registered travels with the spec, so an edited plugin's result and embeddings get
    new keys under Dask as locally."""
    import subprocess
    import sys

    import cloudpickle

    from rwbench.backends import BACKENDS
    from rwbench.filehash import sha256_of
    from rwbench.frontend import FRONTENDS
    from rwbench.registry import load_plugin_file, plugin_module_name

    for registry in (BACKENDS, FRONTENDS):  # the plugins leave the registries as they were after the test
        registry.names()
        monkeypatch.setattr(registry, "_specs", dict(registry._specs))
    for name in ("lab_backend.py", "lab_frontend.py"):  # replaced by the import; removed after the test
        monkeypatch.setitem(sys.modules, plugin_module_name(tmp_path / name), None)
    (tmp_path / "lab_backend.py").write_text(BACKEND_PLUGIN)
    (tmp_path / "lab_frontend.py").write_text(PLUGIN.replace('name="two_layer"', 'name="lab_two_layer"'))
    load_plugin_file(tmp_path / "lab_backend.py")
    load_plugin_file(tmp_path / "lab_frontend.py")
    for module in [m for name, m in sys.modules.items() if name.startswith("rwbench_plugin_lab_")]:
        cloudpickle.register_pickle_by_value(module)
    specs = {"backend": BACKENDS.get("my_knn"), "frontend": FRONTENDS.get("lab_two_layer")}
    assert specs["backend"].code == sha256_of(tmp_path / "lab_backend.py")
    assert specs["frontend"].code == sha256_of(tmp_path / "lab_frontend.py")
    (tmp_path / "specs.pkl").write_bytes(cloudpickle.dumps(specs))
    worker = ("import pickle, sys; from rwbench.filehash import code_sha256; "
              "specs = pickle.load(open(sys.argv[1], 'rb')); "
              "print(*(f'{k} {s.code} {code_sha256(s.build)}' for k, s in specs.items()), sep='\\n')")
    done = subprocess.run([sys.executable, "-c", worker, str(tmp_path / "specs.pkl")], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path.parent)  # not beside the plugin files: nothing to import them by
    assert done.returncode == 0, done.stderr
    seen = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    for kind, spec in specs.items():  # the spec keeps the file's hash; the worker alone could only hash the value
        code, own = seen[kind].split()
        assert code == spec.code and own.startswith("value:")


def test_a_malformed_backend_grid_is_refused_where_it_is_registered():
    from rwbench.backends import BackendSpec
    from rwbench.errors import RwbenchError

    for grid in ({"clf__n_neighbors": [1, 3]}, [], [{"clf__n_neighbors": 3}], [{}]):
        with pytest.raises(RwbenchError, match=r"backend 'bad': grid must be a non-empty list of \{parameter: \[values\]\}"):
            BackendSpec(name="bad", build=lambda seed: None, grid=grid, description="")


def test_the_api_run_takes_the_loaders_options_as_the_command_does(tmp_path):
    """skip_bad_audio reaches the loader (it told the user to pass the very flag given), partial and the
    --dataset-option values are the loader's, not RunOptions' (a TypeError)."""
    from conftest import write_audio

    for label in ("cat", "dog", "owl"):
        for i in range(6):
            write_audio(tmp_path / "pets" / label / f"{label}{i}.wav", seconds=0.15)
    (tmp_path / "pets" / "dog" / "bad.wav").write_text("not audio\n")
    board = rwbench.run("folder", root=tmp_path / "pets", frontends="mfcc", backends="logreg", results=tmp_path / "r",
                        skip_bad_audio=True, partial=True, dataset_options={"k": 3, "seconds": 0.15},
                        device="cpu", workers=0)
    assert board["frontend"].tolist() == ["mfcc"] and board["skipped"].tolist() == [1]


def test_the_api_embedder_refuses_what_it_cannot_read_as_audio():
    """A numpy array, integer samples, an unknown pooling or a seed that is not a whole number: named at once, not a
    torch error from deep in a layer. float64 (numpy's default) is read as float32, as the embed stage reads audio."""
    import torch

    from rwbench.errors import RwbenchError

    timbral = rwbench.embedder("timbral")
    clips = torch.randn(2, timbral.spec.sample_rate)
    torch.testing.assert_close(timbral(clips.double()), timbral(clips))
    for bad, kind in ((clips.numpy(), "ndarray"), ((clips * 32767).short(), "torch.int16")):
        with pytest.raises(RwbenchError, match=f"float torch tensor .* at {timbral.spec.sample_rate} Hz, got {kind}"):
            timbral(bad)
    # int16 counts made float, and NaN / Inf samples: embedded 7 times off scale, or partly NaN, without a word
    nan, loud = clips.clone(), clips.clone()
    nan[1, 100] = float("nan")
    loud[0] *= 32767
    with pytest.raises(RwbenchError, match=r"timbral: sound 1 of the batch holds non-finite samples"):
        timbral(nan)
    with pytest.raises(RwbenchError, match=r"sound 0 of the batch holds a peak of .*refuses > 1000; int16 samples"):
        timbral(loud)
    with pytest.raises(RwbenchError, match="unknown pooling 'bogus'"):
        rwbench.embedder("mfcc", pooling="bogus")
    for seed in (1.5, True):
        with pytest.raises(RwbenchError, match=r"seeds are integers from 0 to 2\^31 − 1"):
            rwbench.embedder("mfcc", seed=seed)


def test_cross_validate_names_bad_features_labels_and_seeds():
    import pandas as pd

    from rwbench.errors import RwbenchError

    (timbre,) = rwbench.load_dataset("synthetic", tasks="timbre")  # one name, as --tasks timbre
    features = np.random.default_rng(0).normal(size=(len(timbre.clips), 4))
    with pytest.raises(RwbenchError, match=r"shape \(clips, dimensions\), dimensions > 0; got float64 of shape \(150,\)"):
        rwbench.cross_validate(features[:, 0], timbre.labels, timbre)
    with pytest.raises(RwbenchError, match=r"of shape \(150, 0\)"):
        rwbench.cross_validate(features[:, :0], timbre.labels, timbre)
    broken = features.copy()
    broken[[3, 7], 1] = np.nan
    with pytest.raises(RwbenchError, match=r"features of 2 clip\(s\) are not finite \(rows \[3, 7\]\)"):
        rwbench.cross_validate(broken, timbre.labels, timbre)
    with pytest.raises(RwbenchError, match=r"labels of shape \(150, 1\); synthetic/timbre's are \(150,\)"):
        rwbench.cross_validate(features, timbre.labels[:, None], timbre)
    with pytest.raises(RwbenchError, match="seed -1"):
        rwbench.cross_validate(features, timbre.labels, timbre, seed=-1)
    assert ([f.accuracy for f in rwbench.cross_validate(features, timbre.labels, timbre, backend="logreg",
                                                        seed=np.int64(0))]  # a notebook's np.arange seed
            == [f.accuracy for f in rwbench.cross_validate(features, timbre.labels, timbre, backend="logreg")])
    names = pd.Series([timbre.classes[i] for i in timbre.labels])  # a pandas column of class names (object dtype)
    assert ([f.accuracy for f in rwbench.cross_validate(features, names, timbre, backend="logreg")]
            == [f.accuracy for f in rwbench.cross_validate(features, timbre.labels, timbre, backend="logreg")])


def test_the_api_run_refuses_what_the_command_refuses(tmp_path):
    """Options the run would drop without a word (a hop without segments, a loader's options beside datasets already
    loaded, no dataset at all) are refused; folders given as str work, a file given as the results folder is named."""
    from rwbench.errors import RwbenchError

    loaded = rwbench.load_dataset("synthetic", tasks=["timbre"])
    common = dict(frontends="mfcc", backends="logreg", device="cpu", workers=0)
    with pytest.raises(RwbenchError, match="hop and aggregate need segment"):
        rwbench.run(loaded, results=tmp_path / "r", aggregate="majority", **common)
    with pytest.raises(RwbenchError, match="root, tasks: options of a registered dataset's loader"):
        rwbench.run(loaded, root=tmp_path, tasks=["timbre"], results=tmp_path / "r", **common)
    with pytest.raises(RwbenchError, match="no dataset given"):
        rwbench.run([], results=tmp_path / "r", **common)
    (tmp_path / "file").write_text("")
    with pytest.raises(RwbenchError, match="results '.*file' is a file, not a folder"):
        rwbench.run(loaded, results=tmp_path / "file", **common)
    board = rwbench.run(loaded, results=str(tmp_path / "r"), cache_dir=str(tmp_path / "cache"), **common)
    assert board["frontend"].tolist() == ["mfcc"] and any((tmp_path / "cache").rglob("*.npy"))


@pytest.mark.parametrize(("option", "match"), [
    ({"seeds": "3"}, r"seeds '3': give a count \(3: seeds 0, 1, 2\) or a list of seeds"),  # a TypeError
    ({"seeds": 0}, r"seeds 0: a count takes at least 1"),  # said as "seeds []"
    ({"seeds": ["1"]}, r"seeds \['1'\] must be distinct integers from 0 to 2\^31 − 1"),
    # 2^32 + 5 drew seed 5's network: one network counted as two seeds, their spread 0
    ({"seeds": [5, 2**32 + 5]}, r"seeds \[5, 4294967301\] must be distinct integers from 0 to 2\^31 − 1"),
    ({"seeds": 1001}, r"1001 seeds: at most 1000 in one run"),
    ({"width": "8x"}, r"width takes small, paper \(or a front-end's own width name\) or a filter count from 1 to "
                      r"1048576, got '8x'"),
    ({"width": True}, r"width takes small, paper .* got True"),  # read as 1 filter
    ({"dataset_options": {"root": "/tmp"}}, r"dataset option root is not a loader option; use --data-root \(root=\)"),
    ({"segment": "1"}, r"segment '1' must be a positive number of seconds"),  # a TypeError deep in
    ({"bogus": 1}, r"rwbench.run: unknown option\(s\) \['bogus'\]"),  # a TypeError from the dataclass
    ({"results_dir": "x"}, r"unknown option\(s\) \['results_dir \(give results=\)'\]"),
    ({"n_jobs": "2"}, r"n_jobs '2' must be a positive count, or -1"),  # a TypeError
    ({"force": "no"}, r"force takes True or False, got 'no'"),  # truthy: it forced
    ({"progress": 1}, r"progress takes True or False, got 1"),
])
def test_the_api_run_checks_its_options_types_as_the_command_does(tmp_path, option, match):
    from rwbench.errors import RwbenchError

    with pytest.raises(RwbenchError, match=match):
        rwbench.run("synthetic", tasks=["timbre"], frontends="mfcc", backends="logreg", results=tmp_path / "r",
                    device="cpu", workers=0, **option)
    assert not (tmp_path / "r" / "runs").exists()


def test_the_api_spells_a_width_once_and_skips_bad_audio_of_a_generated_dataset_as_the_command(tmp_path):
    """width="08" beside width=8 made two rows of one network; skip_bad_audio=True on the synthetic data was refused
    as a loader option the command does not pass it."""
    common = dict(tasks=["timbre"], frontends="strided_256_256", backends="logreg", results=tmp_path / "r",
                  device="cpu", workers=0, dataset_options={"n_per_class": 5, "seconds": 0.5})
    for width in (8, "08", "8"):
        board = rwbench.run("synthetic", width=width, skip_bad_audio=True, **common)
    assert len(board) == 1 and board["width"].tolist() == ["8"]
    from rwbench.options import normal_width  # a plugin's own width name passes to its front-end's widths

    assert normal_width("large") == "large" and normal_width(8) == normal_width("008") == "8"
    assert [p.name.split("__")[1] for p in (tmp_path / "r" / "runs").rglob("*.json")] == ["8"]


def test_load_dataset_reads_option_text_as_the_command_does():
    """n_per_class="6" was refused as "takes an integer, got '6'" (the command's --dataset-option n_per_class=6 works)."""
    (dataset,) = rwbench.load_dataset("synthetic", tasks=["timbre"], n_per_class="6")
    assert len(dataset.clips) == 6 * len(dataset.classes)
    assert rwbench.load_dataset("synthetic", tasks=["timbre"], n_per_class=6)[0].fingerprint() == dataset.fingerprint()


def test_a_dataset_plugin_whose_load_audio_returns_no_mono_float_audio_is_named(tmp_path):
    """Stereo (channels, samples) was padded into a (samples, 2·samples) matrix (gigabytes), integers reached the
    network, nothing failed with a reduction error naming no clip: each is now the clip's error, naming the loader."""
    from rwbench.clips import mono_float
    from rwbench.errors import DataError

    (timbre,) = rwbench.load_dataset("synthetic", tasks=["timbre"])
    clip = timbre.clips[0]
    for audio in (np.zeros((2, 800), np.float32), np.zeros(800, np.int16), np.zeros(0, np.float32)):
        with pytest.raises(DataError, match=f"load_audio returned {audio.dtype} audio of shape {re.escape(str(audio.shape))}"):
            mono_float(audio, timbre, clip)
    assert mono_float(np.zeros(800), timbre, clip).dtype == np.float32
    # floats on the int16 scale (a loader that forgot to divide by 32768) and NaN: named as a file's would be
    with pytest.raises(DataError, match=r"load_audio returned audio peaking at 1\.82e\+04: not audio on any sane"):
        mono_float(np.full(800, 18200.0, np.float32), timbre, clip)
    with pytest.raises(DataError, match=r"load_audio returned 1 non-finite sample\(s\)"):
        mono_float(np.array([0.1, np.nan, 0.2], np.float32), timbre, clip)
    assert mono_float(np.full(8, 1.9), timbre, clip).max() == np.float32(1.9)  # loud float audio is audio
    timbre.load_audio = lambda clip, rate: np.zeros((2, 16000), np.float32)  # a plugin's loader gone stereo
    with pytest.raises(DataError, match=r"SyntheticDataset.load_audio returned float32 audio of shape \(2, 16000\)"):
        rwbench.run([timbre], results=tmp_path / "r", frontends="mfcc", backends="logreg", device="cpu", workers=0)


NOTEBOOK = '''
import sys, torch
from torch import nn
import rwbench

class MyNet(nn.Module):
    def __init__(self, filters):
        super().__init__()
        self.conv = nn.Conv1d(1, filters, 64, stride=32)

    def forward(self, x):
        return [torch.relu(self.conv(x))]

@rwbench.register_frontend(name="nb_net", input_kind="waveform", sample_rate=8000, widths={"small": 8, "paper": 16},
                           feature_dim=lambda nf: nf, feature_layers=("conv",), source="a notebook cell",
                           min_input=128)
def my_net(filters):
    return MyNet(filters)
common = dict(tasks=["timbre"], frontends="nb_net", backends="logreg", results=sys.argv[1] + "/r",
              cache_dir=sys.argv[1] + "/c", device="cpu", workers=0, dataset_options={"n_per_class": 5, "seconds": 0.5})
rwbench.run("synthetic", **common)

class MyNet(nn.Module):  # the cell run again with another network, the factory not registered again
    def __init__(self, filters):
        super().__init__()
        self.conv = nn.Conv1d(1, filters, 128, stride=16)

    def forward(self, x):
        return [torch.abs(self.conv(x))]

rwbench.run("synthetic", **common)
'''


def test_a_notebook_class_redefined_after_registering_is_keyed_as_the_new_network(tmp_path):
    """The factory's value hash was taken once, at registration: the second run, on a redefined class, read the
    first network's cache and results as its own."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-", str(tmp_path)], input=NOTEBOOK, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "c").rglob("manifest.json"))) == 2  # two networks, two cache entries


NOTEBOOK_HELPERS = '''
import sys, torch
from torch import nn
import rwbench

STRIDE = 32
SEEN = []  # a mutable global the network appends to: not another network


def act(x):
    return torch.relu(x)


class HelpedNet(nn.Module):
    GAIN = 1.0  # a class attribute forward reads

    def __init__(self, filters):
        super().__init__()
        self.conv = nn.Conv1d(1, filters, 64, stride=STRIDE)

    def forward(self, x):
        SEEN.append(len(x))
        return [act(self.conv(x)) * self.GAIN]


@rwbench.register_frontend(name="nb_helped", input_kind="waveform", sample_rate=8000, widths={"small": 8, "paper": 16},
                           feature_dim=lambda nf: nf, feature_layers=("conv",), source="a notebook cell", min_input=64)
def helped(filters):
    return HelpedNet(filters)
common = dict(tasks=["timbre"], frontends="nb_helped", backends="logreg", results=sys.argv[1] + "/r",
              cache_dir=sys.argv[1] + "/c", device="cpu", workers=0, dataset_options={"n_per_class": 5, "seconds": 0.5})
rwbench.run("synthetic", **common)
rwbench.run("synthetic", **common)  # SEEN grew: the same network, nothing embedded again


def act(x):  # the helper forward calls, redefined
    return torch.tanh(x)


rwbench.run("synthetic", **common)
STRIDE = 16  # the constant __init__ reads, rebound
rwbench.run("synthetic", **common)
HelpedNet.GAIN = -2.0  # the class attribute, set on the class
rwbench.run("synthetic", **common)


def forward_sign(self, x):
    return [torch.sign(self.conv(x))]


HelpedNet.forward = forward_sign  # a method replaced on the class
rwbench.run("synthetic", **common)
'''


def test_a_notebook_helper_or_constant_the_network_reaches_rebound_is_keyed_as_a_new_network(tmp_path):
    """Only the globals the factory itself named were watched: a redefined helper that ``forward`` calls, or a
    constant ``__init__`` reads, left the key as it was, and the old network's embeddings and score came back; so did
    an attribute or a method set on the network's class."""
    done = subprocess.run([sys.executable, "-", str(tmp_path)], input=NOTEBOOK_HELPERS, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "c").rglob("manifest.json"))) == 5  # relu/32, tanh/32, tanh/16, gain -2, sign


def test_the_statistics_and_cross_validation_name_a_bad_test_or_job_count(tmp_path):
    from rwbench.errors import RwbenchError

    with pytest.raises(RwbenchError, match=r"test 'bogus' is not one of \['auto', 'folds', 'clips'\]"):
        rwbench.load_results(tmp_path, test="bogus")  # a ValueError from the statistics
    with pytest.raises(RwbenchError, match=r"test 'bogus' is not one of"):
        rwbench.compare_rows(tmp_path, "a", "b", test="bogus")
    (dataset,) = rwbench.load_dataset("synthetic", tasks=["timbre"])
    features = np.random.default_rng(0).standard_normal((len(dataset.clips), 4))
    with pytest.raises(RwbenchError, match=r"n_jobs 0 must be a positive count, or -1"):  # joblib's ValueError
        rwbench.cross_validate(features, dataset.labels, dataset, backend="logreg", n_jobs=0)


NOTEBOOK_BACKEND = '''
import sys, threading, torch
import numpy as np
from sklearn.linear_model import LogisticRegression
import rwbench
from rwbench.backends import scaled

class Est(LogisticRegression):
    pass

@rwbench.register_backend(name="nb_est", grid=[{"clf__C": [1.0]}], description="a notebook's estimator")
def nb_est(seed):
    return scaled(Est(max_iter=500))

LOCK = threading.Lock()  # a global no pickle takes: the front-end keeps the key it was registered with

class Net(torch.nn.Module):
    def __init__(self, filters):
        super().__init__()
        self.conv = torch.nn.Conv1d(1, filters, 64, stride=32)

    def forward(self, x):
        with LOCK:
            return [torch.relu(self.conv(x))]

@rwbench.register_frontend(name="nb_locked", input_kind="waveform", sample_rate=8000, widths={"small": 8, "paper": 16},
                           feature_dim=lambda nf: nf, feature_layers=("conv",), source="a notebook cell", min_input=64)
def nb_locked(filters):
    return Net(filters)

common = dict(tasks=["timbre"], frontends="nb_locked", backends="nb_est", results=sys.argv[1] + "/r",
              cache_dir=sys.argv[1] + "/c", device="cpu", workers=0, dataset_options={"n_per_class": 5, "seconds": 0.5})
print(rwbench.run("synthetic", **common)["accuracy_mean"].iloc[0])

class Est(LogisticRegression):  # redefined: one class for every clip
    def predict(self, X):
        return np.full(len(X), self.classes_[0])

print(rwbench.run("synthetic", **common)["accuracy_mean"].iloc[0])
'''


def test_a_notebook_backend_redefined_is_another_backend_and_an_unpicklable_global_keeps_the_key(tmp_path):
    """The notebook backend's key was taken at registration: the redefined estimator's run read the old results
    (0.94 where it predicts one class); a front-end using a global no pickle takes (a lock) was keyed anew at every
    call, and its run stopped at "no embeddings" right after embedding."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-", str(tmp_path)], input=NOTEBOOK_BACKEND, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    first, second = map(float, done.stdout.split()[-2:])
    assert first > 0.3 and second == pytest.approx(0.2)  # 5 classes: one predicted for all (chance 0.2)


def test_cross_validate_checks_a_dataset_built_in_python_as_run_does():
    """A class held by fold 3 alone: ``run`` refused the dataset, ``cross_validate`` scored fold 3 at 0.625 with its
    6 clips of that class always counted wrong, without a word."""
    from rwbench.datamodel import Clip, Dataset
    from rwbench.protocol import PredefinedFolds

    clips = [Clip(f"c{i:02d}", "ab"[i % 2], fold=1 + i % 3) for i in range(30)]
    clips += [Clip(f"z{i}", "c", fold=3) for i in range(6)]
    dataset = Dataset("mine", None, clips, PredefinedFolds("mine/folds"), seconds=1.0)
    features = np.random.default_rng(0).normal(size=(len(clips), 5))
    with pytest.raises(rwbench.errors.DataError, match=r"fold3 tests 6 clip\(s\) of 1 class\(es\) that no clip of its training"):
        rwbench.cross_validate(features, dataset.labels, dataset, backend="logreg")


def test_run_takes_one_dataset_object_and_a_list_of_layer_sets(tmp_path):
    """``rwbench.run(ds, layers=["mfcc", "delta"])`` raised TypeError ('not iterable') and AttributeError ('list' has
    no 'split'): a dataset object alone and a list of layer sets are what a notebook passes."""
    (timbre,) = rwbench.load_dataset("synthetic", tasks=["timbre"], n_per_class=5, seconds=0.5)
    board = rwbench.run(timbre, frontends="mfcc", backends="logreg", results=tmp_path / "r", layers=["mfcc", "delta"],
                        workers=0, n_jobs=1)
    assert sorted(board["frontend"]) == ["mfcc[delta]", "mfcc[mfcc]"]  # one result per layer set
    with pytest.raises(rwbench.errors.RwbenchError, match=r"layers \[1\]: give default, each, all"):
        rwbench.run(timbre, frontends="mfcc", backends="logreg", results=tmp_path / "r", layers=[1])
