"""Run mypy on the `rwbench` package as it is laid out in this repository.

mypy finds modules by their place on disk; it can follow neither setuptools' `package-dir` mapping (bench/ is
`rwbench`, architectures/ is `rwbench.architectures`, datasets/ is `rwbench.datasets`) nor the import hook of an
editable install. So this lays the mapping out as a tree of symbolic links in build/mypy (rebuilt on every run, so
new modules are seen), runs `python -m mypy -p rwbench` on it with the settings of pyproject.toml's `[tool.mypy]`,
and prints the report with the links' paths turned back into the repository's own.

    python .ci/typecheck.py [MYPY OPTIONS]

The exit status is mypy's.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / "mypy"


def lay_out(package_dir: dict[str, str]) -> list[tuple[str, str]]:
    """Link each mapped package into TREE; return (link prefix, source prefix) pairs, longest first."""
    shutil.rmtree(TREE, ignore_errors=True)
    names = sorted(package_dir, key=lambda n: n.count("."))
    for name in names:
        target = TREE.joinpath(*name.split("."))
        nested = [n for n in names if n.startswith(name + ".")]
        if nested:  # a real folder holding links to each entry, so the nested packages can sit beside them
            target.mkdir(parents=True)
            for entry in (ROOT / package_dir[name]).iterdir():
                if entry.name != "__pycache__" and not target.joinpath(entry.name).exists():
                    target.joinpath(entry.name).symlink_to(entry)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink():
                target.unlink()
            target.symlink_to(ROOT / package_dir[name])
    link = TREE.relative_to(ROOT)  # mypy names the files relative to its working directory, ROOT
    pairs = [(str(link.joinpath(*n.split("."))) + os.sep, package_dir[n].rstrip("/") + "/") for n in names]
    return sorted(pairs, key=lambda p: -len(p[0]))


def main(argv: list[str]) -> int:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pairs = lay_out(config["tool"]["setuptools"]["package-dir"])
    env = {**os.environ, "MYPYPATH": str(TREE)}
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "-p", "rwbench", *argv]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        for link, source in pairs:
            if line.startswith(link):
                line = source + line[len(link):]
                break
        print(line)
    sys.stderr.write(out.stderr)
    return out.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
