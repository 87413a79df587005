"""Bad target files and contradictory options: exit 2, a message that says where and what,
no host contacted, no secret echoed.

What a user cares about: a typo in lab.yaml at 16:59 is pointed at (file, line, field, and
a "did you mean"), nothing half-happens on the hosts, and the error never shows a password.
The targets point at a live lab host so "no host contacted" is measured, not assumed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpremote.lab.server import Lab
from tests.support.helpers import assert_no_secret, invoke, start_lab

pytestmark = pytest.mark.lab

LITERAL = "Literal-Pw-9Qz"  # a password someone typed into a YAML file


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = start_lab(tmp_path_factory.mktemp("badinput"), hosts=1, sessions_per_host=4)
    try:
        yield lab
    finally:
        lab.stop()


def good_file(lab: Lab, tmp_path: Path, extra: str = "") -> Path:
    """A valid target list for the lab's one host (used where the options are at fault)."""
    port = lab.hosts[0].port
    path = tmp_path / "ok.yaml"
    path.write_text(
        "vars:\n  username: labadmin\n  password_env: MPREMOTE_PASSWORD\n"
        f"  ca_cert: {lab.ca_path}\n{extra}"
        f"hosts:\n  mp-lab-001: {{address: 127.0.0.1, port: {port}}}\n",
        encoding="utf-8",
    )
    return path


#: name -> (file text with {port}, words the message must contain, line it must name)
BAD_FILES: dict[str, tuple[str, list[str], int | None]] = {
    "malformed-yaml": ("hosts:\n  a: {{address: 127.0.0.1, port: [1\n", ["malformed YAML"], 3),
    "wrong-type": ("hosts:\n  a: {{address: 127.0.0.1, port: many}}\n", ["'port'", "integer"], 2),
    "unknown-key": (
        "hosts:\n  a:\n    adress: 127.0.0.1\n    port: {port}\n",
        ["'adress'", "did you mean 'address'"],
        3,
    ),
    "unknown-top-key": ("host:\n  a: {{address: 127.0.0.1}}\n", ["'host'", "did you mean 'hosts'"], 1),
    "duplicate-host": (
        "hosts:\n  a: {{address: 127.0.0.1, port: {port}}}\n  a: {{address: 127.0.0.1, port: {port}}}\n",
        ["'a'", "duplicate"],
        3,
    ),
    "empty-group": (
        "hosts:\n  a: {{address: 127.0.0.1, port: {port}}}\ngroups:\n  lab1: {{hosts: []}}\n",
        ["'lab1'", "no hosts"],
        4,
    ),
    "literal-password": (
        f"vars:\n  username: labadmin\n  password: {LITERAL}\n"
        "hosts:\n  a: {{address: 127.0.0.1, port: {port}}}\n",
        ["'password'", "literal passwords are not accepted", "password_env"],
        3,
    ),
    "group-of-unknown-host": (
        "hosts:\n  a: {{address: 127.0.0.1, port: {port}}}\ngroups:\n  lab1: {{hosts: [a, bb]}}\n",
        ["'bb'"],
        4,
    ),
    "tab-indent": ("hosts:\n\ta: {{address: 127.0.0.1, port: {port}}}\n", ["malformed YAML", "'\\t'"], 2),
    "control-character": (
        "hosts:\n  a: {{address: 127.0.0.1\x07, port: {port}}}\n",
        ["malformed YAML", "#x0007 is not allowed"],
        2,
    ),
    "empty-file": ("", ["empty"], None),
    "not-a-mapping": ("- a\n- b\n", ["mapping"], 1),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_target_file_is_refused_with_file_line_and_field(lab: Lab, tmp_path: Path, case: str) -> None:
    text, words, line = BAD_FILES[case]
    path = tmp_path / "lab.yaml"
    path.write_text(text.format(port=lab.hosts[0].port), encoding="utf-8")
    before = lab.request_count()
    res = invoke("logoff", path, "--all", "--yes", "--timeout", "5")
    assert res.exit_code == 2
    where = f"{path}:{line}:" if line is not None else f"{path}:"
    assert where in res.stderr, res.stderr
    for word in words:
        assert word in res.stderr, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert lab.request_count() == before, "a host was contacted although the file is invalid"
    assert_no_secret("the error", res.stdout, res.stderr)
    assert_no_secret("the error", res.stdout, res.stderr, secret=LITERAL)


@pytest.mark.parametrize("case", ["missing", "directory", "not-utf8", "unreadable"])
def test_unreadable_target_file_is_refused(lab: Lab, tmp_path: Path, case: str) -> None:
    path = tmp_path / "lab.yaml"
    if case == "directory":
        path.mkdir()
    elif case == "not-utf8":
        path.write_bytes(b"hosts:\n  a: {address: \xff\xfe}\n")
    elif case == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("root reads files whatever their mode")
        path.write_text("hosts:\n  a: {address: 127.0.0.1}\n", encoding="utf-8")
        path.chmod(0)
    res = invoke("sessions", path)
    assert res.exit_code == 2
    assert str(path) in res.stderr
    assert "Traceback" not in res.stderr
    assert lab.request_count() == 0


def test_unset_password_env_is_named_before_any_host_is_contacted(lab: Lab, tmp_path: Path) -> None:
    path = good_file(lab, tmp_path).read_text(encoding="utf-8").replace("MPREMOTE_PASSWORD", "LAB_PW_UNSET")
    (tmp_path / "env.yaml").write_text(path, encoding="utf-8")
    res = invoke("logoff", tmp_path / "env.yaml", "--all", "--yes")
    assert res.exit_code == 2
    assert "LAB_PW_UNSET" in res.stderr and "env.yaml:3" in res.stderr
    assert lab.request_count() == 0


#: name -> (options, words the message must contain)
BAD_OPTIONS: dict[str, tuple[list[str], list[str]]] = {
    "ca-cert-and-no-verify": (["--ca-cert", "{ca}", "--no-verify-tls"], ["--ca-cert", "--no-verify-tls"]),
    "missing-ca-cert": (["--ca-cert", "{tmp}/nope.pem"], ["--ca-cert", "nope.pem"]),
    "warn-without-grace": (["--warn", "bye"], ["--warn", "--grace"]),
    "bad-grace": (["--warn", "bye", "--grace", "soon"], ["--grace"]),
    "no-selector": ([], ["--all"]),
    "bad-format": (["--format", "xml"], ["--format"]),
    "bad-state": (["--state", "sleeping"], ["--state"]),
    "bad-idle": (["--idle-over", "5 parsecs"], ["--idle-over"]),
    "bad-session-ref": (["--session", "mp-lab-001"], ["--session", "HOST:ID"]),
    "bad-auth": (["--auth", "digest"], ["--auth"]),
    "bad-transport": (["--transport", "ftp"], ["--transport"]),
    "limit-matches-nothing": (["--limit", "mp-lab-0001"], ["mp-lab-001"]),  # did you mean
    "basic-over-http": (["--auth", "basic", "--transport", "http"], ["Basic", "--allow-insecure-basic"]),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_contradictory_or_invalid_options_exit_2_and_contact_nobody(lab: Lab, tmp_path: Path, case: str) -> None:
    options, words = BAD_OPTIONS[case]
    options = [o.format(ca=lab.ca_path, tmp=tmp_path) for o in options]
    selector = [] if case == "no-selector" else ["--all"]
    before = lab.request_count()
    res = invoke("logoff", good_file(lab, tmp_path), *selector, "--yes", *options)
    assert res.exit_code == 2, res.stdout + res.stderr
    for word in words:
        assert word in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert lab.request_count() == before
    assert_no_secret("the error", res.stdout, res.stderr)


def test_logoff_without_yes_on_a_pipe_refuses_and_does_nothing(lab: Lab, tmp_path: Path) -> None:
    """Unattended runs must say --yes: a cron job never waits on a prompt nobody sees."""
    res = invoke("logoff", good_file(lab, tmp_path), "--all")
    assert res.exit_code == 2
    assert "--yes" in res.stderr
    assert lab.request_count() == 0


def test_options_the_parser_rejects_exit_2(lab: Lab, tmp_path: Path) -> None:
    for bad in (["--timeout", "0"], ["--concurrency", "0"], ["--port", "70000"], ["--bogus-option"]):
        res = invoke("sessions", good_file(lab, tmp_path), *bad)
        assert res.exit_code == 2, bad
    assert lab.request_count() == 0
