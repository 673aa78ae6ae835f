"""What every benchmark needs to report: the machine, package versions, and its own section of BENCHMARKS.md.

Each bench owns one ``## `` section of ``BENCHMARKS.md`` and replaces it whole on every run, leaving the other
sections alone, so the file always holds the latest run of each bench.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["BENCHMARKS", "load_average", "machine", "now_utc", "publish", "replace_section", "versions"]

#: The file every bench writes its section into.
BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def machine() -> str:
    """Return ``"<cpu model>, <n> cores, <ram> GiB RAM, <os> <arch>"`` for the report's header."""
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    meminfo = Path("/proc/meminfo")
    ram = f", {int(meminfo.read_text().split()[1]) / 2**20:.0f} GiB RAM" if meminfo.exists() else ""
    return f"{cpu}, {os.cpu_count()} cores{ram}, {platform.system()} {platform.machine()}"


def versions(*packages: str) -> str:
    """Return ``"Python x.y.z; pkg a.b, ..."`` for the installed ``packages``."""
    parts = []
    for name in packages:
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return f"Python {platform.python_version()}; " + ", ".join(parts)


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages, e.g. ``"2.31 1.80 1.52"``."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def now_utc() -> str:
    """Return the current UTC time as ``YYYY-MM-DD HH:MM UTC``."""
    return f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"


def replace_section(title: str, body: str, path: Path = BENCHMARKS) -> None:
    """Write ``## title`` followed by ``body`` into ``path``, replacing that section if it is there.

    Parameters
    ----------
    title : str
        The section heading without the leading ``## ``; it must stay the same from run to run.
    body : str
        Markdown under the heading.
    path : Path
        The Markdown file (``BENCHMARKS.md`` at the repository root by default).
    """
    section = f"## {title}\n\n{body.strip()}\n"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(title)}[^\n]*\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _match: section + "\n", current, count=1).rstrip("\n") + "\n"
    else:
        updated = current.rstrip("\n") + "\n\n" + section
    path.write_text(updated)


def publish(title: str, body: str, *, write: bool = True) -> None:
    """Print ``body`` and, when ``write``, make it the section ``title`` of ``BENCHMARKS.md``."""
    print(body)
    if write:
        replace_section(title, body)
        print(f"BENCHMARKS.md: section '{title}' replaced")
