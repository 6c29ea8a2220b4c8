"""``--frontends hear:MODULE[?options]``: an installed HEAR-API module as a front-end, through a toy module in
tests/ (hear_toy_module.py); hearbaseline itself only where it is installed."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rwbench.embed import embed
from rwbench.embed_job import EmbedJob
from rwbench.errors import PluginError, RwbenchError
from rwbench.frontend import FRONTENDS
from rwbench.hear_import import provenance

sys.path.insert(0, str(Path(__file__).parent))  # hear_toy_module, importable by name as an installed one would be
import hear_toy_module as toy  # noqa: E402
from toy import tone_dataset  # noqa: E402


def test_a_hear_module_becomes_a_frontend():
    spec = FRONTENDS.get("hear:hear_toy_module")
    assert spec is FRONTENDS.get("hear:hear_toy_module")  # made (and its model loaded) once
    assert (spec.name, spec.sample_rate, spec.input_kind, spec.dim("small"), spec.feature_layers) == \
        ("hear:hear_toy_module", 16000, "none", 8, ("scene",))
    timestamps = FRONTENDS.get("hear:hear_toy_module?embedding=timestamps")  # '?' is not a wildcard here
    assert timestamps.feature_layers == ("timestamps",) and timestamps.version != spec.version
    assert [s.name for s in FRONTENDS.select("hear:hear_toy_module?embedding=timestamps,mfcc")] == \
        ["hear:hear_toy_module?embedding=timestamps", "mfcc"]
    record = provenance("hear:hear_toy_module")
    assert record["module"] == "hear_toy_module" and record["version"] == "0.0-test" and record["model_sha256"] is None


@pytest.mark.parametrize("name, error", [
    ("hear:no_such_module_xyz", "cannot import no_such_module_xyz"),
    ("hear:json", "lacks the HEAR API function"),
    ("hear:hear_toy_module?embeding=scene", "did you mean 'embedding'"),
    ("hear:hear_toy_module?embedding=frames", "not one of ['scene', 'timestamps']"),
    ("hear:", "give an importable module"),
])
def test_bad_names_say_what_is_wrong(name, error):
    with pytest.raises(RwbenchError) as err:
        FRONTENDS.get(name)
    assert error in str(err.value)


def test_embeddings_are_the_modules_own_and_cached(tmp_path):
    dataset = tone_dataset(n_per_class=5)
    for option, expected in (("", toy.get_scene_embeddings),
                             ("?embedding=timestamps", lambda a, m: toy.get_timestamp_embeddings(a, m)[0].mean(1))):
        job = EmbedJob(dataset, FRONTENDS.get("hear:hear_toy_module" + option))
        stored = embed(job, tmp_path, device="cpu", workers=0)
        audio = torch.stack([torch.from_numpy(dataset.load_audio(c, 16000)) for c in dataset.clips])
        np.testing.assert_allclose(stored.features, expected(audio, toy.load_model()).detach().numpy(), rtol=1e-5, atol=1e-5)
        assert embed(job, tmp_path, device="cpu", workers=0).manifest.key == stored.manifest.key  # a cache hit
    assert len(list(tmp_path.rglob("manifest.json"))) == 2


def test_model_file_provenance_and_results(tmp_path):
    model = toy.load_model()
    with torch.no_grad():
        model.projection.weight.mul_(2)
    weights = tmp_path / "toy weights.pt"
    torch.save(model.state_dict(), weights)
    spec = FRONTENDS.get(f"hear:hear_toy_module?model={weights}")
    record = provenance(spec.name)
    assert spec.name.startswith("hear:hear_toy_module?model=toy weights.pt@") and "/" not in spec.name
    assert record["model_file"] == str(weights) and len(record["model_sha256"]) == 64
    assert spec.version != FRONTENDS.get("hear:hear_toy_module").version  # another model: another cache key

    from rwbench.api import run

    board = run([tone_dataset(n_per_class=5)], frontends=[f"hear:hear_toy_module?model={weights}"], backends="logreg",
                results=tmp_path / "results", device="cpu", workers=0)
    assert list(board["frontend"]) == [spec.name]
    (result,) = (tmp_path / "results" / "runs").rglob("*.json")
    stored = json.loads(result.read_text())["frontend"]
    assert stored["hear"]["model_sha256"] == record["model_sha256"] and stored["hear"]["version"] == "0.0-test"
    assert stored["source"].startswith("HEAR API module hear_toy_module")


@pytest.mark.skipif(importlib.util.find_spec("hearbaseline") is None,
                    reason="hearbaseline is not installed (pip install --no-deps hearbaseline)")
def test_hearbaseline_naive_through_its_librosa_shim():
    """hearbaseline 2021.1.1's naive.load_model calls librosa.filters.mel(sr, ...) positionally, which librosa ≥
    0.10 refuses; studies/hear-import/hearbaseline_naive_compat.py runs it under a shim."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "studies" / "hear-import"))
    spec = FRONTENDS.get("hear:hearbaseline_naive_compat")
    assert spec.sample_rate == 44100 and spec.dim("small") == 4096
    from rwbench.frontend import Embedder

    out = Embedder(spec)(torch.rand(2, 44100) * 2 - 1)
    assert out.shape == (2, 4096) and torch.isfinite(out).all()


def test_sizing_a_batch_never_draws_weights_into_the_modules_own_network():
    """The memory estimate built an Embedder with random weights: for a HEAR module, whose build returns its one
    loaded instance, that overwrote the module's weights (on CUDA at every run; on the CPU once the automatic batch
    size read memory) and every embedding after it came from a random projection."""
    spec = FRONTENDS.get("hear:hear_toy_module")
    before = {k: v.clone() for k, v in spec.build(None).state_dict().items()}
    spec.memory_needed("small", 16000, 4)
    after = spec.build(None).state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_a_module_returning_other_rows_than_sounds_is_named(tmp_path, monkeypatch):
    """A scene output of (sounds × frames, dim) has the declared width: its rows went to the wrong clips."""
    (tmp_path / "hear_flat_rows.py").write_text(
        "from hear_toy_module import ToyModel, load_model, get_timestamp_embeddings\n"
        "def get_scene_embeddings(audio, model):\n"
        "    return get_timestamp_embeddings(audio, model)[0].reshape(-1, 8)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    job = EmbedJob(tone_dataset(n_per_class=2), FRONTENDS.get("hear:hear_flat_rows"))
    with pytest.raises(RwbenchError, match=r"get_scene_embeddings returned shape \(\d+, 8\) for \d+ sounds; the "
                                            r"HEAR API asks for \(\d+, 8\)"):
        embed(job, tmp_path / "cache", device="cpu", workers=0)


def test_a_model_path_keeps_its_plus_signs_and_a_replaced_model_is_loaded_again(tmp_path):
    weights = tmp_path / "run+1" / "w.pt"
    weights.parent.mkdir()
    torch.save(toy.load_model().state_dict(), weights)
    name = f"hear:hear_toy_module?model={weights}"
    first = FRONTENDS.get(name)
    assert provenance(name)["model_file"] == str(weights)  # '+' was read as a space: file not found
    model = toy.load_model()
    with torch.no_grad():
        model.projection.weight.mul_(3)
    torch.save(model.state_dict(), weights)
    second = FRONTENDS.get(name)
    assert second.name != first.name and second.version != first.version  # not the model loaded before
    assert torch.equal(second.build(None).model.projection.weight, model.projection.weight)


def test_model_folders_are_told_apart_by_their_content(tmp_path, monkeypatch):
    (tmp_path / "hear_folder_model.py").write_text(
        "import torch\nfrom hear_toy_module import ToyModel, get_scene_embeddings, get_timestamp_embeddings\n"
        "def load_model(folder=''):\n"
        "    model = ToyModel()\n"
        "    model.load_state_dict(torch.load(folder + '/w.pt'))\n"
        "    return model\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    names = set()
    for run, scale in (("a", 1.0), ("b", 2.0)):
        folder = tmp_path / run / "model"
        folder.mkdir(parents=True)
        model = toy.load_model()
        with torch.no_grad():
            model.projection.weight.mul_(scale)
        torch.save(model.state_dict(), folder / "w.pt")
        names.add(FRONTENDS.get(f"hear:hear_folder_model?model={folder}").name)
    assert len(names) == 2  # both were 'model=model': one front-end, one cache entry, the first one's numbers


def test_model_names_that_are_not_paths_are_told_apart(tmp_path, monkeypatch):
    """A hub id the module resolves: alice/base and bob/base were both 'model=base', one front-end, one cache entry."""
    (tmp_path / "hear_hub_model.py").write_text(
        "import torch\nfrom hear_toy_module import ToyModel, get_scene_embeddings, get_timestamp_embeddings\n"
        "def load_model(name=''):\n"
        "    model = ToyModel()\n"
        "    with torch.no_grad():\n"
        "        model.projection.weight.mul_(len(name))\n"
        "    return model\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    alice, bob = (FRONTENDS.get(f"hear:hear_hub_model?model={who}/base") for who in ("alice", "bob"))
    assert alice.name != bob.name and "alice_base@" in alice.name and "bob_base@" in bob.name
    assert FRONTENDS.get("hear:hear_hub_model?model=base").name == "hear:hear_hub_model?model=base"


def test_weights_a_module_loads_itself_are_part_of_its_key(tmp_path):
    """A HEAR package reading its own data file (or a model spec naming a weights path): replacing the file kept the
    key, and the old embeddings and results were reused; the loaded network's state is now part of the identity."""
    (tmp_path / "hear_data_model.py").write_text(
        "import pathlib, torch\nfrom hear_toy_module import ToyModel, get_scene_embeddings, get_timestamp_embeddings\n"
        "def load_model(model_file_path=''):\n"
        "    model = ToyModel()\n"
        "    model.load_state_dict(torch.load(pathlib.Path(__file__).parent / 'w.pt'))\n"
        "    return model\n")
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent)])}
    cell = ("from rwbench.frontend import FRONTENDS\nfrom rwbench.hear_import import provenance\n"
            "spec = FRONTENDS.get('hear:hear_data_model')\n"
            "print(spec.version, provenance('hear:hear_data_model')['state_sha256'][:12])")
    seen = []
    for scale in (1.0, 1.0, 2.0):  # each run a new process, as a user reruns after replacing the file
        model = toy.load_model()
        with torch.no_grad():
            model.projection.weight.mul_(scale)
        torch.save(model.state_dict(), tmp_path / "w.pt")
        seen.append(subprocess.run([sys.executable, "-c", cell], env=env, capture_output=True, text=True,
                                   check=True, timeout=300).stdout.split())
    assert seen[0] == seen[1] and seen[1][0] != seen[2][0] and seen[1][1] != seen[2][1]


def _versions_across_edits(tmp_path, name: str, edits) -> list[str]:
    """The spec version of ``hear:NAME`` in a new process after each edit (a user rerunning after a change)."""
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent)])}
    cell = f"from rwbench.frontend import FRONTENDS\nprint(FRONTENDS.get('hear:{name}').version)"
    seen = []
    for edit in edits:
        edit()
        seen.append(subprocess.run([sys.executable, "-c", cell], env=env, capture_output=True, text=True,
                                   check=True, timeout=300).stdout.strip())
    return seen


def test_a_helper_module_beside_the_hear_module_is_part_of_its_key(tmp_path):
    """A loose HEAR module scaling the toy's embeddings by a constant of its helper module: editing the helper kept
    the key, and the old embeddings were reused (1000 times too small); the code a module uses is now identified."""
    (tmp_path / "hear_scaled.py").write_text(
        "import hear_scale\nfrom hear_toy_module import load_model, get_timestamp_embeddings\n"
        "from hear_toy_module import get_scene_embeddings as _scene\n"
        "def get_scene_embeddings(audio, model):\n    return _scene(audio, model) * hear_scale.SCALE\n")
    helper = tmp_path / "hear_scale.py"
    seen = _versions_across_edits(tmp_path, "hear_scaled", [lambda: helper.write_text("SCALE = 1.0\n"), lambda: None,
                                                            lambda: helper.write_text("SCALE = 1000.0\n")])
    assert seen[0] == seen[1] != seen[2]


def _distribution(root: Path, name: str, version: str, code: str, editable: bool = False) -> Path:
    """An installed distribution ``name`` in ``root`` (its package and a dist-info with top_level.txt)."""
    (root / name).mkdir(exist_ok=True)
    (root / name / "__init__.py").write_text(code)
    for old in root.glob(f"{name}-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    info = root / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "top_level.txt").write_text(name + "\n")
    if editable:
        (info / "direct_url.json").write_text(json.dumps({"url": f"file://{root}", "dir_info": {"editable": True}}))
    return root / name / "__init__.py"


def test_what_a_packages_submodule_imports_is_part_of_its_key(tmp_path):
    """A HEAR package whose ``__init__`` re-exports the API of ``.api`` (the usual layout), its ``.api`` using a
    library: the walk skipped the package's own modules, so upgrading the library (0.1.0 -> 0.2.0) kept the key
    and the old embeddings were reused."""
    package = tmp_path / "hear_layered"
    package.mkdir()
    (package / "__init__.py").write_text("from .api import load_model, get_scene_embeddings, get_timestamp_embeddings\n")
    (package / "api.py").write_text(
        "import scalelib\nfrom hear_toy_module import load_model, get_timestamp_embeddings\n"
        "from hear_toy_module import get_scene_embeddings as _scene\n"
        "def get_scene_embeddings(audio, model):\n    return _scene(audio, model) * scalelib.SCALE\n")
    seen = _versions_across_edits(tmp_path, "hear_layered", [
        lambda: _distribution(tmp_path, "scalelib", "0.1.0", "SCALE = 1.0\n"), lambda: None,
        lambda: _distribution(tmp_path, "scalelib", "0.2.0", "SCALE = 1000.0\n")])
    assert seen[0] == seen[1] != seen[2]


def test_an_edited_editable_library_is_part_of_its_key(tmp_path):
    """``pip install -e`` keeps the version while the code changes: an editable distribution is keyed by its code."""
    (tmp_path / "hear_editable.py").write_text(
        "import scalelib\nfrom hear_toy_module import load_model, get_timestamp_embeddings\n"
        "from hear_toy_module import get_scene_embeddings as _scene\n"
        "def get_scene_embeddings(audio, model):\n    return _scene(audio, model) * scalelib.SCALE\n")
    seen = _versions_across_edits(tmp_path, "hear_editable", [
        lambda: _distribution(tmp_path, "scalelib", "0.1.0", "SCALE = 1.0\n", editable=True), lambda: None,
        lambda: _distribution(tmp_path, "scalelib", "0.1.0", "SCALE = 1000.0\n", editable=True)])
    assert seen[0] == seen[1] != seen[2]


def test_a_network_class_load_model_imports_inside_is_part_of_its_key(tmp_path):
    """``load_model`` importing its network class inside the function: nothing at the module's level named the
    helper, so editing the network's ``forward`` kept the key (the state digest reads weights, not code)."""
    (tmp_path / "hear_lazy.py").write_text(
        "from hear_toy_module import get_timestamp_embeddings\n"
        "def load_model(model_file_path=''):\n    from hear_lazy_net import Net\n    return Net()\n"
        "def get_scene_embeddings(audio, model):\n    return model(audio)\n")
    helper = tmp_path / "hear_lazy_net.py"
    net = ("import torch\nfrom hear_toy_module import ToyModel\nclass Net(ToyModel):\n"
           "    def forward(self, audio):\n        return torch.stack([audio.mean(1)] * 8, 1) * {}\n")
    seen = _versions_across_edits(tmp_path, "hear_lazy", [lambda: helper.write_text(net.format(1.0)), lambda: None,
                                                          lambda: helper.write_text(net.format(2.0))])
    assert seen[0] == seen[1] != seen[2]


def test_a_data_file_inside_a_hear_package_is_part_of_its_key(tmp_path):
    """A package reading a config.json beside its code into a plain attribute (not a parameter or buffer): only its
    .py files were hashed, so a changed config kept the key."""
    package = tmp_path / "hear_configured"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import json, pathlib\nfrom hear_toy_module import load_model, get_timestamp_embeddings\n"
        "from hear_toy_module import get_scene_embeddings as _scene\n"
        "SCALE = json.loads((pathlib.Path(__file__).parent / 'config.json').read_text())['scale']\n"
        "def get_scene_embeddings(audio, model):\n    return _scene(audio, model) * SCALE\n")
    config = package / "config.json"
    seen = _versions_across_edits(tmp_path, "hear_configured", [lambda: config.write_text('{"scale": 1.0}'),
                                                                lambda: None, lambda: config.write_text('{"scale": -5}')])
    assert seen[0] == seen[1] != seen[2]


def test_a_model_without_the_hear_attributes_is_named(tmp_path, monkeypatch):
    (tmp_path / "hear_no_sizes.py").write_text(
        "import torch\nfrom hear_toy_module import get_scene_embeddings, get_timestamp_embeddings\n"
        "class Model(torch.nn.Module):\n    sample_rate = 16000\n"
        "def load_model(model_file_path=''):\n    return Model()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"lacks the HEAR API attribute\(s\) \['scene_embedding_size', "
                                          r"'timestamp_embedding_size'\]"):
        FRONTENDS.get("hear:hear_no_sizes")
