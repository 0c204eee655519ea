"""The root command imports a command's module only when that command runs."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

from click.testing import CliRunner

import nerloop.tui.cli as cli_package
from nerloop.tui.cli import COMMAND_MODULES, main


def test_every_command_is_mapped_to_the_module_that_defines_it() -> None:
    for info in pkgutil.iter_modules(cli_package.__path__):
        importlib.import_module(f"nerloop.tui.cli.{info.name}")
    defined = {
        name: command.callback.__module__.rsplit(".", 1)[1]
        for name, command in main.commands.items()
        if command.callback is not None
    }
    # A group (taxonomy) has a callback too; every command and group must be in the map.
    assert set(main.commands) == set(COMMAND_MODULES)
    for name, module in defined.items():
        assert COMMAND_MODULES[name] == module, name


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMAND_MODULES:
        assert f"  {name} " in result.output, name


def test_a_command_loads_only_its_own_module() -> None:
    code = (
        "import sys\n"
        "from nerloop.tui.cli import main\n"
        "try:\n"
        "    main(['stats', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "mods = [m for m in sys.modules if m.startswith('nerloop.tui.cli.')]\n"
        "print(sorted(mods), 'httpx' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = out.stdout.strip().splitlines()[-1]
    assert line == "['nerloop.tui.cli.base', 'nerloop.tui.cli.project_cmds'] False", line
