"""The evaluate stage works from the files the embed stage wrote: no audio, no reload of the dataset."""

import json
import logging

from conftest import write_audio

from rwbench.cli import main
from rwbench.datamodel import DATASETS, dataset_from_record, dataset_record


def pets(root, n=6):
    for label in ("cat", "dog", "owl"):
        for i in range(n):
            write_audio(root / "pets" / label / f"{label}{i}.wav", seconds=0.15)
    return root / "pets"


def test_a_stored_dataset_gives_the_same_splits_description_and_fingerprint(tmp_path):
    for options in ({"k": 3}, {"k": 3, "seed": 7}):
        loaded = DATASETS.get("folder").load(pets(tmp_path), **options)[0]
        stored = dataset_from_record(json.loads(json.dumps(dataset_record(loaded))))
        assert stored.describe() == loaded.describe() and stored.fingerprint() == loaded.fingerprint()
        assert len(stored.splits()) == len(loaded.splits()) == 3
        for a, b in zip(stored.splits(), loaded.splits(), strict=True):
            assert (a.name, a.train.tolist(), a.test.tolist()) == (b.name, b.train.tolist(), b.test.tolist())
            assert [(f.tolist(), v.tolist()) for f, v in a.inner] == [(f.tolist(), v.tolist()) for f, v in b.inner]


def test_a_record_stored_before_protocols_keyed_their_assignment_is_read_under_its_own_key(tmp_path):
    """Records written before 2026-12-07 hold a fixed split's ``assignment_digest`` and no ``ids_spell_assignment``:
    `rwbench evaluate` without --data-root called an FSDD record "malformed" (TypeError), and read FSDD's speaker
    folds as another protocol than the live loader's (its results "made on other data")."""
    for digit in range(3):
        for speaker in ("george", "jackson", "lucas"):
            for index in range(12):  # 0-4 test, 5-9 valid, 10-11 train
                write_audio(tmp_path / "recordings" / f"{digit}_{speaker}_{index}.wav", seconds=0.1)
    for task in ("standard", "speakers"):
        (loaded,) = DATASETS.get("fsdd").load(tmp_path, tasks=[task], partial=True)
        record = json.loads(json.dumps(dataset_record(loaded)))
        old = {k: v for k, v in record["protocol"].items() if k != "ids_spell_assignment"}
        if old["class"] == "FixedSplit":
            old["assignment_digest"] = False
        stored = dataset_from_record({**record, "protocol": old})
        assert stored.describe()["protocol"] == loaded.describe()["protocol"]  # the live loader's key
        assert "assignment_sha256" not in stored.describe()["protocol"]
    listed = dataset_from_record({**record, "protocol": {"class": "FixedSplit", "id": "lists", "refit": "train",
                                                         "keyed_assignment": False, "assignment_digest": True}})
    assert len(listed.describe()["protocol"]["assignment_sha256"]) == 64  # speech_commands, dcase: digested then too


def test_evaluate_without_data_root_reads_the_stored_dataset_and_matches_a_loaded_one(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO)
    data = pets(tmp_path)
    common = ["--dataset", "folder", "--results", str(tmp_path / "r"), "--frontends", "mfcc", "--device", "cpu",
              "--workers", "0"]
    assert main(["embed", *common, "--data-root", str(data), "--dataset-option", "k=3",
                 "--dataset-option", "seconds=0.15"]) == 0
    moved = tmp_path / "elsewhere" / "pets"
    moved.parent.mkdir()
    data.rename(moved)  # no audio left where it was embedded from
    caplog.clear()
    assert main(["evaluate", *common, "--backends", "logreg"]) == 0
    assert "evaluate: 1 new results, 0 up to date" in caplog.text
    caplog.clear()
    assert main(["evaluate", *common, "--backends", "logreg", "--data-root", str(moved), "--dataset-option", "k=3",
                 "--dataset-option", "seconds=0.15"]) == 0
    assert "evaluate: 0 new results, 1 up to date" in caplog.text, "the same run key: the same dataset and protocol"


def test_evaluate_without_stored_dataset_says_what_to_do(tmp_path, capsys):
    assert main(["evaluate", "--dataset", "esc10", "--results", str(tmp_path), "--frontends", "mfcc"]) == 2
    assert "no stored dataset 'esc10'" in capsys.readouterr().err


def test_evaluate_without_data_root_uses_the_protocol_embedded_last(tmp_path, caplog):
    """The same clips embedded under another protocol (k) are a second record, not the first one touched."""
    data = pets(tmp_path)
    common = ["--dataset", "folder", "--results", str(tmp_path / "r"), "--frontends", "mfcc", "--device", "cpu",
              "--workers", "0"]
    for k in (3, 4):
        assert main(["embed", *common, "--data-root", str(data), "--dataset-option", f"k={k}",
                     "--dataset-option", "seconds=0.15"]) == 0
    caplog.clear()
    assert main(["evaluate", *common, "--backends", "logreg"]) == 0
    assert "2 stored versions of the dataset (its files or its protocol changed)" in caplog.text
    (result,) = (tmp_path / "r" / "runs").rglob("*logreg*.json")
    assert len(json.loads(result.read_text())["folds"]) == 4, "evaluated with k=3's record, embedded first"


def test_a_record_stored_under_the_earlier_name_is_not_a_second_version(tmp_path, caplog):
    """Caches made before the records were named by their content hold the same record as dataset-{fingerprint}.json:
    the same content twice is one version, no warning."""
    caplog.set_level(logging.INFO)
    data = pets(tmp_path)
    common = ["--dataset", "folder", "--results", str(tmp_path / "r"), "--frontends", "mfcc", "--device", "cpu",
              "--workers", "0"]
    assert main(["embed", *common, "--data-root", str(data), "--dataset-option", "k=3"]) == 0
    (record,) = (tmp_path / "r").rglob("dataset-*.json")
    (record.parent / f"dataset-{json.loads(record.read_text())['fingerprint']}.json").write_text(record.read_text())
    caplog.clear()
    assert main(["evaluate", *common, "--backends", "logreg"]) == 0
    assert "stored versions" not in caplog.text and "evaluate: 1 new results" in caplog.text


def test_a_stored_dataset_record_edited_by_hand_is_refused(tmp_path, capsys):
    """Relabelled clips in the stored record would be evaluated under the embedded fingerprint: its name holds its
    content key, so the edit is named."""
    data = pets(tmp_path)
    common = ["--dataset", "folder", "--results", str(tmp_path / "r"), "--frontends", "mfcc", "--device", "cpu",
              "--workers", "0"]
    assert main(["embed", *common, "--data-root", str(data), "--dataset-option", "k=3"]) == 0
    (record,) = (tmp_path / "r").rglob("dataset-*.json")
    stored = json.loads(record.read_text())
    stored["clips"][0][1] = next(c[1] for c in stored["clips"] if c[1] != stored["clips"][0][1])  # a clip relabelled
    record.write_text(json.dumps(stored, indent=2))
    assert main(["evaluate", *common, "--backends", "logreg"]) == 2
    err = capsys.readouterr().err
    assert f"{record} does not match the content key in its name (edited by hand?)" in err


def test_evaluate_names_every_missing_embedding_before_any_fit_and_the_datasets_the_cache_holds(tmp_path, capsys):
    """Seeds 0 and 1 embedded, 0, 2, 1 asked: seed 0 was scored and written, then the run stopped on "no embeddings of
    'temporal_short'" without the seed; without --dataset it named synthetic, not the folder the cache holds."""
    data = pets(tmp_path)
    common = ["--results", str(tmp_path / "r"), "--frontends", "temporal_short", "--width", "4", "--device", "cpu",
              "--workers", "0"]
    folder = ["--dataset", "folder", "--data-root", str(data), "--dataset-option", "k=3", "--dataset-option",
              "seconds=0.15"]
    assert main(["embed", *folder, *common, "--seeds", "2"]) == 0
    capsys.readouterr()
    assert main(["evaluate", *folder, *common, "--seeds", "0,2,1", "--backends", "logreg"]) == 2
    err = capsys.readouterr().err
    assert ("1 of the 3 embeddings this evaluation reads are not in " in err
            and "temporal_short (random weights, seed 2, width 4) on folder/pets; run `rwbench embed`" in err)
    assert not (tmp_path / "r" / "runs").exists()  # nothing scored before the stop
    assert main(["evaluate", *common, "--tasks", "timbre", "--backends", "logreg"]) == 2  # no --dataset: synthetic
    assert "(the cache holds other datasets: folder/pets; --dataset names one)" in capsys.readouterr().err
