"""Registries: lookup, wildcards, "did you mean", entry-point and file plugins."""

import json
import re
import sys
import textwrap
import types

import pytest

from rwbench.backends import BACKENDS
from rwbench.cli import main
from rwbench.dsp import LogMelConfig
from rwbench.errors import PluginError, UnknownNameError
from rwbench.frontend import FRONTENDS
from rwbench.registry import Registry, load_plugin_file


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownNameError, match=r"unknown backend 'smv'; did you mean 'svm'\?"):
        BACKENDS.get("smv")


def test_wildcards_select_in_order_without_repeats():
    names = [s.name for s in BACKENDS.select("svm, *l*, svm")]
    assert names[0] == "svm" and sorted(names[1:]) == ["elm", "elm_torch", "logreg"] and len(names) == len(set(names))
    with pytest.raises(UnknownNameError, match="nothing_like_this"):
        BACKENDS.select("nothing_like_this*")


def test_builtin_frontends_are_registered():
    assert {"vgg", "timbral", "temporal", "timbral_temporal", "sample_level", "mfcc"} <= set(FRONTENDS.names())


def _install_dist(site, name, group, plugins):
    """A distribution in ``site`` that importlib.metadata finds: dist-info + entry_points.txt + modules."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "\n".join(f"{ep} = {module}" for ep, module in plugins)
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}\n")


def test_entry_point_plugins_load_and_a_broken_one_is_named_without_stopping_the_others(tmp_path, monkeypatch):
    group = "rwbench.test_things"
    site = tmp_path / "site"
    site.mkdir()
    (site / "builtin_things.py").write_text(textwrap.dedent("""
        from dataclasses import dataclass
        @dataclass(frozen=True)
        class Thing:
            name: str
    """))
    (site / "good_plugin.py").write_text(
        "import builtin_things, thing_registry\nthing_registry.REG.add(builtin_things.Thing('from_plugin'))\n")
    (site / "broken_plugin.py").write_text("raise RuntimeError('boom')\n")
    _install_dist(site, "rwbench_test_plugins", group, [("good", "good_plugin"), ("broken", "broken_plugin")])
    registry = Registry("thing", builtins="builtin_things", group=group)
    holder = site / "thing_registry.py"
    holder.write_text("REG = None\n")
    monkeypatch.syspath_prepend(str(site))
    import thing_registry

    thing_registry.REG = registry
    assert registry.names() == ["from_plugin"]
    assert "broken" in registry.plugin_errors
    assert "thing plugin 'broken' (broken_plugin) failed to load: RuntimeError: boom" == registry.plugin_errors["broken"]
    # the name it would have registered: unknown, and the failed plugin said with it (not only "did you mean")
    for ask in (registry.get, registry.select):
        with pytest.raises(UnknownNameError, match=r"unknown thing 'from_broken'.*; thing plugin 'broken' "
                                                   r"\(broken_plugin\) failed to load: RuntimeError: boom"):
            ask("from_broken")
    for mod in ("builtin_things", "good_plugin", "thing_registry"):
        sys.modules.pop(mod, None)


def test_plugin_file_registers_a_backend(tmp_path):
    plugin = tmp_path / "my_backend.py"
    plugin.write_text(textwrap.dedent("""
        from sklearn.dummy import DummyClassifier
        from rwbench.backends import register_backend

        @register_backend(name="test_dummy_backend", grid=[{"strategy": ["prior"]}], description="test")
        def dummy(seed):
            return DummyClassifier()
    """))
    load_plugin_file(plugin)
    assert BACKENDS.get("test_dummy_backend").grid_size == 1


def test_two_plugin_files_of_one_file_name_are_two_plugins(tmp_path):
    """a/net.py and b/net.py were both imported as the module rwbench_plugin_net: b's backend of a's name looked like
    a's definition run again (a notebook cell) and replaced it without a word."""
    for folder, k in (("a", 1), ("b", 3)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "net.py").write_text(textwrap.dedent(f"""
            from sklearn.neighbors import KNeighborsClassifier
            from rwbench.backends import register_backend

            @register_backend(name="test_same_stem_knn", grid=[{{"n_neighbors": [{k}]}}], description="test")
            def same_stem_knn(seed):
                return KNeighborsClassifier()
        """))
    load_plugin_file(tmp_path / "a" / "net.py")
    with pytest.raises(PluginError, match=r"backend 'test_same_stem_knn' of rwbench_plugin_net_\w+\.same_stem_knn "
                                          r"\(.*b/net.py\) is already registered by .*\(.*a/net.py\): choose another"):
        load_plugin_file(tmp_path / "b" / "net.py")
    assert BACKENDS.get("test_same_stem_knn").grid == [{"n_neighbors": [1]}]  # a's, kept
    load_plugin_file(tmp_path / "a" / "net.py")  # the same file again: its definition replaces itself


def test_plugin_file_errors_name_the_file(tmp_path):
    with pytest.raises(PluginError, match="does not exist"):
        load_plugin_file(tmp_path / "missing.py")
    with pytest.raises(PluginError, match="is a folder: give the .py file"):  # it said "does not exist"
        load_plugin_file(tmp_path)
    bad = tmp_path / "bad.py"
    bad.write_text("import not_a_module_anywhere\n")
    with pytest.raises(PluginError, match=r"bad.py' failed to load: ModuleNotFoundError"):
        load_plugin_file(bad)


def test_a_name_taken_by_another_definition_is_refused_and_the_same_one_replaces_itself():
    """A plugin taking a built-in's name is refused, naming both (the built-ins load first: the plugin cannot take the
    name before them); the same definition registered again (a notebook cell run twice) replaces the old."""
    import dataclasses

    from sklearn.dummy import DummyClassifier

    svm = BACKENDS.get("svm")
    with pytest.raises(PluginError, match=r"backend 'svm' of test_registry\..*<lambda> \(.*test_registry.py\) is already "
                                          r"registered by rwbench\..*: choose another name"):
        BACKENDS.add(dataclasses.replace(svm, build=lambda seed: DummyClassifier()))
    again = svm.__class__(**{**svm.__dict__})
    try:
        assert BACKENDS.add(again) is again and BACKENDS.get("svm") is again
    finally:
        BACKENDS.add(svm)


def test_a_registered_name_with_brackets_is_itself_not_a_wildcard():
    from rwbench.registry import Registry

    registry = Registry("thing", builtins="rwbench.errors", group="rwbench.none")
    for name in ("net[v2]", "net2"):
        registry.add(types.SimpleNamespace(name=name, build=len))
    assert [s.name for s in registry.select("net[v2]")] == ["net[v2]"]
    assert [s.name for s in registry.select("net[2]")] == ["net2"]  # a pattern that names nothing: a wildcard


@pytest.mark.parametrize("change, problem", [
    ({"input_kind": "spectrogram"}, "input_kind 'spectrogram' is not one of"),
    ({"input_kind": "logmel"}, "input_kind 'logmel' and a logmel config come together"),
    ({"sample_rate": 0}, "sample_rate 0 is not a positive integer"),
    # a 16-kHz plugin on the default (12-kHz) LogMelConfig: every mel band at the wrong frequency, and check-plugin passed
    ({"sample_rate": 16000, "input_kind": "logmel", "logmel": LogMelConfig()},
     "the log-mel is computed at 12000 Hz but the front-end reads audio at 16000 Hz"),
    ({"widths": {"small": 0}}, "must map names to positive filter counts"),
    ({"feature_layers": ("a", "a")}, "must be distinct names"),
    ({"pad_to_min": "reflect"}, "pad_to_min 'reflect'"),
    ({"weights": ("random", "dsp")}, "'dsp' weights and dsp_init come together"),
    ({"weights": ("random", "mtt")}, "every pretrained tag needs a weight pack"),
    ({"default_layers": ("nope",)}, "default_layers ['nope'] are not feature layers"),
    # names name files and comma-separated options: "my net" and "my-net" shared one result file, "a,b" was unusable
    ({"name": "my net"}, "name 'my net': letters, digits and _ . : + - only"),
    ({"name": "a,b"}, "name 'a,b': letters"),
    ({"name": "../escaped"}, "name '../escaped': letters"),
    ({"name": "fe__v2"}, "no '__'"),
    ({"feature_layers": ("conv1")}, "feature_layers 'conv1' must be a tuple of names"),  # the comma forgotten
])
def test_a_front_end_spec_is_checked_when_it_is_made(change, problem):
    from dataclasses import fields

    from toy import TINY

    from rwbench.errors import RwbenchError
    from rwbench.frontend import FrontendSpec

    with pytest.raises(RwbenchError, match=re.escape(problem)):
        FrontendSpec(**{**{f.name: getattr(TINY, f.name) for f in fields(TINY)}, **change})


def test_a_backend_that_cannot_be_searched_fails_before_any_embedding(tmp_path, capsys):
    """Not a scikit-learn estimator, or a grid key that is no parameter of it: refused by name when the run is
    planned, not by a joblib traceback after the embed stage."""
    plugin = tmp_path / "backends.py"
    plugin.write_text(textwrap.dedent('''
        from sklearn.linear_model import RidgeClassifier
        from rwbench.backends import BACKENDS, BackendSpec

        class Centroid:  # no get_params: not an estimator
            def fit(self, X, y): return self

        BACKENDS.add(BackendSpec(name="centroid", build=lambda seed: Centroid(), grid=[{"k": [1]}], description="x"))
        BACKENDS.add(BackendSpec(name="ridge_typo", build=lambda seed: RidgeClassifier(), grid=[{"alpah": [1.0]}],
                                 description="x"))
    '''))
    common = ["run", "--plugin", str(plugin), "--frontends", "mfcc", "--results", str(tmp_path / "r"), "--tasks", "timbre"]
    assert main([*common, "--backends", "centroid"]) == 2
    assert "backend 'centroid' (" in capsys.readouterr().err
    assert main([*common, "--backends", "ridge_typo", "--dry-run"]) == 2
    assert "backend 'ridge_typo': grid key(s) ['alpah'] are not parameters of its estimator" in capsys.readouterr().err
    assert not (tmp_path / "r" / "embeddings").exists()


def test_a_front_end_that_cannot_be_built_is_listed_with_why():
    from dataclasses import replace

    from toy import TINY

    from rwbench.listing import _listed

    def broken(filters):
        raise ValueError("out_channels must be divisible by groups")

    row = _listed(replace(TINY, name="grouped", build=broken))
    assert row["name"] == "grouped" and row["source"] == ("error: cannot be built to be listed: ValueError: "
                                                          "out_channels must be divisible by groups")


def test_code_defined_without_a_file_is_keyed_by_its_value():
    """A notebook cell or `python -c` has no source file: the network's code was keyed None, so an edited network
    reused the old one's embeddings and results."""
    from rwbench.filehash import code_sha256

    def define(stride):
        namespace = {}
        exec(compile(f"def net(filters):\n    return {stride}\n", "/tmp/ipykernel_0/123.py", "exec"), namespace)
        return namespace["net"]

    a, b = code_sha256(define(256)), code_sha256(define(32))
    assert a.startswith("value:") and b.startswith("value:") and a != b and code_sha256(define(256)) == a


def test_a_class_defined_without_a_file_hashes_alike_in_every_process():
    """cloudpickle tracks a class of __main__ by a random id per process: a notebook's network or task type was keyed
    anew by every process (results recomputed, a finished training refused as 'other settings'). By name now: the
    same definition, the same key; an edited one, another."""
    import subprocess
    import sys

    cell = ("from rwbench.filehash import code_sha256\nimport torch\nclass Net(torch.nn.Module):\n"
            "    stride = {}\nprint(code_sha256(Net))\n")
    keys = [subprocess.run([sys.executable, "-c", cell.format(stride)], capture_output=True, text=True,
                           check=True).stdout.strip() for stride in (256, 256, 32)]
    assert keys[0].startswith("value:") and keys[0] == keys[1] != keys[2]


GENERATED = textwrap.dedent('''
    import numpy as np
    from rwbench.datamodel import Clip, Dataset, register_dataset
    from rwbench.protocol import PredefinedFolds

    FREQS = {"low": LOW, "high": 900.0}

    class Tones(Dataset):
        def load_audio(self, clip, sample_rate):
            t = np.arange(int(0.25 * sample_rate)) / sample_rate
            noise = np.random.default_rng(int(clip.id.split("/")[1])).standard_normal(len(t))
            return (np.sin(2 * np.pi * FREQS[clip.label] * t) + 0.5 * noise).astype(np.float32)

    @register_dataset(name="gen_tones", description="tones", protocol="3 folds", needs_root=False)
    def tones(root, task=None, **options):
        clips = [Clip(f"{label}/{i}", label, fold=i % 3 + 1) for label in FREQS for i in range(9)]
        return Tones("gen_tones", None, clips, PredefinedFolds("gen_tones/folds"), 0.25)
''')


def test_a_generated_dataset_edited_in_its_plugin_is_scored_again_not_reused(tmp_path):
    """Clips with no file are keyed by id and label: a plugin generating other audio under the same ids kept its old
    fingerprint, and its old results stood as up to date (real processes, as a user edits and reruns)."""
    import subprocess

    plugin = tmp_path / "gen.py"
    argv = [sys.executable, "-m", "rwbench.cli", "run", "--plugin", str(plugin), "--dataset", "gen_tones",
            "--frontends", "mfcc", "--backends", "logreg", "--results", str(tmp_path / "r"), "--workers", "0"]
    for low, expected, extra in ((300.0, "1 new result", []), (300.0, "up to date", []),
                                 (900.0, "made on other data or outer splits under the same dataset key", []),  # refused: kept
                                 (900.0, "1 new result", ["--force"])):
        plugin.write_text(GENERATED.replace("LOW", str(low)))  # 900: both classes one tone
        done = subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=300)
        assert done.returncode == (2 if "other data" in expected else 0), done.stderr
        assert expected in done.stderr, (low, done.stderr[-2000:])


def test_a_network_that_returns_other_layers_than_declared_is_named_at_once(tmp_path, capsys):
    """Two layers made, one declared: the run embedded everything, then called its own cache damaged and told the
    user to rerun, which did the same again."""
    plugin = tmp_path / "mism.py"
    plugin.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        from rwbench.frontend import register_frontend

        class Two(nn.Module):
            def __init__(self, filters):
                super().__init__()
                self.conv = nn.Conv1d(1, filters, 16, stride=8)
            def forward(self, x):
                h = self.conv(x)
                return [h, h]

        register_frontend(name="mism", input_kind="waveform", sample_rate=8000, widths={"small": 4, "paper": 8},
                          feature_layers=("c",), feature_dim=lambda filters: filters, source="a test")(Two)
    """))
    argv = ["run", "--plugin", str(plugin), "--frontends", "mism", "--backends", "logreg", "--tasks", "timbre",
            "--results", str(tmp_path / "r"), "--workers", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "front-end 'mism' returned 2 layer(s); its spec declares feature_layers ('c',)" in err, err
    plugin.write_text(plugin.read_text().replace("return [h, h]", "return [h]").replace(
        "feature_dim=lambda filters: filters,", "feature_dim=lambda filters: filters + 1,"))
    assert main([*argv, "--results", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "front-end 'mism' at width small made 4 features per clip; its spec declares 5" in err, err


def test_a_file_dataset_whose_plugin_load_audio_is_edited_is_embedded_again(tmp_path):
    """A plugin dataset of files keyed by the files' bytes alone: an edited ``load_audio`` (here a gain of 0.01) kept
    the cache key, and the run scored the old audio from the cache (real processes, as a user edits and reruns)."""

    from conftest import write_audio

    for label in ("a", "b"):
        for i in range(6):
            write_audio(tmp_path / "data" / label / f"{label}{i}.wav", seconds=0.3)
    plugin = tmp_path / "gain.py"
    source = textwrap.dedent('''
        import numpy as np
        from rwbench import audio
        from rwbench.datamodel import Clip, Dataset, register_dataset
        from rwbench.protocol import PredefinedFolds

        GAIN = 1.0

        class Gain(Dataset):
            def load_audio(self, clip, sample_rate):
                return audio.load(clip.path, sample_rate) * np.float32(GAIN)

        @register_dataset(name="gainfolder", description="gain", protocol="3 folds")
        def gainfolder(root, task=None, **options):
            clips = [Clip(f"{p.parent.name}/{p.name}", p.parent.name, path=p, fold=i % 3 + 1)
                     for i, p in enumerate(sorted(root.glob("*/*.wav")))]
            return Gain("gainfolder", None, clips, PredefinedFolds("gainfolder/folds"), 0.3)
    ''')
    argv = [sys.executable, "-m", "rwbench.cli", "embed", "--plugin", str(plugin), "--dataset", "gainfolder",
            "--data-root", str(tmp_path / "data"), "--frontends", "mfcc", "--cache", str(tmp_path / "cache"),
            "--workers", "0", "--results", str(tmp_path / "r")]
    runs = _edit_and_rerun(plugin, argv, [source.replace("GAIN = 1.0", f"GAIN = {gain}") for gain in ("1.0", "1.0", "0.01")])
    for (code, err), expected in zip(runs, ("1 computed, 0 from cache", "0 computed, 1 from cache",
                                            "1 computed, 0 from cache"), strict=True):
        assert code == 0 and expected in err, (expected, err[-2000:])


def _edit_and_rerun(plugin, argv: list[str], sources: list[str]) -> list[tuple[int, str]]:
    """(exit status, stderr) of ``argv`` run in a new process after writing each of ``sources`` as the plugin."""
    import subprocess

    runs = []
    for source in sources:
        plugin.write_text(source)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        runs.append((done.returncode, done.stderr))
    return runs


def test_a_plugin_registering_a_partial_of_a_builtin_network_is_keyed_by_its_file(tmp_path):
    """`register_frontend(...)(partial(VerticalConv, n_freq=40))`: the factory's code is rwbench's, so the key held no
    plugin code; editing n_freq to 90 kept the cache entry and the old accuracy (real processes)."""

    plugin = tmp_path / "vert.py"
    source = textwrap.dedent('''
        from functools import partial
        from rwbench.architectures.vertical import VerticalConv
        from rwbench.dsp import LogMelConfig
        from rwbench.frontend import register_frontend

        register_frontend(name="my_vertical", input_kind="logmel", sample_rate=12000, widths={"small": 4, "paper": 8},
                          feature_dim=lambda nf: nf, feature_layers=("pool",), source="a test", logmel=LogMelConfig(),
                          min_input=7, pad_to_min="repeat")(partial(VerticalConv, n_freq=NFREQ))
    ''')
    argv = [sys.executable, "-m", "rwbench.cli", "embed", "--plugin", str(plugin), "--frontends", "my_vertical",
            "--tasks", "timbre", "--cache", str(tmp_path / "cache"), "--workers", "0", "--results", str(tmp_path / "r")]
    runs = _edit_and_rerun(plugin, argv, [source.replace("NFREQ", n_freq) for n_freq in ("40", "40", "90")])
    for (code, err), expected in zip(runs, ("1 computed, 0 from cache", "0 computed, 1 from cache",
                                            "1 computed, 0 from cache"), strict=True):
        assert code == 0 and expected in err, (expected, err[-2000:])


def test_skip_bad_audio_leaves_out_a_generated_clip_the_network_fails_on(tmp_path, capsys):
    """A network giving NaN on some synthetic clips: the error said "rerun with --skip-bad-audio", and the rerun was
    refused ("synthetic has no option 'skip_bad_audio'"): a generated dataset has no files to screen, so the flag now
    acts in the embed stage alone and the clips are left out, named."""
    plugin = tmp_path / "nan_net.py"
    plugin.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        from rwbench.frontend import register_frontend

        class LoudNaN(nn.Module):
            def __init__(self, filters):
                super().__init__()
                self.conv = nn.Conv1d(1, filters, 16, stride=8)
            def forward(self, x):
                out = self.conv(x)
                loudest = x.abs().amax(dim=(1, 2)) == x.abs().amax()  # one clip of each batch
                return [torch.where(loudest[:, None, None], torch.full_like(out, float("nan")), out)]

        register_frontend(name="loud_nan", input_kind="waveform", sample_rate=8000, widths={"small": 4, "paper": 8},
                          feature_layers=("c",), feature_dim=lambda filters: filters, source="a test")(LoudNaN)
    """))
    argv = ["run", "--plugin", str(plugin), "--frontends", "loud_nan", "--backends", "logreg", "--tasks", "timbre",
            "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "--workers", "0"]
    assert main(argv) == 2
    assert "is not finite" in (err := capsys.readouterr().err) and "rerun with --skip-bad-audio" in err, err[-1500:]
    assert main([*argv, "--skip-bad-audio"]) == 0, capsys.readouterr().err[-1500:]
    (result,) = (tmp_path / "r").rglob("loud_nan*.json")
    skipped = json.loads(result.read_text())["dataset"]["skipped"]
    assert 0 < len(skipped) < 150 and all("not finite" in s["reason"] for s in skipped)


def test_a_plugin_datasets_own_dataset_is_held_to_a_loaders_checks(tmp_path, capsys):
    """A plugin that builds its Dataset itself skipped the checks a file loader's gets: a class only in fold 3 was
    never trained on there, and fold 3 scored 0.667 (its 4 clips counted wrong) with no word. Also a Dataset made
    in Python and passed to rwbench.api.run."""
    plugin = tmp_path / "tones_plugin.py"
    plugin.write_text(textwrap.dedent("""
        import numpy as np
        import rwbench
        from rwbench.protocol import PredefinedFolds

        class Tones(rwbench.Dataset):
            def load_audio(self, clip, sample_rate):
                f0 = {"a": 300.0, "b": 900.0, "c": 2000.0}[clip.label]
                t = np.arange(int(0.5 * sample_rate)) / sample_rate
                return (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)

        def tones():
            clips = [rwbench.Clip(f"{lab}{i:02d}", lab, fold=i % 3 + 1) for lab in "ab" for i in range(12)]
            clips += [rwbench.Clip(f"c{i:02d}", "c", fold=3) for i in range(4)]  # class c only in fold 3
            return Tones("tones_untrained", None, clips, PredefinedFolds("tones/folds"), 0.5)

        @rwbench.register_dataset(name="tones_untrained", description="d", protocol="3 folds", needs_root=False)
        def load(root=None, *, task=None):
            return tones()
    """))
    assert main(["run", "--plugin", str(plugin), "--dataset", "tones_untrained", "--frontends", "mfcc", "--backends",
                 "knn", "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "--workers", "0"]) == 2
    assert ("tones_untrained: fold3 tests 4 clip(s) of 1 class(es) that no clip of its training side has ('c')"
            in capsys.readouterr().err)
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("*.json"))
    from rwbench import api
    from rwbench.errors import DataError

    module = sys.modules[next(name for name in sys.modules if name.startswith("rwbench_plugin_tones_plugin"))]
    with pytest.raises(DataError, match="fold3 tests 4 clip"):
        api.run([module.tones()], frontends="mfcc", backends="knn", results=tmp_path / "r2", cache_dir=tmp_path / "c")
