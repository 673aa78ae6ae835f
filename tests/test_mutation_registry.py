"""The equivalent-mutant registry (``mutation/equivalents/<dotted module>.toml``, issue 16 point 4).

``scripts/mutation`` leaves a judged-equivalent mutant out of a row's score by its name, so a name must be one
mutmut 3.8 gives a function of the module as it is today, and its line of why must be there. Checked without
running mutmut: each module is read with :mod:`ast` and the names mutmut would give its functions are rebuilt
from mutmut's rules (``x_<function>``, ``xǁ<Class>ǁ<method>``; decorated functions other than a lone
``@staticmethod``/``@classmethod``, and the methods of enum classes, are not mutated).
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "mutation" / "equivalents"
SEPARATOR = "\u01c1"  # mutmut's CLASS_NAME_SEPARATOR, "ǁ"
_ENUM_BASES = {"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag"}
#: ``# <file> — TESTING.md "<subsection>" (<date>)`` (anything may follow the date)
_HEADER = re.compile(r'^# (?P<path>\S+\.py) — TESTING\.md "(?P<title>[^"]+)" \((?P<date>\d{4}-\d{2}-\d{2})\)')
_NAME = re.compile(r"^(?P<mangled>x(?:_[A-Za-z_]\w*|\u01c1[A-Za-z_]\w*\u01c1[A-Za-z_]\w*))__mutmut_(?P<n>[1-9]\d*)$")

FILES = sorted(REGISTRY.glob("*.toml"))


def _mutated(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """mutmut 3.8 mutates a function without decorators, or with a lone bare ``staticmethod``/``classmethod``."""
    if not fn.decorator_list:
        return True
    only = fn.decorator_list[0]
    return len(fn.decorator_list) == 1 and isinstance(only, ast.Name) and only.id in ("staticmethod", "classmethod")


def mutated_functions(source: str) -> set[str]:
    """The mangled names mutmut gives the functions of a module's source (top-level functions, methods of
    top-level classes)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _mutated(node):
            names.add(f"x_{node.name}")
        elif isinstance(node, ast.ClassDef):
            bases = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in node.bases}
            if bases & _ENUM_BASES:
                continue
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and _mutated(item):
                    names.add(f"x{SEPARATOR}{node.name}{SEPARATOR}{item.name}")
    return names


def problems(module: str, entries: dict[str, object], functions: set[str]) -> list[str]:
    """What is wrong with a registry file's entries for ``module`` whose mutated functions are ``functions``."""
    found = []
    for key, why in entries.items():
        if not key.startswith(module + "."):
            found.append(f"{key}: not a mutant of {module}")
            continue
        match = _NAME.match(key[len(module) + 1:])
        if match is None:
            found.append(f"{key}: not a mutmut name (module.x_func__mutmut_N or module.x{SEPARATOR}Class{SEPARATOR}method__mutmut_N)")
        elif match["mangled"] not in functions:
            found.append(f"{key}: {module} has no mutated function {match['mangled']}")
        if not isinstance(why, str) or not why.strip() or "\n" in why or "\r" in why:
            found.append(f"{key}: the reason must be one non-empty line, got {why!r}")
    return found


def _module_source(module: str) -> str:
    path = ROOT / (module.replace(".", "/") + ".py")
    assert path.is_file(), f"{module}: no such module ({path.relative_to(ROOT)})"
    return path.read_text(encoding="utf-8")


def _headings() -> list[str]:
    text = (ROOT / "TESTING.md").read_text(encoding="utf-8")
    return [line[4:].replace("`", "") for line in text.splitlines() if line.startswith("### ")]


def test_the_registry_has_files() -> None:
    assert FILES, f"no registry files in {REGISTRY.relative_to(ROOT)}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_entry_names_a_mutant_of_a_function_the_module_has_with_one_line_of_why(path: Path) -> None:
    entries = tomllib.loads(path.read_text(encoding="utf-8"))  # a file that does not parse fails here
    module = path.stem
    assert problems(module, entries, mutated_functions(_module_source(module))) == []


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_file_opens_with_the_testing_md_subsections_it_comes_from(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    headers = [m for m in map(_HEADER.match, lines) if m]
    assert lines and _HEADER.match(lines[0]), f"{path.name}: the first line must be the header comment"
    module_path = path.stem.replace(".", "/") + ".py"
    headings = _headings()
    for h in headers:
        assert h["path"] == module_path, f"{path.name}: the header names {h['path']}"
        title = h["title"].replace("`", "")
        assert any(heading.startswith(f"{title} ({h['date']}") for heading in headings), (
            f"{path.name}: TESTING.md has no subsection \"{h['title']}\" dated {h['date']}")


def test_the_name_rules_refuse_what_mutmut_does_not_name() -> None:
    source = (
        "import enum\n\n\n"
        "def f(x):\n    return x\n\n\n"
        "@property\ndef g(x):\n    return x\n\n\n"
        "class C:\n"
        "    def m(self):\n        return 1\n\n"
        "    @staticmethod\n    def s():\n        return 1\n\n"
        "    @property\n    def p(self):\n        return 1\n\n\n"
        "class E(enum.Enum):\n    A = 1\n\n    def e(self):\n        return 1\n")
    functions = mutated_functions(source)
    assert functions == {"x_f", f"x{SEPARATOR}C{SEPARATOR}m", f"x{SEPARATOR}C{SEPARATOR}s"}
    ok = {"m.x_f__mutmut_3": "why", f"m.x{SEPARATOR}C{SEPARATOR}m__mutmut_12": "why"}
    assert problems("m", ok, functions) == []
    bad = {
        "m.x_f__mutmut_0": "no mutant 0",
        "m.x_f_mutmut_3": "one underscore",
        "m.x|C|m__mutmut_1": "ASCII bar",
        "m.xǁCǁp__mutmut_1": "a property is not mutated",
        "m.x_g__mutmut_1": "decorated",
        "n.x_f__mutmut_1": "another module",
        "m.x_f__mutmut_4": "",
        "m.x_f__mutmut_5": "two\nlines",
    }
    assert len(problems("m", bad, functions)) == len(bad)
