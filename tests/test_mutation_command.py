"""The mutation-testing command of README/TESTING.md exists and names real modules and tests (its full run
is not part of the suite: TESTING.md gives its time)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
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
    assert "all" in commands  # the standing run of the whole plan
    assert set(commands) - {"all"} <= groups.keys(), sorted(set(commands) - {"all"} - groups.keys())
    assert set(named) <= groups.keys(), sorted(set(named) - groups.keys())
    extra = re.search(r"-e '\.\[(\w+)\]'", section)
    assert extra is not None and f"\n{extra.group(1)} = [" in (ROOT / "pyproject.toml").read_text()


# ``scripts/mutation all``: the standing run of mutation/plan.toml (scripts/mutation_plan.py)

def _plan_module():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import mutation_plan
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return mutation_plan


def test_the_plan_names_real_groups_globs_and_judge_files() -> None:
    plan = _plan_module()
    groups = _groups()
    runs = plan.load_plan()
    assert len(runs) >= 50 and len({r.label for r in runs}) == len(runs)
    for run in runs:
        assert run.group in groups, run.label
        modules, tests, _ = groups[run.group]
        dotted = {m[:-3].replace("/", ".") for m in modules}
        for glob in run.globs:  # a glob names a mutant of the group's modules
            assert any(glob.startswith(d) for d in dotted), (run.label, glob)
        assert all((ROOT / f).is_file() for f in run.judge), run.label
        assert all((ROOT / f).is_file() for files in run.judge_if_set.values() for f in files), run.label
        assert set(run.leave_out) <= set(tests), run.label


def test_all_lists_the_plan_and_refuses_an_unknown_label() -> None:
    listed = subprocess.run([sys.executable, str(SCRIPT), "all", "--list"], capture_output=True, text=True, check=True)
    labels = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    assert {"security", "queries", "state", "state-cache", "rest", "auth"} <= set(labels)
    only = subprocess.run([sys.executable, str(SCRIPT), "all", "--list", "--only", "rest", "auth"],
                          capture_output=True, text=True, check=True)
    assert [line.split("\t")[0] for line in only.stdout.splitlines()] == ["auth", "rest"]  # plan order
    bad = subprocess.run([sys.executable, str(SCRIPT), "all", "--only", "no-such-row"], capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 2 and "not a label of the plan: no-such-row" in bad.stderr
    helped = subprocess.run([sys.executable, str(SCRIPT), "all", "--help"], capture_output=True, text=True, check=True)
    assert "--only" in helped.stdout and "--report" in helped.stdout and "--max-children" in helped.stdout


def test_every_registry_file_is_of_its_module_with_a_reason_and_a_header() -> None:
    plan = _plan_module()
    registry = plan.load_registry()
    assert registry
    for path in sorted((ROOT / "mutation" / "equivalents").glob("*.toml")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(f"# {path.stem.replace('.', '/')}.py — TESTING.md \""), path.name
        assert re.search(r"\(20\d\d-\d\d-\d\d", first), path.name  # the date of the measurement


def test_a_registry_key_of_another_module_is_refused(tmp_path: Path) -> None:
    plan = _plan_module()
    (tmp_path / "sql.queries.toml").write_text('"sql.other.x__parse__mutmut_1" = "why"\n', encoding="utf-8")
    try:
        plan.load_registry(tmp_path)
    except ValueError as error:
        assert "not a mutant of sql.queries" in str(error)
    else:
        raise AssertionError("a key of another module was accepted")


def _fake_results(tmp_path: Path, plan):  # type: ignore[no-untyped-def]
    """A group ``g`` of module ``pkg/mod.py`` with nine mutants of two functions, as mutmut leaves them."""
    codes = {"pkg.mod.x_f__mutmut_1": 1, "pkg.mod.x_f__mutmut_2": 36, "pkg.mod.x_f__mutmut_3": 0,
             "pkg.mod.x_f__mutmut_4": 0, "pkg.mod.x_f__mutmut_5": 0, "pkg.mod.x_f__mutmut_6": None,
             "pkg.mod.xǁCǁm__mutmut_1": -11, "pkg.mod.xǁCǁm__mutmut_2": 0, "pkg.mod.xǁCǁm__mutmut_3": 1}
    meta = tmp_path / "g" / "mutants" / "pkg" / "mod.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes, "hash_by_function_name": {"x_f": "aaa", "xǁCǁm": "bbb"},
                                "type_check_error_by_key": {}, "durations_by_key": {},
                                "estimated_durations_by_key": {}}), encoding="utf-8")
    plan._GROUPS.clear()
    plan._GROUPS["g"] = (["pkg/mod.py"], ["tests/t.py"], "not slow")
    # x_f 3 judged killed by name; C.m 1 (a segfault verdict) killed by name by a timeout; x_f 5 survives by name; a verdict of
    # another function hash (the function changed since) does not count: x_f 4 is open, not judged
    judged = {plan.verdict_key("pkg.mod.x_f__mutmut_3", "aaa", ["tests/t.py"]): {"verdict": "killed"},
              plan.verdict_key("pkg.mod.xǁCǁm__mutmut_1", "bbb", ["tests/t.py"]): {"verdict": "timeout"},
              plan.verdict_key("pkg.mod.x_f__mutmut_5", "aaa", ["tests/t.py"]): {"verdict": "survived"},
              plan.verdict_key("pkg.mod.x_f__mutmut_4", "old", ["tests/t.py"]): {"verdict": "killed"}}
    (tmp_path / "judged.json").write_text(json.dumps(judged), encoding="utf-8")
    (tmp_path / "times.jsonl").write_text(
        json.dumps({"label": "f", "group": "g", "wall": 10.0, "cpu": 4.0}) + "\n"
        + json.dumps({"label": "f", "group": "g", "wall": 30.0, "cpu": 12.0}) + "\n"  # the latest run counts
        + json.dumps({"label": "m", "group": "g", "wall": 5.0, "cpu": 1.0}) + "\n", encoding="utf-8")
    # C.m 2 equivalent and surviving; C.m 3 registered but killed now; x_f 9 registered but gone: both stale
    return {"pkg.mod.xǁCǁm__mutmut_2": "why", "pkg.mod.xǁCǁm__mutmut_3": "why", "pkg.mod.x_f__mutmut_9": "why"}


def test_a_verdict_by_name_is_not_reused_once_a_judge_file_changed(tmp_path: Path) -> None:
    plan = _plan_module()
    (tmp_path / "tests").mkdir()
    judge = tmp_path / "tests" / "t.py"
    judge.write_text("def test_a(): pass\n", encoding="utf-8")
    before = plan.verdict_key("pkg.mod.x_f__mutmut_3", "aaa", ["tests/t.py"], root=tmp_path)
    assert plan.verdict_key("pkg.mod.x_f__mutmut_3", "aaa", ["tests/t.py"], root=tmp_path) == before
    judge.write_text("def test_a(): pass\ndef test_b(): assert 0\n", encoding="utf-8")  # a test added to kill it
    assert plan.verdict_key("pkg.mod.x_f__mutmut_3", "aaa", ["tests/t.py"], root=tmp_path) != before
    # the mutant, its function's hash and the files' names still tell verdicts apart
    keys = {plan.verdict_key(n, h, f, root=tmp_path) for n, h, f in [
        ("pkg.mod.x_f__mutmut_3", "aaa", ["tests/t.py"]), ("pkg.mod.x_f__mutmut_4", "aaa", ["tests/t.py"]),
        ("pkg.mod.x_f__mutmut_3", "bbb", ["tests/t.py"]), ("pkg.mod.x_f__mutmut_3", "aaa", ["tests/u.py"])]}
    assert len(keys) == 4


def test_the_report_counts_a_fake_results_set(tmp_path: Path) -> None:
    plan = _plan_module()
    registry = _fake_results(tmp_path, plan)
    runs = [plan.Run(label="f", group="g", row="f", globs=["pkg.mod.x_f*"], judge=["tests/t.py"]),
            plan.Run(label="m", group="g", row="m", globs=["pkg.mod.xǁCǁm*"], judge=["tests/t.py"])]
    text, status = plan.report(runs, registry, tmp_path)
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| ")]
    rows = {c[0]: c for c in cells}
    # f: 6 mutants; killed by mutmut 2 (1 and the timeout 2), by name 1 (3); open 4 (stale verdict) and 5; not run 1 (6)
    # checked 5, killed 3: raw 60.0 %, no equivalent: score 60.0 %; wall/cpu of its latest run
    assert rows["f"][2:12] == ["6", "2", "1", "0", "2", "1", "60.0 %", "60.0 %", "30.0", "12.0"]
    # m: 3 mutants; by mutmut 1 (3), by name 1 (the segfault verdict 1), equivalent 1 (2): raw 2/3, score 2/2
    assert rows["m"][2:10] == ["3", "1", "1", "1", "0", "0", "66.7 %", "100.0 %"]
    assert rows["**total** (rows with `in_total`)"][2:12] == ["9", "3", "2", "1", "2", "1", "62.5 %", "71.4 %",
                                                              "35", "13"]
    assert "open: pkg.mod.x_f__mutmut_4 (survived; by name: not judged)" in text
    assert "open: pkg.mod.x_f__mutmut_5 (survived; by name: survived)" in text
    assert "stale registry entry: pkg.mod.x_f__mutmut_9 (no such mutant)" in text
    assert "stale registry entry: pkg.mod.xǁCǁm__mutmut_3 (killed by mutmut)" in text
    assert status == 1


def test_a_row_with_every_survivor_killed_or_equivalent_passes(tmp_path: Path) -> None:
    plan = _plan_module()
    registry = _fake_results(tmp_path, plan)
    del registry["pkg.mod.xǁCǁm__mutmut_3"]
    text, status = plan.report([plan.Run(label="m", group="g", row="m", globs=["pkg.mod.xǁCǁm*"],
                                         judge=["tests/t.py"])], registry, tmp_path)
    assert status == 0 and "open:" not in text and "stale" not in text
    assert "Registry entries in no row of the plan" in text and "- pkg.mod.x_f__mutmut_9" in text


def test_a_failed_mutmut_run_is_named_in_its_row(tmp_path: Path) -> None:
    plan = _plan_module()
    registry = _fake_results(tmp_path, plan)
    with (tmp_path / "times.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps({"label": "m", "group": "g", "wall": 7.0, "cpu": 2.0, "exit": 1}) + "\n")
    text, _ = plan.report([plan.Run(label="m", group="g", row="m", globs=["pkg.mod.xǁCǁm*"], judge=["tests/t.py"])],
                          registry, tmp_path)
    assert "- the latest mutmut run exited 1: see `.mutation/logs/m.log`" in text


def test_only_unchecked_mutants_and_changed_or_new_functions_go_to_mutmut_again(tmp_path: Path) -> None:
    """mutmut 3.8 tests again every mutant named on its command line: the plan names only what needs it."""
    import pytest

    file_mutation = pytest.importorskip("mutmut.mutation.file_mutation")
    plan = _plan_module()
    old = "def f(x):\n    return x + 1\n\ndef g(x):\n    return x * 2\n\n@cached\ndef h():\n    return 3\n"
    new = old.replace("x * 2", "x * 3") + "\ndef k(x):\n    return x - 1\n"
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(new, encoding="utf-8")
    hashes = file_mutation.compute_function_hashes(old)
    codes = {"pkg.mod.x_f__mutmut_1": 1, "pkg.mod.x_f__mutmut_2": None, "pkg.mod.x_g__mutmut_1": 0}
    meta = tmp_path / "g" / "mutants" / "pkg" / "mod.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes,
                                "hash_by_function_name": {"x_f": hashes["x_f"], "x_g": hashes["x_g"]}}), encoding="utf-8")
    plan._GROUPS.clear()
    plan._GROUPS["g"] = (["pkg/mod.py"], ["tests/t.py"], "not slow")
    run = plan.Run(label="r", group="g", row="r", globs=["pkg.mod*"])
    (tmp_path / "g" / "functions.json").write_text(json.dumps({"pkg/mod.py": hashes}), encoding="utf-8")
    # f unchanged: only its unchecked mutant; g changed: all of it; k new: all of it; h (decorated, unmutated): none
    assert plan.mutants_to_run(run, tmp_path / "g", tmp_path) == [
        "pkg.mod.x_g__mutmut_*", "pkg.mod.x_k__mutmut_*", "pkg.mod.x_f__mutmut_2"]
    only_f = plan.Run(label="r", group="g", row="r", globs=["pkg.mod.x_f*"])
    assert plan.mutants_to_run(only_f, tmp_path / "g", tmp_path) == ["pkg.mod.x_f__mutmut_2"]
    (tmp_path / "pkg" / "mod.py").write_text(old, encoding="utf-8")
    codes["pkg.mod.x_f__mutmut_2"] = 1
    meta.write_text(json.dumps({"exit_code_by_key": codes,
                                "hash_by_function_name": {"x_f": hashes["x_f"], "x_g": hashes["x_g"]}}), encoding="utf-8")
    assert plan.mutants_to_run(run, tmp_path / "g", tmp_path) == []  # nothing to run: no mutmut start
    assert plan.mutants_to_run(run, tmp_path / "cold", tmp_path) is None  # no results yet: the row's globs


def test_survivors_are_judged_with_the_trees_tests_not_the_group_copys_old_text(tmp_path: Path) -> None:
    """mutmut refreshes ``.mutation/GROUP/mutants/tests`` only when it runs: a judge file edited since must be
    the one the runs by name use (it was not: a killed mutant stayed open under the new text's hash)."""
    plan = _plan_module()
    root, work = tmp_path / "tree", tmp_path / "work"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_t.py").write_text("def test_a():\n    pass\n", encoding="utf-8")
    copy = work / "g" / "mutants"
    (copy / "tests").mkdir(parents=True)
    (copy / "tests" / "test_t.py").write_text("def test_a():\n    assert 0\n", encoding="utf-8")  # the old text
    (copy / "pkg").mkdir()
    (copy / "pkg" / "mod.py.meta").write_text(json.dumps({"exit_code_by_key": {"pkg.mod.x_f__mutmut_1": 0},
                                                          "hash_by_function_name": {"x_f": "aaa"}}), encoding="utf-8")
    plan._GROUPS.clear()
    plan._GROUPS["g"] = (["pkg/mod.py"], ["tests/test_t.py"], "not slow")
    run = plan.Run(label="f", group="g", row="f", globs=["pkg.mod.x_f*"], judge=["tests/test_t.py"])
    plan.judge(run, {}, work, root)
    judged = json.loads((work / "judged.json").read_text(encoding="utf-8"))
    key = plan.verdict_key("pkg.mod.x_f__mutmut_1", "aaa", ["tests/test_t.py"], root)
    # the tree's passing test ran (the control run passed, the mutant survived it), not the copy's failing one
    assert judged[key]["verdict"] == "survived"


def test_judge_files_given_for_an_environment_variable_join_only_while_it_is_set(monkeypatch) -> None:
    """A row that runs without a broker (``needs_env`` empty) judges its survivors with the broker files as well
    only when ``KAFKA_BOOTSTRAP_SERVERS`` is given (without it their tests would start a broker per run)."""
    plan = _plan_module()
    run = plan.Run(label="f", group="g", row="f", judge=["tests/a.py", "tests/b.py"],
                   judge_if_set={"KAFKA_BOOTSTRAP_SERVERS": ["tests/k.py", "tests/b.py"], "OTHER_ENV": ["tests/o.py"]})
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("OTHER_ENV", raising=False)
    assert plan.judge_files(run) == ["tests/a.py", "tests/b.py"]
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "")  # set but empty: not a broker
    assert plan.judge_files(run) == ["tests/a.py", "tests/b.py"]
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert plan.judge_files(run) == ["tests/a.py", "tests/b.py", "tests/k.py"]  # each file once
    plan._GROUPS.clear()
    plan._GROUPS["g"] = (["pkg/mod.py"], ["tests/g.py", "tests/left.py"], "not slow")
    grouped = plan.Run(label="f", group="g", row="f", leave_out=["tests/left.py"],
                       judge_if_set={"KAFKA_BOOTSTRAP_SERVERS": ["tests/k.py"]})
    assert plan.judge_files(grouped) == ["tests/g.py", "tests/k.py"]  # the group's files, then the extra ones
    loader_run = next(r for r in plan.load_plan() if r.label == "loader-run")
    assert not loader_run.needs_env and "tests/ingest/test_loader_run.py" not in loader_run.judge
    assert "tests/ingest/test_loader_run.py" in loader_run.judge_if_set["KAFKA_BOOTSTRAP_SERVERS"]


def test_a_judge_file_edited_while_survivors_are_run_does_not_take_their_verdicts(tmp_path: Path, monkeypatch) -> None:
    """The survivors run with the judge files as copied when the judging began; a test added meanwhile (to kill
    one of them) must judge them again, so their verdicts are cached under the text they ran with (they were cached
    under the new text: helper loaderrun's run, ``_take_each`` 34 and others "survived" a test that kills them)."""
    plan = _plan_module()
    root, work = tmp_path / "tree", tmp_path / "work"
    (root / "tests").mkdir(parents=True)
    judge_file = root / "tests" / "test_t.py"
    judge_file.write_text("def test_a():\n    pass\n", encoding="utf-8")
    copy = work / "g" / "mutants"
    (copy / "pkg").mkdir(parents=True)
    (copy / "pkg" / "mod.py.meta").write_text(json.dumps({"exit_code_by_key": {"pkg.mod.x_f__mutmut_1": 0},
                                                          "hash_by_function_name": {"x_f": "aaa"}}), encoding="utf-8")
    plan._GROUPS.clear()
    plan._GROUPS["g"] = (["pkg/mod.py"], ["tests/test_t.py"], "not slow")
    run = plan.Run(label="f", group="g", row="f", globs=["pkg.mod.x_f*"], judge=["tests/test_t.py"])
    before = plan.verdict_key("pkg.mod.x_f__mutmut_1", "aaa", ["tests/test_t.py"], root)

    def pytest_run(workdir: Path, run: object, files: list[str], mutant: str, timeout: float) -> tuple[str, float]:
        if mutant:  # the edit lands while the mutant runs with the old text
            judge_file.write_text("def test_a():\n    pass\ndef test_b():\n    assert 0\n", encoding="utf-8")
        return "survived", 0.1

    monkeypatch.setattr(plan, "_pytest", pytest_run)
    plan.judge(run, {}, work, root)
    judged = json.loads((work / "judged.json").read_text(encoding="utf-8"))
    after = plan.verdict_key("pkg.mod.x_f__mutmut_1", "aaa", ["tests/test_t.py"], root)
    assert before != after and set(judged) == {before}  # the new text has no verdict yet: judged again next time


def test_a_verdict_is_added_to_the_verdicts_other_runs_wrote_meanwhile(tmp_path: Path) -> None:
    """Two runs of the plan in one tree (rows of different groups) share ``judged.json``: a verdict is added to what
    the file holds when it is written, not to what the run read at its start."""
    plan = _plan_module()
    cache = tmp_path / "judged.json"
    plan.record_verdict(cache, "mine-1", {"verdict": "killed"})
    other = json.loads(cache.read_text(encoding="utf-8"))
    other["theirs"] = {"verdict": "survived"}  # another run's verdict, written after this run's first one
    cache.write_text(json.dumps(other), encoding="utf-8")
    plan.record_verdict(cache, "mine-2", {"verdict": "killed"})
    assert json.loads(cache.read_text(encoding="utf-8")) == {
        "mine-1": {"verdict": "killed"}, "theirs": {"verdict": "survived"}, "mine-2": {"verdict": "killed"}}


def test_verdicts_written_by_two_processes_at_once_are_all_kept(tmp_path: Path) -> None:
    cache = tmp_path / "judged.json"
    writer = ("import sys; sys.path.insert(0, sys.argv[1]); import mutation_plan as p; from pathlib import Path\n"
              "for i in range(60): p.record_verdict(Path(sys.argv[2]), f'{sys.argv[3]}-{i}', {'verdict': 'killed'})")
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(ROOT / "scripts"), str(cache), who])
             for who in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert set(json.loads(cache.read_text(encoding="utf-8"))) == {f"{w}-{i}" for w in "ab" for i in range(60)}
