"""The UDx build of docker-compose.yml, run for real (no Docker) on a read-only copy of the source tree.

The ``udx-build`` service mounts the repository read-only at /src and runs its entrypoint with Vertica's
Python. Here the same command runs with this interpreter as ``VERTICA_PYTHON`` against a copy of the tree
that is read-only the way a ``:ro`` mount is: bind-mounted read-only in a private mount namespace
(``unshare``; write bits alone do not stop root), twice (a rebuild replaces the first build). The third-party requirements are
skipped (``UDX_REQUIREMENTS`` = an empty file, ``UDX_NUMBA=0``) so the test needs no network; what the UDx
imports from outside the project is checked against the requirements file instead, in a child process that
records every import made by the ``udx`` and ``sql`` modules.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns(".git", ".venv", ".kafka", "__pycache__", ".pytest_cache", ".hypothesis", "data",
                                 "*.duckdb", "*.duckdb.wal", "build", "dist", "*.egg-info", ".venv-peer")


def _udx_build_service() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["udx-build"]


def _set_writable(tree: Path, writable: bool) -> None:
    for path in [tree, *tree.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode):
            bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
            path.chmod(mode | stat.S_IWUSR if writable else mode & ~bits)


def _read_only(tree: Path, command: list[str]) -> list[str]:
    """``command`` run with ``tree`` bind-mounted read-only over itself, in a mount namespace of its own."""
    return ["unshare", "--map-root-user", "--mount", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"',
            str(tree), *command]


@pytest.fixture
def read_only_tree(tmp_path):
    tree = tmp_path / "src"
    shutil.copytree(ROOT, tree, ignore=IGNORED, symlinks=True)
    _set_writable(tree, False)
    probe = subprocess.run(_read_only(tree, ["touch", str(tree / "probe")]), capture_output=True, text=True,
                           check=False)
    assert probe.returncode != 0 and "Read-only file system" in probe.stderr, (
        f"cannot mount the copy read-only here (unshare): {probe.stderr}")
    yield tree
    _set_writable(tree, True)


def _run(tree: Path, command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_read_only(tree, command), env={**os.environ, "VERTICA_PYTHON": sys.executable, **env},
                          capture_output=True, text=True, timeout=240, check=False)


def _run_compose_build(tree: Path, dest: Path, empty: Path) -> subprocess.CompletedProcess[str]:
    service = _udx_build_service()
    command = [*service["entrypoint"], *service.get("command", [])]
    command = [part.replace("/opt/microstructure/udx", str(dest)).replace("/src", str(tree)) for part in command]
    return _run(tree, command, UDX_REQUIREMENTS=str(empty), UDX_NUMBA="0")


def test_the_compose_udx_build_mounts_the_tree_read_only_and_runs_the_build_script() -> None:
    service = _udx_build_service()
    assert ".:/src:ro" in service["volumes"]
    assert service["entrypoint"][:2] == ["bash", "/src/scripts/vertica/build_udx_deps.sh"]


def test_the_compose_udx_build_works_on_a_read_only_tree_and_again_over_its_own_output(read_only_tree, tmp_path):
    dest, empty = tmp_path / "udx", tmp_path / "empty.txt"
    empty.write_text("# nothing: the test has no network\n")
    for _ in range(2):
        done = _run_compose_build(read_only_tree, dest, empty)
        assert done.returncode == 0, done.stderr
    assert (dest / "vertica_udx.py").read_bytes() == (ROOT / "udx" / "vertica_udx.py").read_bytes()
    site = dest / "site-packages"
    assert (site / "udx" / "transform.py").is_file() and (site / "sql" / "contract.py").is_file()
    assert sorted(p.name for p in (site / "sql" / "vertica").iterdir()) == sorted(
        p.name for p in (ROOT / "sql" / "vertica").iterdir())
    assert not list(site.rglob("__pycache__"))
    assert not [p for p in read_only_tree.rglob("*") if p.name == "build" or p.name.endswith(".egg-info")]
    # the built packages import from the build, not from this checkout
    probe = subprocess.run([sys.executable, "-c", "import udx.vertica_udx, sql; print(sql.__file__)"],
                           cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)},
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == str(site / "sql" / "__init__.py")


def test_a_vertica_python_older_than_the_udx_needs_stops_the_build_with_one_line(read_only_tree, tmp_path):
    script = read_only_tree / "scripts" / "vertica" / "build_udx_deps.sh"
    newer = f"3.{sys.version_info.minor + 1}"  # this interpreter plays a Vertica Python one minor too old
    done = _run(read_only_tree, ["bash", str(script), str(read_only_tree), str(tmp_path / "udx")],
                UDX_MIN_PYTHON=newer)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"the UDx needs {newer} or newer" in lines[0]
    assert not (tmp_path / "udx").exists()


_RECORD_IMPORTS = r"""
import json, sys, traceback
root = sys.argv[1]
seen = set()
class Recorder:
    def find_spec(self, name, path=None, target=None):
        for frame in reversed(traceback.extract_stack()[:-1]):
            if "importlib" in frame.filename or frame.filename.startswith("<"):
                continue
            if frame.filename.startswith((root + "/udx/", root + "/sql/")):
                seen.add(name.split(".")[0])
            break
        return None
sys.meta_path.insert(0, Recorder())
import udx.vertica_udx, udx.transform, sql.settings
print(json.dumps(sorted(seen)))
"""


def _requirement_names() -> set[str]:
    lines = (ROOT / "scripts" / "vertica" / "udx-requirements.txt").read_text().splitlines()
    return {re.split(r"[<>=!~\[ ;]", line.strip(), maxsplit=1)[0].lower().replace("-", "_")
            for line in lines if line.strip() and not line.lstrip().startswith("#")}


def test_the_udx_requirements_cover_every_outside_package_the_udx_modules_import(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-c", _RECORD_IMPORTS, str(ROOT)], cwd=ROOT, capture_output=True,
                          text=True, check=True, env={**os.environ, "NUMBA_DISABLE_JIT": "1"})
    imported = set(json.loads(done.stdout))
    outside = imported - set(sys.stdlib_module_names) - {"udx", "sql"}
    # numba: installed apart, optional; vertica_sdk: Vertica's own; pandas: pyarrow imports it from C when it
    # is installed (so the recorder sees the udx caller), and does without it
    optional = {"numba", "vertica_sdk", "pandas"}
    assert outside - optional <= _requirement_names(), outside
    assert {"numpy", "pyarrow", "scipy", "pydantic", "pydantic_settings"} <= outside  # the recorder sees them
    if "zoneinfo" in imported:
        assert "tzdata" in _requirement_names()
