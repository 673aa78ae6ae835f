"""The standing mutation run (issue 16 point 4): ``scripts/mutation all`` runs ``mutation/plan.toml``.

Each run of the plan is one row of TESTING.md's "Current scores": a group of ``scripts/mutation``, the mutant
globs of the row and its ``judge`` test files. For each run: ``scripts/mutation GROUP GLOBS`` (mutmut in the
reused ``.mutation/GROUP`` copy: unchanged functions are not tested again), then every survivor (and mutmut's
"segfault", "suspicious" and "no tests" verdicts) that is not in the equivalents registry
(``mutation/equivalents/*.toml``) is run by name in the mutated copy with the judge files, after one control
run with no mutant. A verdict by name is cached (``.mutation/judged.json``) under the mutant's name, the mutated
function's hash and the judge files with their contents, so a re-run does not redo it (a changed judge file does). The report (printed and written to
``.mutation/report.md``) counts per row what mutmut killed, what was killed by name, the registry's equivalents
that still survive, the open survivors and the registry entries gone stale; each run's wall and children's CPU
time is appended to ``.mutation/times.jsonl``. Exit status 1 when a row has an open survivor or a stale entry.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import fnmatch
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "mutation" / "plan.toml"
EQUIVALENTS = ROOT / "mutation" / "equivalents"
WORK = ROOT / ".mutation"

#: mutmut 3.8's verdict of an exit code (``mutmut.stats.status_by_exit_code``; any other code is "suspicious")
STATUS_BY_EXIT_CODE: dict[int | None, str] = {
    1: "killed", 3: "killed", 0: "survived", 5: "no tests", 2: "check was interrupted by user", None: "not checked",
    33: "no tests", 34: "skipped", 35: "suspicious", 36: "timeout", 37: "caught by type check", -24: "timeout",
    24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault",
}
KILLED = frozenset({"killed", "timeout", "caught by type check"})
NOT_RUN = frozenset({"not checked", "skipped", "check was interrupted by user"})
#: verdicts that leave a mutant alive as far as mutmut can tell: judged by name unless the registry lists them
SURVIVING = frozenset({"survived", "no tests", "suspicious", "segfault"})
CONTROL_FAILED = "judge files fail unmutated"


def status_of(exit_code: int | None) -> str:
    """mutmut's verdict for a mutant's recorded exit code."""
    return STATUS_BY_EXIT_CODE.get(exit_code, "suspicious")


@dataclass
class Run:
    """One run of the plan: one row (or a few rows) of TESTING.md's "Current scores"."""

    label: str
    group: str
    row: str
    globs: list[str] = field(default_factory=list)
    judge: list[str] = field(default_factory=list)
    leave_out: list[str] = field(default_factory=list)
    needs_env: list[str] = field(default_factory=list)
    #: judge files added only while an environment variable is set (a broker's address: the row itself runs
    #: without one, its survivors are judged with the broker files as well when one is given)
    judge_if_set: dict[str, list[str]] = field(default_factory=dict)
    in_total: bool = True


def load_plan(path: Path = PLAN) -> list[Run]:
    """The plan's runs in order; labels must be unique."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    runs = [Run(**entry) for entry in data.get("run", [])]
    labels = [r.label for r in runs]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"{path}: labels used twice: {', '.join(duplicates)}")
    return runs


def load_registry(folder: Path = EQUIVALENTS) -> dict[str, str]:
    """Every equivalent mutant of ``folder/<dotted module>.toml``: mutant name -> the one line of why.

    A key must be a mutant of the file's module (``<module>.x_...__mutmut_N`` or ``<module>.xǁ...``).
    """
    registry: dict[str, str] = {}
    for path in sorted(folder.glob("*.toml")):
        module = path.name[: -len(".toml")]
        for name, why in tomllib.loads(path.read_text(encoding="utf-8")).items():
            if not (isinstance(why, str) and why.strip()):
                raise ValueError(f"{path.name}: {name}: the reason must be a non-empty string")
            if module_of(name) != module or "__mutmut_" not in name:
                raise ValueError(f"{path.name}: {name} is not a mutant of {module}")
            registry[name] = why
    return registry


def module_of(mutant: str) -> str:
    """``udx.state.x__encode__mutmut_20`` -> ``udx.state`` (methods: ``server.auth.xǁBearerAuthǁ__call____mutmut_3``)."""
    parts = mutant.split(".")
    for i in range(len(parts) - 1, 0, -1):
        if parts[i].startswith(("x_", "xǁ")):
            return ".".join(parts[:i])
    return mutant.rsplit(".", 1)[0]


def function_of(mutant: str) -> str:
    """The mangled function key mutmut hashes: ``udx.state.x__encode__mutmut_20`` -> ``x__encode``."""
    return mutant[len(module_of(mutant)) + 1:].rsplit("__mutmut_", 1)[0]


def matches(name: str, globs: list[str]) -> bool:
    """mutmut's own selection: a name or an ``fnmatch`` glob; no globs selects every mutant."""
    return not globs or any(name == g or fnmatch.fnmatchcase(name, g) for g in globs)


def read_meta(workdir: Path, modules: list[str]) -> tuple[dict[str, int | None], dict[str, str]]:
    """The group copy's mutmut results for ``modules``: exit code by mutant, function hash by mutant."""
    codes: dict[str, int | None] = {}
    hashes: dict[str, str] = {}
    for module in modules:
        meta_path = workdir / "mutants" / (module + ".meta")
        if not meta_path.exists():
            continue
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        by_function = meta.get("hash_by_function_name", {})
        for name, code in meta.get("exit_code_by_key", {}).items():
            codes[name] = code
            hashes[name] = by_function.get(function_of(name), "")
    return codes, hashes


def verdict_key(name: str, function_hash: str, files: list[str], root: Path = ROOT) -> str:
    """The cache key of a verdict by name: the mutant, its function's hash and the judge files with their
    contents (a test changed since, e.g. one added to kill this mutant, judges it again)."""
    return f"{name}@{function_hash}:{','.join(files)}#{_files_hash(files, root)}"


def _files_hash(files: list[str], root: Path) -> str:
    digest = hashlib.sha256()
    for name in files:
        path = root / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"(missing)") + b"\0")
    return digest.hexdigest()[:16]


@dataclass
class Row:
    """One row of the report."""

    run: Run
    mutants: int = 0
    by_mutmut: int = 0
    by_name: int = 0
    equivalent: int = 0
    open: list[str] = field(default_factory=list)
    not_run: int = 0
    stale: list[str] = field(default_factory=list)

    @property
    def killed(self) -> int:
        return self.by_mutmut + self.by_name

    @property
    def checked(self) -> int:
        return self.mutants - self.not_run


def score_row(run: Run, codes: dict[str, int | None], hashes: dict[str, str], judged: dict[str, dict],
              registry: dict[str, str], judge_files: list[str]) -> Row:
    """Count one row from mutmut's exit codes, the cached verdicts by name and the registry."""
    row = Row(run)
    names = sorted(n for n in codes if matches(n, run.globs))
    for name in names:
        status = status_of(codes[name])
        row.mutants += 1
        if status in NOT_RUN:
            row.not_run += 1
        elif status in KILLED:
            row.by_mutmut += 1
        elif name in registry:
            row.equivalent += 1
        else:
            verdict = judged.get(verdict_key(name, hashes.get(name, ""), judge_files), {}).get("verdict")
            if verdict in ("killed", "timeout"):
                row.by_name += 1
            else:
                row.open.append(f"{name} ({status}; by name: {verdict or 'not judged'})")
    modules = {module_of(n) for n in names} | {_dotted(m) for m in _modules(run)}
    for name in sorted(registry):
        if module_of(name) not in modules or not matches(name, run.globs):
            continue
        if name not in codes:
            row.stale.append(f"{name} (no such mutant)")
        elif status_of(codes[name]) in KILLED:
            row.stale.append(f"{name} (killed by mutmut)")
    return row


_GROUPS: dict[str, tuple[list[str], list[str], str]] = {}


def _modules(run: Run) -> list[str]:
    return _GROUPS.get(run.group, ([], [], ""))[0]


def _dotted(path: str) -> str:
    return path[: -len(".py")].replace("/", ".") if path.endswith(".py") else path.replace("/", ".")


def judge_files(run: Run) -> list[str]:
    """The files a survivor is judged with: the run's ``judge`` files, else its group's tests; then the
    ``judge_if_set`` files of each environment variable that is set."""
    if run.judge:
        files = list(run.judge)
    else:
        tests = _GROUPS[run.group][1] if run.group in _GROUPS else []
        files = [t for t in tests if t not in run.leave_out]
    for variable, extra in run.judge_if_set.items():
        if os.environ.get(variable):
            files += [f for f in extra if f not in files]
    return files


def _pct(num: int, den: int) -> str:
    return f"{100 * num / den:.1f} %" if den else "-"


def format_report(rows: list[Row], times: dict[str, dict], unused: list[str]) -> str:
    """The report's Markdown: one table line per row, open survivors and stale entries, totals, times."""
    lines = ["# Mutation report (`scripts/mutation all`)", "",
             f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. Killed = mutmut's kills (timeouts included) "
             "+ kills by name with the judge files; score = killed / (checked - equivalent).", "",
             "| row | group | mutants | killed by mutmut | killed by name | equivalent | open | not run | raw % | "
             "score | wall s | cpu s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    total = Row(Run("total", "", ""))
    for r in rows:
        t = times.get(r.run.label, {})
        lines.append(f"| {r.run.label} | {r.run.group} | {r.mutants} | {r.by_mutmut} | {r.by_name} | {r.equivalent} | "
                     f"{len(r.open)} | {r.not_run} | {_pct(r.killed, r.checked)} | "
                     f"{_pct(r.killed, r.checked - r.equivalent)} | {t.get('wall', '-')} | {t.get('cpu', '-')} |")
        if r.run.in_total:
            total.mutants += r.mutants
            total.by_mutmut += r.by_mutmut
            total.by_name += r.by_name
            total.equivalent += r.equivalent
            total.open += r.open
            total.not_run += r.not_run
            total.stale += r.stale
    wall = sum(t["wall"] for t in times.values())
    cpu = sum(t["cpu"] for t in times.values())
    lines.append(f"| **total** (rows with `in_total`) | | {total.mutants} | {total.by_mutmut} | {total.by_name} | "
                 f"{total.equivalent} | {len(total.open)} | {total.not_run} | {_pct(total.killed, total.checked)} | "
                 f"{_pct(total.killed, total.checked - total.equivalent)} | {wall:.0f} | {cpu:.0f} |")
    for r in rows:
        failed = times.get(r.run.label, {}).get("exit", 0)
        if r.open or r.stale or failed:
            lines += ["", f"## {r.run.label}: {r.run.row}"]
            if failed:
                lines.append(f"- the latest mutmut run exited {failed}: see `.mutation/logs/{r.run.label}.log`")
            lines += [f"- open: {name}" for name in r.open]
            lines += [f"- stale registry entry: {name}" for name in r.stale]
    if unused:
        lines += ["", "## Registry entries in no row of the plan", *[f"- {name}" for name in unused]]
    lines += ["", f"Time: the latest run of each label, wall {wall:.0f} s, children's CPU {cpu:.0f} s "
              f"({len(times)} labels; `.mutation/times.jsonl`)."]
    return "\n".join(lines) + "\n"


def latest_times(path: Path) -> dict[str, dict]:
    """The latest record of each label in ``times.jsonl``."""
    latest: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                latest[record["label"]] = record
    return latest


def report(runs: list[Run], registry: dict[str, str], work: Path = WORK,
           plan: list[Run] | None = None) -> tuple[str, int]:
    """The report of ``runs`` (of the whole ``plan``, default ``runs``) from what the group copies and the verdict
    cache hold; exit status 1 when a row has an open survivor or a stale registry entry."""
    judged = _load_json(work / "judged.json")
    rows = []
    for run in runs:
        modules = _modules(run)
        codes, hashes = read_meta(work / run.group, modules)
        rows.append(score_row(run, codes, hashes, judged, registry, judge_files(run)))
    # entries of the reported rows' modules that no run of the whole plan selects
    modules = {_dotted(m) for r in runs for m in _modules(r)}
    unused = sorted(n for n in registry if module_of(n) in modules
                    and not any(module_of(n) in {_dotted(m) for m in _modules(r)} and matches(n, r.globs)
                                for r in plan or runs))
    times = {k: v for k, v in latest_times(work / "times.jsonl").items() if k in {r.label for r in runs}}
    text = format_report(rows, times, unused)
    return text, int(any(r.open or r.stale for r in rows))


def _load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _pytest(workdir: Path, run: Run, files: list[str], mutant: str, timeout: float) -> tuple[str, float]:
    """One run of the judge files in the mutated copy with ``mutant`` active ("" for none)."""
    markers = _GROUPS[run.group][2]
    env = {**os.environ, "MUTANT_UNDER_TEST": mutant, "UDX_DISABLE_NUMBA": "1",
           "PYTHONPATH": str(workdir / "mutants")}
    command = [_python(), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-m", markers,
               *files]
    start = time.monotonic()
    try:
        done = subprocess.run(command, cwd=workdir / "mutants", env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start
    return ("survived" if done.returncode == 0 else "killed"), time.monotonic() - start


def _copy_tests(workdir: Path, root: Path) -> None:
    """The tree's ``tests/`` over the group copy's: mutmut refreshes its copy only when it runs, so a judge
    file edited since (a test added to kill a survivor) would otherwise be judged in its old text, and its
    verdict cached under the new text's hash."""
    shutil.copytree(root / "tests", workdir / "mutants" / "tests", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))


def judge(run: Run, registry: dict[str, str], work: Path = WORK, root: Path = ROOT) -> None:
    """Run by name every surviving mutant of the row that the registry does not list and no cached verdict
    covers, with the tree's tests; a control run with no mutant first (if it fails, each gets "judge files
    fail unmutated")."""
    workdir = work / run.group
    codes, hashes = read_meta(workdir, _modules(run))
    files = judge_files(run)
    cache_path = work / "judged.json"
    judged = _load_json(cache_path)
    todo = [n for n in sorted(codes) if matches(n, run.globs) and status_of(codes[n]) in SURVIVING
            and n not in registry and verdict_key(n, hashes[n], files, root) not in judged]
    if not todo:
        return
    # the keys of the verdicts to come, from the judge files as copied now: a judge file edited while the survivors
    # are run (a test added to kill one) must not have the old text's verdicts cached under its new text
    keys = {name: verdict_key(name, hashes[name], files, root) for name in todo}
    _copy_tests(workdir, root)
    control, seconds = _pytest(workdir, run, files, "", timeout=3600)
    print(f"mutation all: {run.label}: control run of {' '.join(files)}: {control} ({seconds:.0f} s); "
          f"{len(todo)} survivor(s) to judge by name", flush=True)
    timeout = max(120.0, 20 * seconds)
    for name in todo:
        if control == "survived":
            verdict, took = _pytest(workdir, run, files, name, timeout)
        else:
            verdict, took = CONTROL_FAILED, 0.0
        record_verdict(cache_path, keys[name], {"verdict": verdict, "seconds": round(took, 1),
                                                "date": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M}"})
        print(f"mutation all:   {name}: {verdict} ({took:.0f} s)", flush=True)


def record_verdict(cache_path: Path, key: str, verdict: dict) -> None:
    """Add one verdict to the cache file: read again and rewritten under an exclusive lock (``judged.json.lock``),
    then renamed into place, so runs of other rows in the same tree at the same time keep their verdicts."""
    with open(cache_path.with_name(cache_path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        judged = _load_json(cache_path)
        judged[key] = verdict
        fresh = cache_path.with_name(cache_path.name + ".new")
        fresh.write_text(json.dumps(judged, indent=1, sort_keys=True), encoding="utf-8")
        fresh.replace(cache_path)


def mutants_to_run(run: Run, workdir: Path, root: Path = ROOT) -> list[str] | None:
    """The names and globs to hand mutmut for ``run``: mutmut 3.8 tests again every mutant named on its command
    line, cached or not, so only the row's mutants not yet checked and every mutant of a function whose code changed
    since (or is new) are named. ``None``: no results yet (a cold run: the row's globs); ``[]``: nothing to run."""
    try:
        from mutmut.mutation.file_mutation import compute_function_hashes
    except ImportError:
        return None
    codes, hashes = read_meta(workdir, _modules(run))
    if not codes:
        return None
    seen = _load_json(workdir / "functions.json")  # every function of the source at the last run (mutated or not)
    todo: list[str] = []
    for path in _modules(run):
        module = _dotted(path)
        source = root / path
        current = compute_function_hashes(source.read_text(encoding="utf-8")) if source.exists() else {}
        stored = {function_of(n): hashes[n] for n in codes if module_of(n) == module}
        # changed: a mutated function whose code changed; new: a function the last run's source did not have
        # (mutmut leaves decorated functions unmutated: they are in neither)
        changed = {f for f in current if f in stored and current[f] != stored[f]}
        changed |= {f for f in current if f not in stored and f not in seen.get(path, current)}
        todo += [f"{module}.{f}__mutmut_*" for f in sorted(changed) if matches(f"{module}.{f}__mutmut_1", run.globs)]
        todo += [n for n in sorted(codes) if module_of(n) == module and matches(n, run.globs)
                 and codes[n] is None and function_of(n) not in changed]
    return todo


def _remember_functions(run: Run, workdir: Path, root: Path = ROOT) -> None:
    """Every function of the group's modules as the run saw them (``functions.json``: new ones are told apart)."""
    try:
        from mutmut.mutation.file_mutation import compute_function_hashes
    except ImportError:
        return
    seen = {path: compute_function_hashes((root / path).read_text(encoding="utf-8"))
            for path in _modules(run) if (root / path).exists()}
    if workdir.exists():
        (workdir / "functions.json").write_text(json.dumps(seen, indent=1, sort_keys=True), encoding="utf-8")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def execute(run: Run, registry: dict[str, str], script: Path, max_children: int, work: Path = WORK) -> int:
    """mutmut for the run's group and globs, then the judging by name; appends the run's times."""
    missing = [v for v in run.needs_env if not os.environ.get(v)]
    if missing:
        print(f"mutation all: {run.label}: skipped, set {', '.join(missing)}", file=sys.stderr)
        return 0
    work.mkdir(parents=True, exist_ok=True)
    log = work / "logs" / f"{run.label}.log"
    log.parent.mkdir(exist_ok=True)
    wall, cpu = time.monotonic(), _cpu()
    names = mutants_to_run(run, work / run.group)
    code = 0
    if names == []:
        print(f"mutation all: {run.label}: every mutant checked and no function changed: no mutmut run", flush=True)
    else:
        command = [sys.executable, str(script), run.group, *(run.globs if names is None else names),
                   "--max-children", str(max_children), *[a for t in run.leave_out for a in ("--leave-out", t)]]
        shown = " ".join(command[1:3 + min(len(command) - 3, 6)]) + (" ..." if len(command) > 9 else "")
        print(f"mutation all: {run.label}: {shown} (log {log.relative_to(ROOT)})", flush=True)
        with log.open("w", encoding="utf-8") as out:
            code = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
        _remember_functions(run, work / run.group)
    mutmut_wall = time.monotonic() - wall
    registry.update(load_registry())  # an entry written while mutmut ran counts already
    judge(run, registry, work)
    record = {"date": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%S}", "label": run.label,
              "group": run.group, "wall": round(time.monotonic() - wall, 1), "cpu": round(_cpu() - cpu, 1),
              "mutmut_wall": round(mutmut_wall, 1), "load": [round(x, 2) for x in os.getloadavg()],
              "exit": code}
    with (work / "times.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")
    print(f"mutation all: {run.label}: exit {code}, wall {record['wall']} s, cpu {record['cpu']} s", flush=True)
    return code


def main(argv: list[str], groups: dict[str, tuple[list[str], list[str], str]], script: Path) -> int:
    """``scripts/mutation all [--only LABEL...] [--max-children N] [--report] [--list]``."""
    parser = argparse.ArgumentParser(prog="scripts/mutation all", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=[], metavar="LABEL", help="run (or report) only these rows")
    parser.add_argument("--max-children", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="no runs: the report from what is cached")
    parser.add_argument("--list", action="store_true", help="list the plan's runs and exit")
    parser.add_argument("--plan", type=Path, default=PLAN, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _GROUPS.clear()
    _GROUPS.update(groups)
    runs = load_plan(args.plan)
    unknown_groups = sorted({r.group for r in runs} - groups.keys())
    unknown = sorted(set(args.only) - {r.label for r in runs})
    if unknown_groups or unknown:
        print(f"mutation all: not a group: {', '.join(unknown_groups)}" if unknown_groups
              else f"mutation all: not a label of the plan: {', '.join(unknown)}", file=sys.stderr)
        return 2
    plan = runs
    if args.only:
        runs = [r for r in runs if r.label in args.only]
    if args.list:
        for r in runs:
            print(f"{r.label}\t{r.group}\t{' '.join(r.globs) or '(all)'}\tjudge: {' '.join(judge_files(r))}")
        return 0
    registry = load_registry()
    if not args.report:
        for run in runs:
            execute(run, registry, script, args.max_children)
    text, status = report(runs, registry, WORK, plan)
    (WORK / "report.md").parent.mkdir(exist_ok=True)
    (WORK / "report.md").write_text(text, encoding="utf-8")
    print(text)
    return status
