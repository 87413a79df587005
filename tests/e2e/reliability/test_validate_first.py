"""Check everything before contacting any host: every problem is exit 2, one line, nothing done.

What a user cares about: a typo in an option or a path must never log people off and only
then fail (no results shown, no retry file, an audit log saying "exit 0"). Every case here
points at a live lab host, so "nothing was contacted" is measured, not assumed, and checks
that no file the user gave as input was overwritten.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpremote.lab.server import Lab
from tests.support.helpers import cli_env, invoke, start_lab

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = start_lab(tmp_path_factory.mktemp("validate"), hosts=2, sessions_per_host=3)
    try:
        yield lab
    finally:
        lab.stop()


def targets(lab: Lab, tmp_path: Path, hosts: str | None = None, extra_vars: str = "") -> Path:
    """A valid target list for the lab (or ``hosts`` as given), with its CA and password_env."""
    if hosts is None:
        hosts = "".join(f"  {h.name}: {{address: 127.0.0.1, port: {h.port}}}\n" for h in lab.hosts)
    path = tmp_path / "lab.yaml"
    path.write_text(
        "vars:\n  username: labadmin\n  password_env: MPREMOTE_PASSWORD\n"
        f"  ca_cert: {lab.ca_path}\n{extra_vars}hosts:\n{hosts}",
        encoding="utf-8",
    )
    return path


def refused(lab: Lab, *args: str | Path, words: tuple[str, ...] = ()) -> str:
    """Run the CLI; assert exit 2, one line on stderr, nothing on stdout, no host contacted."""
    before = lab.request_count()
    res = invoke(*args)
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2, res.stdout + res.stderr
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), res.stderr
    assert res.stdout == ""
    for word in words:
        assert word in res.stderr, res.stderr
    assert lab.request_count() == before, "a host was contacted although the input was refused"
    return lines[0]


# -- output, retry, audit paths ---------------------------------------------------------------

PATH_CASES = {
    "output-in-missing-dir": (["-o", "{tmp}/missing-dir/out.json"], ["-o/--output", "missing-dir", "does not exist"]),
    "retry-in-missing-dir": (["--retry-file", "{tmp}/missing-dir/retry.txt"], ["--retry-file", "does not exist"]),
    "audit-in-missing-dir": (["--audit-log", "{tmp}/missing-dir/audit.jsonl"], ["--audit-log", "does not exist"]),
    "output-is-a-directory": (["-o", "{tmp}"], ["-o/--output", "is a directory"]),
    "audit-is-a-directory": (["--audit-log", "{tmp}"], ["--audit-log", "is a directory"]),
    "retry-is-a-directory": (["--retry-file", "{tmp}"], ["--retry-file", "is a directory"]),
    "output-unwritable": (["-o", "/proc/version"], ["-o/--output", "/proc/version", "cannot write"]),
    "output-is-the-targets": (["-o", "{targets}"], ["-o/--output", "input file"]),
    "retry-is-the-targets": (["--retry-file", "{targets}"], ["--retry-file", "input file"]),
    "audit-is-the-targets": (["--audit-log", "{targets}"], ["--audit-log", "input file"]),
    "output-is-the-targets-by-another-name": (["-o", "{tmp}/./link.yaml"], ["-o/--output", "input file"]),
    "output-is-the-audit-log": (
        ["-o", "{tmp}/a.jsonl", "--audit-log", "{tmp}/a.jsonl"],
        ["-o/--output", "--audit-log"],
    ),
    "retry-is-the-output": (["-o", "{tmp}/r.txt", "--retry-file", "{tmp}/r.txt"], ["--retry-file", "-o/--output"]),
}


@pytest.mark.parametrize("case", sorted(PATH_CASES))
@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_bad_output_paths_are_refused_before_acting(lab: Lab, tmp_path: Path, case: str, fmt: str) -> None:
    options, words = PATH_CASES[case]
    path = targets(lab, tmp_path)
    (tmp_path / "link.yaml").symlink_to(path)
    original = path.read_bytes()
    options = [o.format(tmp=tmp_path, targets=path) for o in options]
    refused(lab, "logoff", path, "--all", "--yes", "-f", fmt, *options, words=tuple(words))
    assert path.read_bytes() == original, "the targets file was overwritten"
    assert not (tmp_path / "missing-dir").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.yaml", "link.yaml"], "a file was left behind"


def test_a_policy_run_refuses_to_write_its_audit_log_over_an_input(lab: Lab, tmp_path: Path) -> None:
    path = targets(lab, tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"name: eod\ntargets: {path}\ntimezone: UTC\nschedule: {{cron: '0 17 * * *'}}\n"
        "stages:\n  - {action: logoff}\nselect: {all: true}\n",
        encoding="utf-8",
    )
    original = policy.read_bytes()
    refused(lab, "policy", "run", policy, "--now", "2026-03-27T17:00Z", "--state", tmp_path / "s.json",
            "--audit-log", policy, words=("--audit-log", "input file"))  # fmt: skip
    assert policy.read_bytes() == original
    refused(lab, "policy", "run", policy, "--now", "2026-03-27T17:00Z", "--state", tmp_path / "s.json",
            "--audit-log", tmp_path, words=("--audit-log", "is a directory"))  # fmt: skip
    refused(lab, "policy", "run", policy, "--now", "2026-03-27T17:00Z", "--state", tmp_path / "s.json",
            "--log", path, words=("--log", "input file"))  # fmt: skip
    assert not (tmp_path / "s.json").exists(), "the stage was recorded although nothing ran"


# -- selectors and values ---------------------------------------------------------------------

SELECTOR_CASES = {
    "empty-user": (["--user", ""], ["--user", "''"]),
    "padded-user": (["--user", "ana "], ["--user", "'ana '"]),
    "domain-without-user": (["--exclude", "X\\", "--all"], ["--exclude", "X\\"]),
    "absurd-idle": (["--idle-over", "1000000000d"], ["--idle-over", "too large"]),
    "absurd-grace": (["--all", "--warn", "bye", "--grace", "99999999999999d"], ["--grace", "too large"]),
    "session-on-no-such-host": (["--session", "nohost:3"], ["--session", "nohost", "not among the hosts"]),
}


@pytest.mark.parametrize("case", sorted(SELECTOR_CASES))
def test_bad_selectors_exit_2_with_one_line(lab: Lab, tmp_path: Path, case: str) -> None:
    options, words = SELECTOR_CASES[case]
    command = "logoff" if "--all" in options else "sessions"
    extra = ["--yes"] if command == "logoff" else []
    line = refused(lab, command, targets(lab, tmp_path), *options, *extra, words=tuple(words))
    assert "internal error" not in line and "bug" not in line


def test_session_on_a_host_outside_the_limit_is_refused(lab: Lab, tmp_path: Path) -> None:
    """``--session mp-lab-002:3 --limit mp-lab-001`` can never select anything: say so."""
    refused(lab, "sessions", targets(lab, tmp_path), "--limit", "mp-lab-001", "--session", "mp-lab-002:3",
            words=("--session", "mp-lab-002"))  # fmt: skip


def test_session_ref_matching_a_host_case_insensitively_is_accepted(lab: Lab, tmp_path: Path) -> None:
    res = invoke("sessions", targets(lab, tmp_path), "--session", "MP-LAB-001:2", "-f", "json")
    assert res.exit_code == 0, res.stderr


# -- host fields at load time -----------------------------------------------------------------

FIELD_CASES = {
    "address-not-a-host": ('  a: {address: "[/]"}\n', 6, "address", ["[/]", "not a host name or IP address"]),
    "address-with-shell": (
        '  a: {address: "1.2.3.4; rm -rf /"}\n',
        6,
        "address",
        ["1.2.3.4; rm -rf /", "not a host name or IP address"],
    ),
    "address-with-space": ('  a: {address: "mp 101"}\n', 6, "address", ["not a host name or IP address"]),
    "address-bad-ipv4": ('  a: {address: "10.0.0.300"}\n', 6, "address", ["not a host name or IP address"]),
    "missing-ca-cert": (
        "  a:\n    address: 127.0.0.1\n    ca_cert: no-such-ca.pem\n",
        8,
        "ca_cert",
        ["no-such-ca.pem", "no such file"],
    ),
    "host-name-with-markup": ('  "mp-[/]": {}\n', 6, "mp-[/]", ["'mp-[/]' is not a valid host name"]),
}


@pytest.mark.parametrize("case", sorted(FIELD_CASES))
def test_host_fields_are_checked_when_the_file_is_loaded(lab: Lab, tmp_path: Path, case: str) -> None:
    hosts, line, field, words = FIELD_CASES[case]
    path = targets(lab, tmp_path, hosts=hosts)
    for command in (["targets"], ["sessions"], ["logoff", "--all", "--yes"]):
        refused(lab, *command[:1], path, *command[1:], words=(f"{path}:{line}: field '{field}'", *words))


def test_ipv6_and_plain_names_are_accepted(lab: Lab, tmp_path: Path) -> None:
    hosts = (
        "  a: {address: '::1'}\n  b: {address: '[::1]', port: 5999}\n  c: {address: 'fe80::1%eth0'}\n"
        "  d: {address: mp-101.school.local}\n  e: {address: 10.0.0.7}\n  f: {address: MP_101}\n"
    )
    res = invoke("targets", targets(lab, tmp_path, hosts=hosts), "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert '"address": "::1"' in res.stdout and '"address": "fe80::1%eth0"' in res.stdout


def test_ca_cert_missing_is_exit_2_like_the_option(lab: Lab, tmp_path: Path) -> None:
    """A missing ``ca_cert:`` used to fail every host with exit 8 after connecting."""
    path = targets(lab, tmp_path).read_text(encoding="utf-8").replace(str(lab.ca_path), "gone.pem")
    (tmp_path / "lab.yaml").write_text(path, encoding="utf-8")
    refused(lab, "sessions", tmp_path / "lab.yaml", words=(f"{tmp_path / 'lab.yaml'}:4: field 'ca_cert'", "gone.pem"))


# -- ranges: counted before expanding ---------------------------------------------------------


def _run_with_memory_cap(args: list[str], cap_bytes: int = 1 << 30) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # pragma: no cover - in the child
        resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    return subprocess.run(
        [sys.executable, "-m", "mpremote", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
        preexec_fn=limit,
    )


@pytest.mark.parametrize(
    "hosts",
    [
        "  mp-[1:9999999999]: {}\n",
        "  mp-[a:z]-[1:9999999999]-[00:99]: {}\n",
        "".join(f"  r{i}-[1:9000]: {{}}\n" for i in range(300)),  # each under the cap, together far over
    ],
    ids=["one-huge-range", "huge-range-in-the-middle", "many-ranges"],
)
def test_huge_ranges_are_refused_with_the_cap_message_in_little_memory(lab: Lab, tmp_path: Path, hosts: str) -> None:
    path = targets(lab, tmp_path, hosts=hosts)
    proc = _run_with_memory_cap(["targets", str(path)])
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "10000 hosts" in lines[0], proc.stderr[-2000:]
    assert f"{path}:" in lines[0]


def test_ranges_up_to_the_cap_still_work(lab: Lab, tmp_path: Path) -> None:
    res = invoke("targets", targets(lab, tmp_path, hosts="  mp-[1:5000]: {}\n  lab-[0001:5000]: {}\n"),
                 "--format", "jsonl")  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert len(res.stdout.splitlines()) == 10_000


# -- duplicates -------------------------------------------------------------------------------


def test_one_address_and_port_under_two_names_is_refused(lab: Lab, tmp_path: Path) -> None:
    """Its sessions would be counted twice, and a log-off sent twice."""
    port = lab.hosts[0].port
    hosts = f"  a: {{address: 127.0.0.1, port: {port}}}\n  b: {{address: 127.0.0.1, port: {port}}}\n"
    path = targets(lab, tmp_path, hosts=hosts)
    refused(lab, "logoff", path, "--all", "--yes",
            words=(f"{path}:7: field 'b'", f"127.0.0.1:{port}", "'a' (line 6)"))  # fmt: skip


def test_duplicate_by_name_and_by_case_is_refused(lab: Lab, tmp_path: Path) -> None:
    hosts = "  MP-101.school.local: {}\n  other: {address: mp-101.SCHOOL.local}\n"
    path = targets(lab, tmp_path, hosts=hosts)
    refused(lab, "targets", path, words=("field 'other'", "mp-101.school.local:5986", "'MP-101.school.local'"))


def test_same_address_on_different_ports_is_two_hosts(lab: Lab, tmp_path: Path) -> None:
    res = invoke("targets", targets(lab, tmp_path), "--format", "json")
    assert res.exit_code == 0, res.stderr  # the lab: every host on 127.0.0.1, each its own port


def test_port_override_that_makes_two_hosts_one_is_refused(lab: Lab, tmp_path: Path) -> None:
    """``--port`` can turn two entries into the same endpoint: checked after overrides too."""
    refused(lab, "sessions", targets(lab, tmp_path), "--port", str(lab.hosts[0].port),
            words=("127.0.0.1", "mp-lab-001", "mp-lab-002"))  # fmt: skip


# -- user text is never markup ----------------------------------------------------------------


def test_error_messages_print_user_text_literally(lab: Lab, tmp_path: Path) -> None:
    path = targets(lab, tmp_path)
    line = refused(lab, "sessions", path, "--limit", "[red]zz")
    assert "[red]zz" in line
    line = refused(lab, "sessions", path, "--user", "[bold]x ")
    assert "'[bold]x '" in line


def test_os_errors_of_options_name_the_path_once(lab: Lab, tmp_path: Path) -> None:
    """An unreadable --ca-cert or a missing targets file: one line, the path, no errno soup."""
    missing = tmp_path / "nope.yaml"
    line = refused(lab, "sessions", missing)
    assert line.count(str(missing)) == 1


@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc")
def test_nothing_created_for_a_refused_run(lab: Lab, tmp_path: Path) -> None:
    path = targets(lab, tmp_path)
    audit = tmp_path / "audit.jsonl"
    refused(lab, "logoff", path, "--all", "--yes", "--audit-log", audit, "-o", "/proc/version")
    assert not audit.exists() and not Path(f"{audit}.lock").exists()
