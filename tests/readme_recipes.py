"""Reading the README's recipes, so that tests run them as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_block(heading: str) -> list[str]:
    """The lines of the first ``bash`` code block after ``heading`` in README.md."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(f"\n{heading}\n"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, f"no bash block under {heading}"
    return block.group(1).splitlines()


def recipe_commands(lines: list[str]) -> list[tuple[list[str], bool]]:
    """``(argv, background)`` of every ``microstructure`` line, comments removed."""
    commands = []
    for line in lines:
        command = line.split("#", 1)[0].strip()
        if command.startswith("microstructure "):
            background = command.endswith("&")
            commands.append((shlex.split(command.rstrip("&")), background))
    return commands
