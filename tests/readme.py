"""The commands README.md gives a user, read from its bash blocks and its lifecycle table.

tests/test_readme.py runs them in a fresh fork. A test that runs one of them with checks of its
own (a benchmark's tables, a sweep's folders, the DDP processes) takes it from here with
`readme_command("...")`, which fails once the README stops showing that command; test_readme.py
finds those calls in tests/*.py and leaves each such command to the test that takes it, so that
every README command runs once in the full tier, with the checks of the test that knows what it
must do.
"""

from __future__ import annotations

import ast
import re
import shlex
from functools import cache
from pathlib import Path

TESTS = Path(__file__).resolve().parent
README = TESTS.parent / "README.md"


@cache
def readme_blocks() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(name, commands) of each ```bash block and of the lifecycle table, in README order."""
    text = README.read_text()
    blocks = []
    for match in re.finditer(r"```bash\n(.*?)```", text, re.S):
        line = text[: match.start()].count("\n") + 1
        heading = re.findall(r"^#+ (.*)$", text[: match.start()], re.M)[-1]
        commands = tuple(c for c in match.group(1).splitlines() if c.strip())
        blocks.append((f"{heading} (line {line})", commands))
    lifecycle = text.split("## The lifecycle, command by command")[1].split("\n\n")[1]
    table = tuple(re.findall(r"`((?:python|make) [^`]*)`", lifecycle))
    blocks.append(("lifecycle table", table))
    return tuple(blocks)


def without_comment(command: str) -> str:
    """The command as a shell would run it: without its trailing `# ...` note."""
    return re.sub(r"\s+#\s.*$", "", command).strip()


def readme_commands() -> set[str]:
    """Every command of the README, without its comment."""
    return {without_comment(c) for _, commands in readme_blocks() for c in commands}


def readme_command(command: str) -> list[str]:
    """The words of `command`, a command the README shows exactly so (comment left out)."""
    assert command in readme_commands(), (
        f"README.md no longer shows `{command}`: take the command it shows now"
    )
    return shlex.split(command)


@cache
def taken_commands() -> dict[str, str]:
    """{command: test file} of every `readme_command("...")` call in tests/*.py."""
    taken = {}
    for path in sorted(TESTS.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "readme_command"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                taken[node.args[0].value] = f"tests/{path.name}"
    return taken
