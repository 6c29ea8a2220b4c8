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
