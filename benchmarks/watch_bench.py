"""What ``mpremote watch`` costs: HTTP requests and client CPU per refresh, pools kept vs not.

Usage::

    python benchmarks/watch_bench.py --hosts 100 --refreshes 10          # A/B, kept vs fresh pools
    python benchmarks/watch_bench.py --hosts 100 --cli-count 7 --interval 10s   # the real command

The lab runs in its own process (``mpremote lab serve --churn 6``), so the client's CPU is
the client's alone. The A/B runs the library's :class:`~mpremote.watch.engine.Watcher` in a
child process, refreshes once to warm up (connect), then times ``--refreshes`` refreshes
back to back with the process's CPU clock and counts every HTTP request the hosts answered
(``GET /lab/status`` before and after). The CLI run measures ``mpremote watch --format
jsonl`` with ``os.wait4`` (start-up included) and reports its CPU as a share of one core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import LAB_PASSWORD, LabProcess, run_client


class ChurningLab(LabProcess):
    """bench.py's lab process, with sessions that change (``--churn 6`` per host per minute)."""

    def __init__(self, workdir: Path, hosts: int) -> None:
        self.targets = workdir / "targets.yaml"
        self.journal = workdir / "journal.jsonl"
        cmd = [
            sys.executable, "-m", "mpremote", "lab", "serve", "--hosts", str(hosts), "--sessions-per-host", "6",
            "--seed", "7", "--auth", "ntlm", "--tls", "--churn", "6", "--write-targets", str(self.targets),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("lab exited early")
            if line.strip() == "ready":
                return
        raise RuntimeError("lab did not become ready within 120 s")


def inner(targets: str, keep_open: bool, refreshes: int, lab_ports: list[int]) -> None:
    """Child process: warm up, then time ``refreshes`` refreshes; print one JSON line."""
    from mpremote.api import connection_settings
    from mpremote.targets import load_targets
    from mpremote.watch.engine import Watcher, WatchOptions

    hosts = load_targets(targets).limit_all([])
    options = WatchOptions(interval=0, per_host_timeout=60, settings=connection_settings(60), keep_open=keep_open)
    with Watcher(hosts, options) as w:
        w.refresh()
        print("warm", flush=True)
        sys.stdin.readline()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        bad = 0
        for _ in range(refreshes):
            bad += sum(1 for r in w.refresh() if not r.ok)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        print(json.dumps({"cpu_s": cpu, "wall_s": wall, "bad_rows": bad}), flush=True)
        sys.stdin.readline()


def ab(lab: LabProcess, keep_open: bool, refreshes: int, hosts: int) -> dict[str, float]:
    env = {**os.environ, "MPREMOTE_PASSWORD": LAB_PASSWORD}
    cmd = [sys.executable, __file__, "--inner", str(lab.targets), "--refreshes", str(refreshes)]
    if keep_open:
        cmd.append("--keep-open")
    child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdin is not None and child.stdout is not None
    assert child.stdout.readline().strip() == "warm"
    before = lab.request_counters()
    child.stdin.write("\n")
    child.stdin.flush()
    result = json.loads(child.stdout.readline())
    after = lab.request_counters()
    child.stdin.write("\n")
    child.stdin.flush()
    child.wait(timeout=120)
    requests = sum(lab.requests_between(before, after))
    per = refreshes * hosts
    return {
        "keep_open": keep_open,
        "requests_per_host_refresh": requests / per,
        "cpu_ms_per_host_refresh": 1000 * result["cpu_s"] / per,
        "wall_s_per_refresh": result["wall_s"] / refreshes,
        "bad_rows": result["bad_rows"],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hosts", type=int, default=100)
    p.add_argument("--refreshes", type=int, default=10)
    p.add_argument("--rounds", type=int, default=2, help="A/B rounds (interleaved)")
    p.add_argument("--cli-count", type=int, default=0, help="also run the CLI for this many refreshes")
    p.add_argument("--interval", default="10s")
    p.add_argument("--inner", help=argparse.SUPPRESS)
    p.add_argument("--keep-open", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inner:
        inner(args.inner, args.keep_open, args.refreshes, [])
        return 0
    with tempfile.TemporaryDirectory(prefix="mpremote-watch-bench-") as tmp:
        lab = ChurningLab(Path(tmp), args.hosts)
        try:
            for _ in range(args.rounds):
                for keep in (True, False):
                    print(json.dumps(ab(lab, keep, args.refreshes, args.hosts)), flush=True)
            if args.cli_count:
                lab_cpu0 = lab.cpu_seconds()
                wall, cpu, rss, code, out = run_client(
                    ["watch", str(lab.targets), "--format", "jsonl", "--count", str(args.cli_count),
                     "--interval", args.interval]
                )  # fmt: skip
                lab_cpu = (lab.cpu_seconds() or 0) - (lab_cpu0 or 0)
                rows = [json.loads(x) for x in out.splitlines()]
                print(
                    json.dumps(
                        {
                            "cli_refreshes": args.cli_count,
                            "interval": args.interval,
                            "wall_s": round(wall, 1),
                            "cpu_s": round(cpu, 2),
                            "cpu_share_of_one_core": round(cpu / wall, 4),
                            "peak_rss_mb": round(rss, 1),
                            "exit_code": code,
                            "rows": len(rows),
                            "changes": sum(len(r["changes"]) for r in rows),
                            "lab_cpu_s": round(lab_cpu, 2),
                        }
                    ),
                    flush=True,
                )
        finally:
            lab.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
