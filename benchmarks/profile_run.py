#!/usr/bin/env python3
"""Where the client's CPU goes per host: cProfile (CPU clock) of a serial run, by package.

The lab runs in its own process (``mpremote lab serve``, NTLM over HTTPS by default);
this process runs a command's host job over every host one after another (no thread
contention, as ``benchmarks/ab.py`` does) under ``cProfile`` with ``time.process_time``
as its clock, after a warm-up pass, and prints each package's share of the own time
(cProfile inflates small functions, so read the shares, not the absolute numbers) and
the top functions.

    python benchmarks/profile_run.py --hosts 100
    python benchmarks/profile_run.py --hosts 100 --command logoff --top 40
    python benchmarks/profile_run.py --hosts 100 --dump /tmp/run.prof
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ab import LAB_PASSWORD, Lab, run_pass

_STDLIB = os.path.dirname(os.__file__)


def package_of(filename: str) -> str:
    """A profile entry's package: ``mpremote.quser``, ``requests``, ``stdlib:re``, ``C built-ins``."""
    if filename.startswith("~") or filename.startswith("<built-in"):
        return "C built-ins"
    if filename.startswith("<frozen "):
        return "stdlib:" + filename[len("<frozen ") :].rstrip(">").split(".")[0].lstrip("_")
    marker = "site-packages" + os.sep
    if marker in filename:
        head = filename.split(marker, 1)[1].split(os.sep)[0]
        return head.removesuffix(".py")
    if "mpremote" + os.sep in filename:
        rel = filename.split("mpremote" + os.sep, 1)[1]
        return "mpremote." + rel.split(os.sep)[0].removesuffix(".py")
    if filename.startswith(_STDLIB):
        rel = filename[len(_STDLIB) + 1 :]
        return "stdlib:" + rel.split(os.sep)[0].removesuffix(".py")
    return filename


def shares(stats: pstats.Stats) -> list[tuple[str, float]]:
    own: dict[str, float] = defaultdict(float)
    for (filename, _line, _func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        own[package_of(filename)] += tt
    total = sum(own.values()) or 1.0
    return sorted(((pkg, t / total) for pkg, t in own.items()), key=lambda x: -x[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--command", default="sessions", choices=["sessions", "logoff"])
    parser.add_argument("--http", action="store_true", help="NTLM over HTTP with message encryption")
    parser.add_argument("--top", type=int, default=25, help="functions to list by own time")
    parser.add_argument("--dump", type=Path, help="also write the raw profile here (pstats)")
    args = parser.parse_args()

    from mpremote.targets import load_targets

    os.environ.setdefault("MPREMOTE_PASSWORD", LAB_PASSWORD)
    with tempfile.TemporaryDirectory(prefix="mpremote-prof-") as tmp:
        lab = Lab(Path(tmp), args.hosts, not args.http, 0)
        try:
            hosts = load_targets(lab.targets).hosts
            run_pass(hosts[: min(10, len(hosts))], "sessions")  # warm imports and caches
            plain, bad = run_pass(hosts, args.command)
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            _seconds, bad2 = run_pass(hosts, args.command)
            profiler.disable()
        finally:
            lab.stop()
    stats = pstats.Stats(profiler)
    if args.dump:
        stats.dump_stats(str(args.dump))
    print(f"{args.command}, {args.hosts} hosts, serial, {'http' if args.http else 'https'}: "
          f"{plain * 1000 / args.hosts:.2f} ms CPU/host unprofiled; errors {bad + bad2}")  # fmt: skip
    print("\nown time by package (share):")
    for pkg, share in shares(stats):
        if share >= 0.005:
            print(f"  {share * 100:5.1f} %  {pkg}")
    print(f"\ntop {args.top} functions by own time:")
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
