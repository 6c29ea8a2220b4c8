"""The built wheel installs one namespace, `rwbench`, with the split lists, and imports on its own."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
                           capture_output=True, text=True)
    if build.returncode != 0 and "No module named build" in build.stderr:
        pytest.skip("the `build` package is not installed (pip install -e '.[test]')")
    assert build.returncode == 0, build.stderr[-2000:]
    return next(out.glob("rwbench-*.whl"))


def test_wheel_holds_only_the_rwbench_namespace_and_package_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"rwbench"}, top  # never a top-level `datasets` (it would shadow Hugging Face's)
    for path in ("rwbench/cli.py", "rwbench/architectures/vgg.py", "rwbench/datasets/synthetic.py",
                 "rwbench/datasets/splits/gtzan/train_filtered.txt", "rwbench/datasets/splits/gtzan/SOURCE.md",
                 "rwbench/templates/report.html", "rwbench/py.typed"):  # py.typed: PEP 561, the package is typed
        assert path in names, path
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "rwbench = rwbench.cli:main" in entry_points


def test_wheel_contents_import_without_the_source_tree(wheel, tmp_path):
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = ("import rwbench, rwbench.frontend as f, rwbench.datamodel as d, pathlib;"
            "assert pathlib.Path(rwbench.__file__).parent.parent.name == 'site', rwbench.__file__;"
            "assert 'vgg' in f.FRONTENDS.names() and 'gtzan' in d.DATASETS.names();"
            "import rwbench.datasets.gtzan as g, importlib.resources as r;"
            "assert '{% for s in sections %}' in r.files('rwbench').joinpath('templates/report.html').read_text();"
            "print(len(r.files('rwbench.datasets').joinpath('splits/gtzan/test_filtered.txt').read_text().split()))")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "290"
