#!/usr/bin/env python3
"""Paired, interleaved A/B of one client change: client CPU per host, in one process.

End-to-end runs on a shared 2-core machine drift by more than most single changes, so
each change is measured here: the lab runs in its own process (``mpremote lab serve``,
NTLM over HTTPS by default), and this process runs the ``sessions`` host job serially
(no thread contention) over every host, alternating A (change off) and B (change on)
in rounds, so both see the same machine load. It prints each side's median CPU ms per
host (``time.process_time``: this process only, not the lab), the B/A ratio, and
requests per host from the lab's counters.

    python benchmarks/ab.py preauth --hosts 100 --rounds 6
    python benchmarks/ab.py json --hosts 100 --rounds 6
    python benchmarks/ab.py all --hosts 100 --rounds 6      # every change on vs all off
    python benchmarks/ab.py --list
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

LAB_PASSWORD = "Lab-Pa55word!"

#: name -> (what it is, a context manager factory that turns the change OFF)
Toggle = Callable[[], contextlib.AbstractContextManager[Any]]
VARIANTS: dict[str, tuple[str, Toggle]] = {}


def variant(name: str, what: str) -> Callable[[Toggle], Toggle]:
    def register(fn: Toggle) -> Toggle:
        VARIANTS[name] = (what, fn)
        return fn

    return register


_SETTINGS_OVERRIDES: dict[str, Any] = {}


@variant("preauth", "pre-emptive NTLM NEGOTIATE on the first request")
@contextlib.contextmanager
def _preauth_off() -> Iterator[None]:
    _SETTINGS_OVERRIDES["preemptive_ntlm"] = False
    try:
        yield
    finally:
        _SETTINGS_OVERRIDES.pop("preemptive_ntlm", None)


def _flag_off(module: str, name: str) -> Toggle:
    """A toggle that sets the module-level switch ``module.name`` to False for a run."""

    @contextlib.contextmanager
    def off() -> Iterator[None]:
        import importlib

        mod = importlib.import_module(module)
        saved = getattr(mod, name)
        setattr(mod, name, False)
        try:
            yield
        finally:
            setattr(mod, name, saved)

    return off


FAST = "mpremote.remote.fastpsrp"
variant("gc", "relaxed garbage collector during the run (gc.freeze + gen-0 threshold 20000)")(
    _flag_off("mpremote.fanout.gctune", "ENABLED")
)
variant("json", "scripts answer with one JSON string (off: -NoJson, the objects as before)")(
    _flag_off("mpremote.remote.psjson", "JSON_ANSWERS")
)
variant("skip-xml", "no ET.tostring _xml copy of nested elements while deserialising")(
    _flag_off(FAST, "SKIP_NESTED_XML")
)
variant("shallow", "shallow instead of deep command copies in statement building")(
    _flag_off(FAST, "SHALLOW_STATEMENTS")
)
variant("msg-cache", "constant client PSRP messages built once (byte-checked)")(_flag_off(FAST, "CACHE_MESSAGES"))
variant("tostring", "WSMan envelopes / PSRP messages written to a string, encoded once")(
    _flag_off(FAST, "FAST_TOSTRING")
)
variant("env-proxies", "requests' environment proxy look-up memoised per endpoint and environment")(
    _flag_off("mpremote.remote.envproxies", "ENABLED")
)
variant("req-protocols", "requests' runtime-protocol isinstance checks answered by stand-ins (Python < 3.12)")(
    _flag_off("mpremote.remote.reqprotocols", "ENABLED")
)


@variant("quser-scan", "quser's character scans as regexes / set operations (not per-character Python)")
@contextlib.contextmanager
def _quser_scan_off() -> Iterator[None]:
    import unicodedata

    from mpremote import quser, quser_lang

    def check_controls(lines: list[tuple[int, str]]) -> None:
        for no, line in lines:
            if any(unicodedata.category(c) == "Cc" for c in line):
                raise quser.QuserParseError("control character in the text", line_no=no, line=line)

    def has_c1(line: str) -> bool:
        return any(0x80 <= ord(c) <= 0x9F for c in line)

    def evidence(text: str, language: str | None = None) -> bool:
        chars = quser_lang._WESTERN_EVIDENCE if language in quser_lang._WESTERN else quser_lang._EVIDENCE
        return any(c in chars for c in text)

    saved = (quser._check_controls, quser._has_c1, quser.has_mangling_evidence)
    quser._check_controls, quser._has_c1, quser.has_mangling_evidence = check_controls, has_c1, evidence
    try:
        yield
    finally:
        quser._check_controls, quser._has_c1, quser.has_mangling_evidence = saved


def _all_off() -> contextlib.AbstractContextManager[Any]:
    stack = contextlib.ExitStack()
    for _what, toggle in VARIANTS.values():
        stack.enter_context(toggle())
    return stack


class Lab:
    def __init__(self, workdir: Path, hosts: int, tls: bool, latency: int) -> None:
        self.targets = workdir / "targets.yaml"
        cmd = [
            sys.executable, "-m", "mpremote", "lab", "serve", "--hosts", str(hosts), "--seed", "7",
            "--auth", "ntlm", "--tls" if tls else "--no-tls", "--latency-ms", str(latency),
            "--port-base", "0", "--write-targets", str(self.targets),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == "ready":
                return
        raise RuntimeError("lab did not start")

    def requests(self, hosts: list[Any]) -> int:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
        total = 0
        for h in hosts:
            with opener.open(f"{h.transport}://{h.address}:{h.port}/lab/status", timeout=30) as resp:
                total += int(json.loads(resp.read())["requests"]) + 1
        return total

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def run_pass(hosts: list[Any], command: str) -> tuple[float, int]:
    """One serial pass over every host; (CPU seconds of this process, hosts not ok)."""
    from mpremote.fanout.gctune import relaxed_gc
    from mpremote.hostjob import JobSpec, run_host_job
    from mpremote.remote.connection import ConnectionSettings

    spec = JobSpec(command=command, settings=ConnectionSettings(**_SETTINGS_OVERRIDES))
    t0 = time.process_time()
    bad = 0
    with relaxed_gc():  # as run_hosts does
        for host in hosts:
            result = run_host_job(host, spec, credential=lambda h: (h.username, LAB_PASSWORD))
            bad += result.status.value != "ok"
    return time.process_time() - t0, bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("change", nargs="?", help="a change name, or 'all'")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--latency", type=int, default=0)
    parser.add_argument("--http", action="store_true", help="NTLM over HTTP with message encryption")
    args = parser.parse_args()
    if args.list or not args.change:
        for name, (what, _t) in VARIANTS.items():
            print(f"{name:14} {what}")
        return 0
    off = _all_off if args.change == "all" else VARIANTS[args.change][1]

    from mpremote.targets import load_targets

    os.environ.setdefault("MPREMOTE_PASSWORD", LAB_PASSWORD)
    with tempfile.TemporaryDirectory(prefix="mpremote-ab-") as tmp:
        lab = Lab(Path(tmp), args.hosts, not args.http, args.latency)
        try:
            hosts = load_targets(lab.targets).hosts
            run_pass(hosts[: min(10, len(hosts))], "sessions")  # warm imports and caches
            cpu: dict[str, list[float]] = {"A": [], "B": []}
            reqs: dict[str, list[float]] = {"A": [], "B": []}
            errors = 0
            for r in range(args.rounds):
                order = ("A", "B") if r % 2 == 0 else ("B", "A")
                for side in order:
                    before = lab.requests(hosts)
                    with off() if side == "A" else contextlib.nullcontext():
                        seconds, bad = run_pass(hosts, "sessions")
                    reqs[side].append((lab.requests(hosts) - before) / len(hosts) - 1)
                    cpu[side].append(seconds * 1000 / len(hosts))
                    errors += bad
            a, b = statistics.median(cpu["A"]), statistics.median(cpu["B"])
            print(f"change: {args.change} ({args.hosts} hosts, {args.rounds} rounds, "
                  f"{'http' if args.http else 'https'}, L={args.latency} ms, serial, sessions)")  # fmt: skip
            print(f"A (off): CPU ms/host median {a:.2f}  all {[round(x, 2) for x in cpu['A']]}  "
                  f"req/host {statistics.median(reqs['A']):.2f}")  # fmt: skip
            print(f"B (on) : CPU ms/host median {b:.2f}  all {[round(x, 2) for x in cpu['B']]}  "
                  f"req/host {statistics.median(reqs['B']):.2f}")  # fmt: skip
            print(f"B/A = {b / a:.3f} ({(b / a - 1) * 100:+.1f} %); errors {errors}; load avg {os.getloadavg()[0]:.1f}")
        finally:
            lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
