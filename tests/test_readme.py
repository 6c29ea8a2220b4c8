"""The README's plugin example works as written: the file registers, passes check-plugin and runs."""

import argparse
import re
from pathlib import Path

from rwbench.cli import main
from rwbench.frontend import FRONTENDS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_plugin_example_passes_check_plugin(tmp_path, capsys):
    blocks = re.findall(r"```python\n(# my_frontend.py\n.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1, "the README's plugin example is missing"
    plugin = tmp_path / "my_frontend.py"
    plugin.write_text(blocks[0])
    assert main(["check-plugin", "two_layer", "--plugin", str(plugin)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"passed (all 16 checks|15 of 16 checks, 1 skipped \(cpu_cuda: CUDA is not available\))", out)
    assert "FAIL" not in out
    assert FRONTENDS.get("two_layer").dim("small") == 160


def parser_options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of ``parser`` and of its subcommands, however deep."""
    found = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= parser_options(sub)
    return found


def test_readme_commands_name_real_options():
    from rwbench.cli import build_parser

    options = parser_options(build_parser())
    assert {"--seeds", "--width", "--results", "--lrs", "--proxy-seeds"} <= options  # the walk reaches subcommands
    for option in re.findall(r"(--[a-z][a-z-]+)", README.read_text()):
        if option in ("--index-url", "--help", "--no-deps", "--model", "--tasks-dir"):  # pip's; heareval's
            continue
        assert option in options, option


def test_readme_folder_dataset_options_are_the_loaders():
    """The `folder` paragraph names the loader's options and defaults (its 10-s crop/pad was in the docstring only)."""
    import inspect

    from rwbench.datamodel import DATASETS

    (text,) = re.findall(r"A `folder` dataset reads .*?\n\n", README.read_text(), re.S)
    named = set(re.findall(r"`(\w+)(?:` \(|=)", text))  # `k` (10), `classes=a,b`
    parameters = inspect.signature(DATASETS.get("folder").build).parameters
    assert named == {"k", "seed", "seconds", "classes", "name"}, named
    assert named <= set(parameters) and "pad" in parameters
    assert parameters["seconds"].default == 10 and parameters["pad"].default == "zero" and "`zero` or `repeat`" in text
