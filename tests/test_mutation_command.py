"""The mutation-testing command of README/TESTING.md exists and names real modules and tests (its full run
is not part of the suite: TESTING.md gives its time)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "mutation"


def _groups() -> dict[str, tuple[list[str], list[str], str]]:
    loader = importlib.machinery.SourceFileLoader("mutation_command", str(SCRIPT))
    spec = importlib.util.spec_from_loader("mutation_command", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.GROUPS  # type: ignore[no-any-return]


def test_every_group_names_modules_and_tests_that_exist() -> None:
    groups = _groups()
    assert {"kernels", "pipeline", "storage", "server", "loader"} <= set(groups)
    for modules, tests, _ in groups.values():
        assert modules and all((ROOT / m).is_file() for m in modules)
        assert tests and all((ROOT / t).exists() for t in tests)


def test_the_command_documents_itself() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=True)
    assert "kernels" in done.stdout and "--max-children" in done.stdout


def test_leaving_out_a_file_that_is_not_a_test_of_the_group_is_refused() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "count-z", "--leave-out", "tests/udx/test_bars.py"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "not a test of group count-z: tests/udx/test_bars.py" in done.stderr


def test_the_readme_recipe_names_real_groups_and_the_extra_it_installs() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Testing"):readme.index("## Layout")]
    groups = _groups()
    commands = re.findall(r"^scripts/mutation (\S+)", section, re.M)
    named = re.findall(r"`([a-z][a-z-]+)`", section[section.index("lists the groups"):section.index("a glob runs")])
    assert commands and named
    assert set(commands) <= groups.keys(), sorted(set(commands) - groups.keys())
    assert set(named) <= groups.keys(), sorted(set(named) - groups.keys())
    extra = re.search(r"-e '\.\[(\w+)\]'", section)
    assert extra is not None and f"\n{extra.group(1)} = [" in (ROOT / "pyproject.toml").read_text()
