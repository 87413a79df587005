#!/usr/bin/env python3
"""Scale benchmark: mpremote against the emulated lab, run by hand (never in the test suite).

For each configuration it starts ``mpremote lab serve`` in its own process (N hosts, L ms
added to every HTTP response, NTLM over HTTP with message encryption or over HTTPS), then
runs ``mpremote sessions`` and ``mpremote logoff --all --yes`` as separate processes and
prints, from this one run (these machines are noisy, so ratios beat absolute numbers):

  wall time, wall time as a ratio of one host's, HTTP requests per host (every POST the
  network carried, NTLM legs and the empty encryption set-up POST included: read from each
  host's ``GET /lab/status`` counter before and after), WSMan messages per host (from the
  lab's journal, which records only authenticated WSMan actions), client CPU ms per host,
  the lab's CPU ms per host (it shares the machine's cores), peak client RSS, errors
  (hosts not ok)

plus ``mpremote --help`` start-up time as a ratio of ``python -c "import typer"``. The
package is byte-compiled first (:func:`precompile`), so start-up is what an installed copy
costs, not a source compile.

    python benchmarks/bench.py --quick            # about a minute
    python benchmarks/bench.py                    # 10/100/500 hosts x 0/20/100 ms x http/https
    python benchmarks/bench.py --hosts 500 --latency 20 --transport https --json out.json
    python benchmarks/bench.py --hosts 100 --hosts 200 --hosts 500 --latency 0 --transport https --peer-ansible

``--peer-ansible`` runs Ansible's ``raw quser`` over its psrp connection against the same
lab (ansible-core and pypsrp in their own venv, not a project dependency:
``python3 -m venv .venv-ansible && .venv-ansible/bin/pip install ansible-core "pypsrp<1"``;
``--ansible PATH`` names its executable) at each ``--ansible-forks`` (default 16 and 64, so
the peer is given its best setting), between two ``mpremote sessions`` runs, and prints how
many times faster (wall) and cheaper (CPU) ``mpremote sessions`` is, against each fork
count and against the peer's best. At the end it prints the run as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

LAB_PASSWORD = "Lab-Pa55word!"


@dataclass
class Measurement:
    command: str
    hosts: int
    latency_ms: int
    transport: str
    wall_s: float
    ratio_to_one_host: float | None
    requests_per_host: float
    max_requests_host: int
    wsman_per_host: float
    cpu_ms_per_host: float
    #: the same without start-up (CPU spent before the fan-out began)
    cpu_ms_per_host_run: float | None
    startup_cpu_s: float | None
    lab_cpu_ms_per_host: float | None
    peak_rss_mb: float
    errors: int
    exit_code: int


class LabProcess:
    """``mpremote lab serve`` in a child process; ready when it prints ``ready``."""

    def __init__(self, workdir: Path, hosts: int, latency_ms: int, transport: str, sessions: int) -> None:
        self.targets = workdir / "targets.yaml"
        self.journal = workdir / "journal.jsonl"
        cmd = [
            sys.executable, "-m", "mpremote", "lab", "serve",
            "--hosts", str(hosts), "--sessions-per-host", str(sessions), "--seed", "7",
            "--auth", "ntlm", "--tls" if transport == "https" else "--no-tls",
            "--latency-ms", str(latency_ms), "--port-base", "0",
            "--write-targets", str(self.targets), "--journal", str(self.journal),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"lab exited early: {self.proc.stderr.read() if self.proc.stderr else ''}")
            if line.strip() == "ready":
                return
        raise RuntimeError("lab did not become ready within 120 s")

    def _hosts(self) -> list[tuple[str, str, int]]:
        import yaml

        data = yaml.safe_load(self.targets.read_text(encoding="utf-8"))
        scheme = data["vars"]["transport"]
        return [(scheme, h["address"], int(h["port"])) for h in data["hosts"].values()]

    def request_counters(self) -> dict[int, int]:
        """Every HTTP request each host answered so far (``GET /lab/status``, unauthenticated).

        The counter a status reply shows excludes that GET itself, so a later reading
        includes one earlier status GET: :meth:`requests_between` subtracts it.
        """
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))

        def one(item: tuple[str, str, int]) -> tuple[int, int]:
            scheme, address, port = item
            with opener.open(f"{scheme}://{address}:{port}/lab/status", timeout=30) as resp:
                return port, int(json.loads(resp.read())["requests"])

        with ThreadPoolExecutor(16) as pool:
            return dict(pool.map(one, self._hosts()))

    @staticmethod
    def requests_between(before: dict[int, int], after: dict[int, int]) -> list[int]:
        return [after[port] - before[port] - 1 for port in before]

    def cpu_seconds(self) -> float | None:
        """The lab process's CPU time so far (Linux /proc; None elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def journal_offset(self) -> int:
        return self.journal.stat().st_size if self.journal.exists() else 0

    def wsman_messages_since(self, offset: int) -> Counter[str]:
        counts: Counter[str] = Counter()
        with self.journal.open("rb") as fh:
            fh.seek(offset)
            for raw in fh:
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue
                if event.get("event") == "http":
                    counts[event.get("host", "?")] += 1
        return counts

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_client(args: list[str]) -> tuple[float, float, float, int, str, float | None]:
    """Run ``mpremote ARGS``; return wall s, CPU s, peak RSS MB, exit code, stdout, start-up CPU s.

    Output goes to temporary files so the child can be reaped with ``os.wait4``, which
    gives that one child's CPU time (worker processes it reaped included) and peak RSS
    (not the lab's). The child runs through ``_client.py``, which notes its CPU time when
    the fan-out starts: that is the start-up cost.
    """
    env = {**os.environ, "MPREMOTE_PASSWORD": LAB_PASSWORD}
    wrapper = str(Path(__file__).with_name("_client.py"))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        mark = Path(tmp) / "startup"
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, wrapper, str(mark), *args], stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
        startup = float(mark.read_text()) if mark.exists() else None
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, proc.returncode, text, startup


def measure(hosts: int, latency: int, transport: str, sessions: int, client_args: list[str]) -> list[Measurement]:
    results = []
    with tempfile.TemporaryDirectory(prefix="mpremote-bench-") as tmp:
        lab = LabProcess(Path(tmp), hosts, latency, transport, sessions)
        try:
            for command, extra in (("sessions", []), ("logoff", ["--all", "--yes"])):
                offset = lab.journal_offset()
                before = lab.request_counters()
                lab_cpu = lab.cpu_seconds()
                base = [command, str(lab.targets), "--format", "json", "--no-progress", "--timeout", "120"]
                wall, cpu, rss, code, out, startup = run_client([*base, *extra, *client_args])
                time.sleep(0.2)  # let the lab answer its last requests and flush its journal
                lab_after = lab.cpu_seconds()
                per_host = lab.requests_between(before, lab.request_counters())
                counts = lab.wsman_messages_since(offset)
                try:
                    rows = json.loads(out)
                    errors = sum(1 for r in rows if r.get("status") != "ok")
                    bad = [r for r in rows if r.get("status") != "ok"]
                    if bad:
                        print(f"  first error: {bad[0].get('host')}: {bad[0].get('error')}", file=sys.stderr)
                except ValueError:
                    errors = hosts
                results.append(
                    Measurement(
                        command=command,
                        hosts=hosts,
                        latency_ms=latency,
                        transport=transport,
                        wall_s=round(wall, 3),
                        ratio_to_one_host=None,
                        requests_per_host=round(sum(per_host) / hosts, 2),
                        max_requests_host=max(per_host, default=0),
                        wsman_per_host=round(sum(counts.values()) / hosts, 2),
                        cpu_ms_per_host=round(cpu * 1000 / hosts, 1),
                        cpu_ms_per_host_run=round((cpu - startup) * 1000 / hosts, 1) if startup is not None else None,
                        startup_cpu_s=round(startup, 3) if startup is not None else None,
                        lab_cpu_ms_per_host=(
                            round((lab_after - lab_cpu) * 1000 / hosts, 1)
                            if lab_cpu is not None and lab_after is not None
                            else None
                        ),
                        peak_rss_mb=round(rss, 1),
                        errors=errors,
                        exit_code=code,
                    )
                )
        finally:
            lab.stop()
    return results


@dataclass
class PeerMeasurement:
    hosts: int
    latency_ms: int
    transport: str
    forks: int
    wall_s: float
    cpu_ms_per_host: float
    requests_per_host: float
    peak_rss_mb: float
    ok_hosts: int
    exit_code: int
    #: the same run's ``mpremote sessions`` against the same lab, and the ratios
    mpremote_wall_s: float
    mpremote_cpu_ms_per_host: float
    wall_ratio: float
    cpu_ratio: float
    #: the two mpremote runs' walls (before and after the peer), whose mean is used above
    mpremote_walls_s: tuple[float, float] = (0.0, 0.0)


def find_ansible(explicit: str | None) -> str | None:
    """``--ansible PATH``, else the repo's ``.venv-ansible`` (see docs/performance.md), else PATH."""
    import shutil

    if explicit:
        return explicit
    local = Path(__file__).resolve().parent.parent / ".venv-ansible" / "bin" / "ansible"
    return str(local) if local.exists() else shutil.which("ansible")


def run_ansible_peer(lab: LabProcess, ansible: str, forks: int) -> tuple[float, float, float, int, int, list[int]]:
    """``ansible all -m raw -a quser`` over Ansible's psrp connection, NTLM, against the lab.

    Returns wall s, CPU s (ansible and its forks, reaped), peak RSS MB, exit code, hosts
    that answered, requests per host.
    """
    import yaml

    data = yaml.safe_load(lab.targets.read_text(encoding="utf-8"))
    ca = data["vars"].get("ca_cert")
    inv_vars = {
        "ansible_connection": "psrp",
        "ansible_psrp_protocol": data["vars"]["transport"],
        "ansible_psrp_auth": "ntlm",
        "ansible_user": data["vars"]["username"],
        "ansible_password": LAB_PASSWORD,
        "ansible_host": "127.0.0.1",
    }
    if ca:
        inv_vars["ansible_psrp_ca_cert"] = str((lab.targets.parent / ca).resolve())
    hosts = {name: {"ansible_host": h["address"], "ansible_port": int(h["port"])} for name, h in data["hosts"].items()}
    inventory = lab.targets.parent / "ansible-inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": inv_vars, "hosts": hosts}}), encoding="utf-8")
    env = {**os.environ, "ANSIBLE_HOME": str(lab.targets.parent / ".ansible"),
           "ANSIBLE_LOCAL_TEMP": str(lab.targets.parent / ".ansible-tmp"), "ANSIBLE_NOCOLOR": "1"}  # fmt: skip
    before = lab.request_counters()
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [ansible, "all", "-i", str(inventory), "-m", "raw", "-a", "quser", "-f", str(forks)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    time.sleep(0.2)
    per_host = lab.requests_between(before, lab.request_counters())
    ok = sum(1 for line in text.splitlines() if "| CHANGED |" in line or "| SUCCESS |" in line)
    code = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, code, ok, per_host


def measure_peer(
    hosts: int, latency: int, transport: str, sessions: int, client_args: list[str], ansible: str, forks: list[int]
) -> list[PeerMeasurement]:
    """mpremote sessions and the Ansible peer (each fork count) against one lab.

    Order: mpremote, Ansible at the first fork count, mpremote, Ansible at the next fork
    count, mpremote...: each peer run is bracketed by two mpremote runs, and its ratios use
    the mean of those two, so neither side gets only the quieter end of the run (this
    machine's speed drifts within seconds; an Ansible run takes ~10 s).
    """
    with tempfile.TemporaryDirectory(prefix="mpremote-bench-peer-") as tmp:
        lab = LabProcess(Path(tmp), hosts, latency, transport, sessions)
        try:
            base = ["sessions", str(lab.targets), "--format", "json", "--no-progress", "--timeout", "120"]
            ours = [run_client([*base, *client_args])]
            peers = []
            for f in forks:
                peers.append((f, run_ansible_peer(lab, ansible, f)))
                ours.append(run_client([*base, *client_args]))
        finally:
            lab.stop()
    out = []
    for k, (f, (a_wall, a_cpu, a_rss, a_code, ok, per_host)) in enumerate(peers):
        first, second = ours[k], ours[k + 1]
        m_wall = (first[0] + second[0]) / 2
        m_cpu = (first[1] + second[1]) / 2
        peer = PeerMeasurement(
            hosts=hosts, latency_ms=latency, transport=transport, forks=f, wall_s=round(a_wall, 3),
            cpu_ms_per_host=round(a_cpu * 1000 / hosts, 1), requests_per_host=round(sum(per_host) / hosts, 2),
            peak_rss_mb=round(a_rss, 1), ok_hosts=ok, exit_code=a_code, mpremote_wall_s=round(m_wall, 3),
            mpremote_cpu_ms_per_host=round(m_cpu * 1000 / hosts, 1), wall_ratio=round(a_wall / m_wall, 2),
            cpu_ratio=round(a_cpu / m_cpu, 2), mpremote_walls_s=(round(first[0], 3), round(second[0], 3)),
        )  # fmt: skip
        out.append(peer)
    return out


def startup_ratio(repeats: int = 7) -> dict[str, float]:
    def median_time(cmd: list[str]) -> float:
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times.append(time.perf_counter() - t)
        return sorted(times)[len(times) // 2]

    typer_s = median_time([sys.executable, "-c", "import typer"])
    help_s = median_time([sys.executable, "-m", "mpremote", "--help"])
    return {"import_typer_s": round(typer_s, 3), "mpremote_help_s": round(help_s, 3),
            "ratio": round(help_s / typer_s, 2)}  # fmt: skip


def precompile() -> None:
    """Byte-compile the package first, as ``pip install`` does for users.

    With ``PYTHONDONTWRITEBYTECODE`` set (some shells and CI runners set it) and no
    ``__pycache__`` yet, every client process compiled mpremote's own modules from source
    before its first request: about 35 ms of CPU that users never pay, counted as start-up.
    ``py_compile`` writes the bytecode whatever that variable says; the clients then read it.
    """
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "mpremote"), quiet=1)


def main() -> int:
    precompile()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 and 100 hosts, 0 and 20 ms, https only")
    parser.add_argument("--hosts", type=int, action="append", help="host counts (repeatable)")
    parser.add_argument("--latency", type=int, action="append", help="ms per response (repeatable)")
    parser.add_argument("--transport", action="append", choices=["http", "https"])
    parser.add_argument("--sessions-per-host", type=int, default=6)
    parser.add_argument("--json", type=Path, help="also write the measurements as JSON here")
    parser.add_argument(
        "--client-arg", action="append", default=[], help="extra mpremote option, e.g. --client-arg=--concurrency=32"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-host run (no ratio)")
    parser.add_argument("--no-startup", action="store_true", help="skip the --help start-up measurement")
    parser.add_argument(
        "--peer-ansible", action="store_true",
        help="also run `ansible -m raw -a quser` over Ansible's psrp connection (ansible-core + pypsrp, "
        "e.g. in .venv-ansible) against the same lab, at each host count up to --peer-max-hosts",
    )  # fmt: skip
    parser.add_argument("--peer-max-hosts", type=int, default=100)
    parser.add_argument("--ansible", help="the ansible executable (default: .venv-ansible/bin/ansible, then PATH)")
    parser.add_argument(
        "--ansible-forks", type=int, action="append",
        help="ansible -f, repeatable (default: 16 and 64; the peer's best is compared too)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        host_counts, latencies, transports = [10, 100], [0, 20], ["https"]
    else:
        host_counts = args.hosts or [10, 100, 500]
        latencies = args.latency or [0, 20, 100]
        transports = args.transport or ["http", "https"]

    rows: list[Measurement] = []
    for transport in transports:
        for latency in latencies:
            baseline: dict[str, float] = {}
            if not args.no_baseline:
                one = measure(1, latency, transport, args.sessions_per_host, args.client_arg)
                baseline = {m.command: m.wall_s for m in one}
            for n in host_counts:
                for m in measure(n, latency, transport, args.sessions_per_host, args.client_arg):
                    if baseline.get(m.command):
                        m.ratio_to_one_host = round(m.wall_s / baseline[m.command], 2)
                    rows.append(m)
                    print(_row(m), flush=True)
    peers: list[PeerMeasurement] = []
    if args.peer_ansible:
        ansible = find_ansible(args.ansible)
        if ansible is None:
            print("\n--peer-ansible: ansible not found (pip install ansible-core pypsrp in .venv-ansible)")
        else:
            for transport in transports:
                for latency in latencies:
                    for n in [h for h in host_counts if h <= args.peer_max_hosts]:
                        found = measure_peer(n, latency, transport, args.sessions_per_host, args.client_arg, ansible,
                                             args.ansible_forks or [16, 64])  # fmt: skip
                        peers.extend(found)
                        for p in found:
                            print(f"peer ansible raw quser {transport} N={n} L={latency}ms -f {p.forks}: "
                                  f"wall={p.wall_s}s cpu/host={p.cpu_ms_per_host}ms req/host={p.requests_per_host} "
                                  f"rss={p.peak_rss_mb}MB ok={p.ok_hosts}/{n} errors={n - p.ok_hosts} | mpremote "
                                  f"sessions (mean of the runs before and after: {p.mpremote_walls_s[0]}s, "
                                  f"{p.mpremote_walls_s[1]}s) wall={p.mpremote_wall_s}s "
                                  f"cpu/host={p.mpremote_cpu_ms_per_host}ms | mpremote is {p.wall_ratio}x faster "
                                  f"(wall), {p.cpu_ratio}x less CPU", flush=True)  # fmt: skip
                        best = min(found, key=lambda p: p.wall_s)
                        print(f"peer ansible best fork count at N={n}: -f {best.forks} ({best.wall_s}s): "
                              f"mpremote is {best.wall_ratio}x faster than the peer's best", flush=True)  # fmt: skip
    if rows:
        print("\n" + _markdown(rows))
    startup = {} if args.no_startup else startup_ratio()
    if startup:
        print(f"\nstart-up: mpremote --help {startup['mpremote_help_s']}s = {startup['ratio']} x import typer "
              f"({startup['import_typer_s']}s)")  # fmt: skip
    if args.json:
        args.json.write_text(
            json.dumps(
                {"rows": [asdict(r) for r in rows], "peers": [asdict(p) for p in peers], "startup": startup}, indent=2
            )
        )
    return 0 if all(r.errors == 0 for r in rows) else 1


def _markdown(rows: list[Measurement]) -> str:
    """The run as a markdown table (what docs/performance.md shows)."""
    lines = [
        "| command | transport | N | L ms | wall s | req/host | client CPU ms/host (start-up incl.) | without "
        "start-up | start-up CPU s | lab CPU ms/host | peak RSS MB | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in rows:
        lines.append(
            f"| {m.command} | {m.transport} | {m.hosts} | {m.latency_ms} | {m.wall_s:.2f} | {m.requests_per_host:g} | "
            f"{m.cpu_ms_per_host} | {m.cpu_ms_per_host_run} | {m.startup_cpu_s} | {m.lab_cpu_ms_per_host} | "
            f"{m.peak_rss_mb:.0f} | {m.errors} |"
        )
    return "\n".join(lines)


def _row(m: Measurement) -> str:
    return (
        f"{m.command:9} {m.transport:5} N={m.hosts:<4} L={m.latency_ms:<4}ms wall={m.wall_s:7.2f}s "
        f"x1host={m.ratio_to_one_host!s:6} req/host={m.requests_per_host:5} (max {m.max_requests_host}) "
        f"wsman/host={m.wsman_per_host:5} "
        f"cpu/host={m.cpu_ms_per_host:6}ms (run {m.cpu_ms_per_host_run!s:5}ms, start-up {m.startup_cpu_s}s) "
        f"lab={m.lab_cpu_ms_per_host!s:5}ms "
        f"rss={m.peak_rss_mb:6}MB errors={m.errors} exit={m.exit_code}"
    )


if __name__ == "__main__":
    sys.exit(main())
