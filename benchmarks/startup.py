#!/usr/bin/env python3
"""Start-up CPU of two source trees, interleaved: what a change to start-up bought.

For each tree (this checkout, and ``--before DIR``, e.g. a ``git archive`` of an older
commit) it runs, alternately so both see the same machine load, and reports the median
CPU time (user + system, ``os.wait4``) of:

* ``startup``: ``mpremote sessions`` against a 1-host lab, CPU used when the first HTTP
  request left (``benchmarks/_client.py``, as bench.py's start-up column);
* ``sessions 1 host``: the whole of that process;
* ``sessions --help`` and ``--help``.

Both trees are byte-compiled first (as an installed copy is) and run with this
interpreter's packages; each tree's own ``mpremote`` is put first on ``PYTHONPATH``.

    git archive eab0ce0 | tar -x -C /tmp/before
    python benchmarks/startup.py --before /tmp/before --runs 10
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ab import LAB_PASSWORD, Lab

HERE = Path(__file__).resolve().parent.parent


def _cpu(cmd: list[str], tree: Path) -> float:
    env = {**os.environ, "MPREMOTE_PASSWORD": LAB_PASSWORD, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, _status, usage = os.wait4(proc.pid, 0)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the other source tree")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": HERE}
    for tree in trees.values():
        compileall.compile_dir(str(tree / "mpremote"), quiet=1)
    results: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    with tempfile.TemporaryDirectory(prefix="mpremote-startup-") as tmp:
        lab = Lab(Path(tmp), 1, True, 0)
        try:
            for run in range(args.runs):
                order = list(trees.items()) if run % 2 == 0 else list(reversed(trees.items()))
                for name, tree in order:
                    mark = Path(tmp) / f"mark-{name}-{run}"
                    client = [sys.executable, str(tree / "benchmarks" / "_client.py"), str(mark)]
                    total = _cpu([*client, "sessions", str(lab.targets), "--format", "json", "--no-progress"], tree)
                    samples = {
                        "startup": float(mark.read_text()) if mark.exists() else float("nan"),
                        "sessions 1 host": total,
                        "sessions --help": _cpu([sys.executable, "-m", "mpremote", "sessions", "--help"], tree),
                        "--help": _cpu([sys.executable, "-m", "mpremote", "--help"], tree),
                    }
                    for key, value in samples.items():
                        results[name].setdefault(key, []).append(value)
        finally:
            lab.stop()
    print(f"median CPU ms over {args.runs} interleaved runs (load average {os.getloadavg()[0]:.1f})")
    keys = list(results["after"])
    print(f"{'':8} " + " ".join(f"{k:>16}" for k in keys))
    for name in trees:
        print(f"{name:8} " + " ".join(f"{statistics.median(results[name][k]) * 1000:16.1f}" for k in keys))
    ratios = [statistics.median(results["after"][k]) / statistics.median(results["before"][k]) for k in keys]
    print(f"{'after/before':8} " + " ".join(f"{r:16.2f}" for r in ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
