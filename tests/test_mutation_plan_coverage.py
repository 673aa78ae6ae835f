"""The standing mutation plan covers the modules it mutates (issue 16 point 4).

A module is in scope when some group of ``scripts/mutation`` mutates it and some ``[[run]]`` of
``mutation/plan.toml`` selects its mutants. Every function mutmut 3.8 mutates there (rebuilt with :mod:`ast` by
the registry test's rules, no mutmut run) must be selected by the globs of a row whose group mutates the module,
else its mutants are in no score and nobody sees them; and by at most one row that counts in the total, else its
mutants count twice. Functions left out on purpose are listed in ``LEFT_OUT`` with the reason.
"""

from __future__ import annotations

from pathlib import Path

from test_mutation_command import _groups  # the groups of scripts/mutation (pytest puts tests/ on sys.path)
from test_mutation_command import _plan_module as _plan  # scripts/mutation_plan.py
from test_mutation_registry import mutated_functions  # the registry test's name rules

ROOT = Path(__file__).resolve().parents[1]

#: mutmut's full function prefix (``module.x_func`` or ``module.xǁClassǁmethod``) -> why no row selects it.
#: A row that selects one of them fails test_the_left_out_functions_exist_and_are_in_no_row: then its entry goes.
#: Empty: every function of a module in scope is in a row (udx/transform.py's five realized and daily-metrics helpers
#: since branch mutxform's transform rows, merged into main at e84fd1e).
LEFT_OUT: dict[str, str] = {}


def _dotted(path: str) -> str:
    return path[: -len(".py")].replace("/", ".")


def coverage(runs: list, groups: dict[str, tuple[list[str], list[str], str]], functions_of, matches) -> tuple[
        dict[str, list[str]], dict[str, list[str]]]:
    """``(rows by function, in-total rows by function)`` for every mutated function of every module in scope.

    ``functions_of(module)`` gives a module's mangled function names, ``matches(name, globs)`` is the plan's
    selection of a mutant name; a function is selected by a row when its first mutant's name is.
    """
    rows: dict[str, list[str]] = {}
    counted: dict[str, list[str]] = {}
    modules_of = {run.label: {_dotted(m) for m in groups[run.group][0]} for run in runs}
    in_scope = sorted({m for run in runs for m in modules_of[run.label]
                       if any(matches(f"{m}.{f}__mutmut_1", run.globs) for f in functions_of(m))})
    for module in in_scope:
        for function in sorted(functions_of(module)):
            key = f"{module}.{function}"
            rows[key] = [run.label for run in runs
                         if module in modules_of[run.label] and matches(f"{key}__mutmut_1", run.globs)]
            counted[key] = [run.label for run in runs if run.label in rows[key] and run.in_total]
    return rows, counted


def _functions_of(module: str) -> set[str]:
    return mutated_functions((ROOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))


def _coverage() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    plan = _plan()
    return coverage(plan.load_plan(), _groups(), _functions_of, plan.matches)


def test_every_mutated_function_of_a_planned_module_is_in_a_row() -> None:
    rows, _ = _coverage()
    holes = sorted(f for f, labels in rows.items() if not labels and f not in LEFT_OUT)
    assert holes == [], f"{len(holes)} mutated functions in no row of mutation/plan.toml: {holes}"


def test_no_function_counts_in_two_rows_of_the_total() -> None:
    _, counted = _coverage()
    twice = {f: labels for f, labels in counted.items() if len(labels) > 1}
    assert twice == {}, f"functions whose mutants count in two rows of the total: {twice}"


def test_the_left_out_functions_exist_and_are_in_no_row() -> None:
    rows, _ = _coverage()
    assert [f for f in LEFT_OUT if f not in rows] == [], "LEFT_OUT names a function no module in scope has"
    assert {f: rows[f] for f in LEFT_OUT if rows[f]} == {}, "LEFT_OUT names a function a row selects now"


def test_a_glob_taken_from_a_row_leaves_its_functions_named() -> None:
    class Run:
        def __init__(self, label: str, group: str, globs: list[str], in_total: bool = True) -> None:
            self.label, self.group, self.globs, self.in_total = label, group, globs, in_total

    groups = {"g": (["m.py"], [], ""), "h": (["n.py"], [], "")}
    functions = {"m": {"x_f", "x_g", "xǁCǁh"}, "n": {"x_k"}}
    plan = _plan()
    runs = [Run("one", "g", ["m.x_f*"]), Run("two", "g", ["m.xǁC*", "m.x_f*"], in_total=False)]
    rows, counted = coverage(runs, groups, functions.__getitem__, plan.matches)
    assert rows == {"m.x_f": ["one", "two"], "m.x_g": [], "m.xǁCǁh": ["two"]}  # n: no row selects it, not in scope
    assert counted["m.x_f"] == ["one"]
    runs.append(Run("all", "h", []))  # no globs: every mutant of the group
    rows, _ = coverage(runs, groups, functions.__getitem__, plan.matches)
    assert rows["n.x_k"] == ["all"]
