"""The README's plugin example works as written: the file registers, passes check-plugin and runs."""

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
    assert re.search(r"passed (all 10 checks|9 of 10 checks, 1 skipped \(cpu_cuda: CUDA is not available\))", out)
    assert "FAIL" not in out
    assert FRONTENDS.get("two_layer").dim("small") == 160


def test_readme_commands_name_real_options():
    text = README.read_text()
    bench = Path(__file__).resolve().parents[1] / "bench"
    commands = ("cli.py", "reproduce_cli.py", "search_cli.py")  # reproduce's and search's options live beside cli.py
    cli_text = "".join((bench / name).read_text() for name in commands)
    for option in re.findall(r"(--[a-z][a-z-]+)", text):
        if option in ("--index-url", "--help", "--no-deps", "--model", "--tasks-dir"):  # pip's; heareval's
            continue
        assert option in cli_text, option
