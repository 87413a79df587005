"""Target lists: both formats, every refusal with its file:line and field, --limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mpremote.errors import InputFileError, UsageError
from mpremote.targets import FIELDS, LITERAL_PASSWORD, Inventory, load_targets
from mpremote.targets.patterns import MAX_RANGE_HOSTS, expand_ranges

DATA = Path(__file__).parent / "data" / "targets"
EXAMPLES = Path(__file__).parents[2] / "examples"


def _write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path) -> InputFileError:
    with pytest.raises(InputFileError) as info:
        load_targets(path)
    err = info.value
    assert isinstance(err, UsageError)  # exit code 2, nothing done
    assert str(err).startswith(str(path))
    return err


# --- ranges ----------------------------------------------------------------------------------


def test_ranges_pad_multiply_and_step() -> None:
    assert expand_ranges("mp-[01:03]") == ["mp-01", "mp-02", "mp-03"]
    assert expand_ranges("mp-[8:10]") == ["mp-8", "mp-9", "mp-10"]
    assert expand_ranges("r[1:2]-[a:b].x") == ["r1-a.x", "r1-b.x", "r2-a.x", "r2-b.x"]
    assert expand_ranges("mp-[0:10:5]") == ["mp-0", "mp-5", "mp-10"]
    assert expand_ranges("plain") == ["plain"]


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("mp-[3:1]", "backwards"),
        ("mp-[01:100]", "equal width"),
        ("mp-[a:3]", "two numbers"),
        ("mp-[a:D]", "case"),
        ("mp-[1:2:0]", "step"),
        (f"mp-[0:{MAX_RANGE_HOSTS}]", "more than"),
    ],
)
def test_bad_ranges_are_refused(pattern: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        expand_ranges(pattern)


def test_bad_range_in_file_names_line(tmp_path: Path) -> None:
    err = _error(_write(tmp_path, "hosts:\n  ok:\n  mp-[05:01]:\n"))
    assert err.line == 3 and "backwards" in err.problem


# --- native format ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def native() -> Inventory:
    return load_targets(DATA / "native_precedence.yaml")


def test_native_hosts_in_file_order_deduplicated(native: Inventory) -> None:
    assert [h.name for h in native.hosts] == [
        "mp-lab-001",
        "mp-101-01",
        "mp-101-02",
        "mp-101-03",
        "mp-200",
        "solo",
        "mp-extra-a",
        "mp-extra-b",
    ]
    assert native.format == "native"


def test_vars_precedence_top_outer_group_inner_group_host(native: Inventory) -> None:
    h = native.host("mp-101-01")
    assert h.groups == ("building", "floor1", "room101")  # parents too, transitively
    assert (h.transport, h.auth, h.port, h.username) == ("http", "kerberos", 6000, "SCHOOL\\building")
    assert h.tags == ("school", "building", "room101")  # tags add up
    assert h.address == "mp-101-01"
    lab = native.host("MP-LAB-001")  # lookup is case-insensitive
    assert (lab.address, lab.port) == ("127.0.0.1", 45001)
    assert native.host("mp-101-02").port == 7000  # host vars from a group's mapping form win
    assert native.host("mp-101-02").groups == ("building", "floor1", "room101", "extra")


def test_defaults_and_port_by_transport(native: Inventory) -> None:
    solo = native.host("solo")
    assert (solo.transport, solo.port, solo.auth, solo.groups) == ("https", 5986, "credssp", ())
    assert solo.tags == ("school", "solo")
    assert native.host("mp-200").port == 6000
    assert native.host("mp-extra-a").username == "EXTRA\\op"


def test_groups_are_transitive_in_host_order(native: Inventory) -> None:
    assert native.groups["room101"] == ["mp-lab-001", "mp-101-01", "mp-101-02", "mp-101-03"]
    assert native.groups["building"] == ["mp-lab-001", "mp-101-01", "mp-101-02", "mp-101-03", "mp-200"]
    assert native.groups["extra"] == ["mp-101-02", "mp-extra-a", "mp-extra-b"]


def test_source_and_origins_point_at_lines(native: Inventory) -> None:
    h = native.host("mp-lab-001")
    where = str(DATA / "native_precedence.yaml")
    assert h.source == f"{where}:8"
    assert h.origins["port"] == f"{where}:8"
    assert h.origins["transport"] == f"{where}:22"


def test_to_dict_is_json_shape(native: Inventory) -> None:
    d = native.host("mp-lab-001").to_dict()
    assert {"host", "address", "port", "transport", "auth", "groups"} <= set(d)
    assert d["groups"] == ["building", "floor1", "room101"]


def test_ca_cert_is_relative_to_the_file(tmp_path: Path) -> None:
    sub = tmp_path / "conf"
    (sub / "certs").mkdir(parents=True)
    (sub / "certs" / "ca.pem").write_text("pem", encoding="utf-8")
    (tmp_path / "abs.pem").write_text("pem", encoding="utf-8")
    path = _write(sub, f"vars: {{ca_cert: certs/ca.pem}}\nhosts:\n  a:\n  b: {{ca_cert: {tmp_path / 'abs.pem'}}}\n")
    inv = load_targets(path)
    assert inv.host("a").ca_cert == os.path.abspath(sub / "certs" / "ca.pem")
    assert inv.host("b").ca_cert == os.path.abspath(tmp_path / "abs.pem")
    # A ca_cert that is not there is refused when the file is read, naming where it was set.
    (sub / "certs" / "ca.pem").unlink()
    with pytest.raises(InputFileError, match=r"t\.yaml:1: field 'ca_cert': no such file: .*ca\.pem"):
        load_targets(path)


def test_basic_over_http_loads_and_records_where(tmp_path: Path) -> None:
    inv = load_targets(_write(tmp_path, "hosts:\n  a: {transport: http, auth: basic}\n"))
    h = inv.host("a")
    assert (h.transport, h.port, h.auth, h.allow_insecure_basic) == ("http", 5985, "basic", False)
    assert h.origins["auth"].endswith("t.yaml:2")


def test_list_form_top_level_hosts(tmp_path: Path) -> None:
    inv = load_targets(_write(tmp_path, "hosts: [a, 'b-[1:2]']\n"))
    assert [h.name for h in inv.hosts] == ["a", "b-1", "b-2"]


def test_field_table_documents_every_field() -> None:
    assert {"transport", "port", "auth", "username", "password_env", "ca_cert", "verify_tls"} <= set(FIELDS)
    assert all(spec.description for spec in FIELDS.values())


# --- refusals, each with file:line and field -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line", "field", "words"),
    [
        ("dup_key.yaml", 6, "port", "duplicate key (first defined at line 4)"),
        ("dup_host.yaml", 7, "port", "lines 2 and 7"),
        ("literal_password.yaml", 3, "password", LITERAL_PASSWORD),
        ("typo_key.yaml", 2, "transprot", "did you mean 'transport'?"),
        ("bad_port.yaml", 3, "port", "1 to 65535"),
        ("cycle.yaml", 10, "children", "cycle: a -> b -> c -> a"),
        ("unknown_child.yaml", 6, "children", "unknown group 'lab3'; did you mean 'lab"),
        ("empty_group.yaml", 6, "lab2", "has no hosts"),
        ("malformed.yaml", 4, None, "malformed YAML"),
        ("ansible_literal.yaml", 7, "ansible_password", LITERAL_PASSWORD),
    ],
)
def test_refusals_name_file_line_and_field(name: str, line: int, field: str | None, words: str) -> None:
    err = _error(DATA / name)
    assert (err.line, err.field) == (line, field)
    assert words in err.problem
    assert f"{DATA / name}:{line}:" in str(err)


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("hosts:\n  a: {transport: ftp}\n", 2, "transport", "https, http"),
        ("hosts:\n  a: {auth: digest}\n", 2, "auth", "negotiate"),
        ("hosts:\n  a: {port: '5986'}\n", 2, "port", "integer"),
        ("hosts:\n  a: {port: true}\n", 2, "port", "integer"),
        ("hosts:\n  a: {verify_tls: 'no'}\n", 2, "verify_tls", "true or false"),
        ("hosts:\n  a: {password_env: 'MY-PW'}\n", 2, "password_env", "NAME of an environment variable"),
        ("hosts:\n  a: {tags: red}\n", 2, "tags", "list of strings"),
        ("vars: {address: 10.0.0.1}\nhosts:\n  a:\n", 1, "address", "only be set on a host"),
        ("hosts:\n  a-[1:2]: {address: 10.0.0.1}\n", 2, "address", "2 hosts"),
        ("hosts:\n  a: 10.0.0.1\n", 2, "a", "mapping"),
        ("hosts:\n  101:\n", 2, "101", "text"),
        ("hostz:\n  a:\nvars: {}\n", 1, "hostz", "did you mean 'hosts'?"),
        ("hosts:\n  a:\ngroups:\n  g:\n    host: [a]\n", 5, "host", "did you mean 'hosts'?"),
        ("hosts:\n  a:\ngroups:\n  g:\n    hosts: [b]\n", 5, "hosts", "unknown host 'b'"),
        ("hosts:\n  a:\ngroups:\n  all:\n    hosts: [a]\n", 4, "all", "reserved"),
        ("hosts:\n  a:\ngroups:\n  a:\n    hosts: [a]\n", 4, "a", "both a group and a host"),
        ("hosts:\n  'bad name':\n", 2, "bad name", "not a valid host name"),
        ("hosts:\n  a:\n    pasword: hunter22\n", 3, "pasword", "did you mean 'password_env'?"),
        ("hosts:\n  a:\n    ansible_password: hunter22\n", 3, "ansible_password", LITERAL_PASSWORD),
    ],
)
def test_field_errors(tmp_path: Path, text: str, line: int, field: str, words: str) -> None:
    err = _error(_write(tmp_path, text))
    assert (err.line, err.field) == (line, field)
    assert words in err.problem
    assert "hunter22" not in str(err)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: !!python/object:os.system ls\n", "malformed YAML"),
    ],
)
def test_file_level_errors(tmp_path: Path, text: str, words: str) -> None:
    assert words in _error(_write(tmp_path, text)).problem


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    err = _error(tmp_path / "nope.yaml")
    assert err.line is None and "not found" in err.problem
    assert "directory" in _error(tmp_path).problem
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"hosts:\n  caf\xe9:\n")
    assert _error(bad).line == 2


def test_literal_password_value_never_echoed() -> None:
    for name, value in (("literal_password.yaml", "Sup3rS3cret!"), ("ansible_literal.yaml", "hunter2-literal")):
        err = _error(DATA / name)
        assert value not in str(err) and value not in repr(err)
        assert "password_env" in str(err)


def test_malformed_yaml_does_not_quote_the_source_line(tmp_path: Path) -> None:
    err = _error(_write(tmp_path, "vars:\n  password: s3cr3t: x\n"))
    assert err.line == 2 and "s3cr3t" not in str(err)


def test_same_host_twice_with_same_vars_is_fine(tmp_path: Path) -> None:
    text = "hosts:\n  a: {port: 1}\ngroups:\n  g:\n    hosts:\n      a: {port: 1, auth: ntlm}\n"
    h = load_targets(_write(tmp_path, text)).host("a")
    assert (h.port, h.auth, h.source) == (1, "ntlm", f"{tmp_path / 't.yaml'}:2")


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = "hosts:\n  a: &base {port: 1, auth: ntlm}\n  b:\n    <<: *base\n    port: 2\n"
    inv = load_targets(_write(tmp_path, text))
    assert (inv.host("b").port, inv.host("b").auth) == (2, "ntlm")


# --- Ansible inventories ---------------------------------------------------------------------


def test_ansible_example_inventory_maps_connection_vars() -> None:
    inv = load_targets(EXAMPLES / "ansible-inventory.yaml")
    assert inv.format == "ansible"
    assert set(inv.groups) == {"classrooms", "lab_a", "lab_b", "annex", "linux_servers"}
    assert len(inv.groups["lab_a"]) == 6 and inv.groups["classrooms"][-1] == "lab-b-02.school.local"
    a1 = inv.host("lab-a-01.school.local")
    assert (a1.transport, a1.port, a1.auth) == ("https", 5986, "negotiate")
    assert (a1.username, a1.password_env) == ("SCHOOL\\ansible-svc", "SCHOOL_ANSIBLE_PW")
    assert a1.ca_cert == os.path.abspath(EXAMPLES / "certs" / "school-root.pem")
    assert a1.groups == ("classrooms", "lab_a")
    assert a1.vars == {
        "ansible_connection": "psrp",
        "ansible_psrp_read_timeout": 60,
        "site": "main-building",
        "room": "A1.04",
    }
    b2 = inv.host("lab-b-02.school.local")
    assert (b2.address, b2.auth, b2.vars["room"]) == ("10.30.2.12", "ntlm", "A1.05")
    m1 = inv.host("annex-mp01")
    assert (m1.transport, m1.port, m1.auth, m1.username, m1.password_env) == (
        "http",
        5985,
        "ntlm",
        "ANNEX-MP01\\localadmin",
        "ANNEX_PW",
    )
    assert inv.host("annex-mp02").verify_tls is False
    assert [h.name for h in inv.limit("classrooms,!lab_b")] == [f"lab-a-0{i}.school.local" for i in range(1, 7)]


def test_ansible_edge_cases() -> None:
    inv = load_targets(DATA / "ansible_edge.yaml")
    w1, w2, w3 = inv.host("win-1"), inv.host("win-2"), inv.host("win-3")
    assert w1.password_env == "WIN_PW"  # lookup('ansible.builtin.env', ...)
    assert (w1.transport, w1.port) == ("http", 5985)  # psrp infers http from port 5985
    assert (w1.auth, w1.verify_tls, w1.allow_insecure_basic) == ("kerberos", False, True)
    assert w1.vars["ansible_become_password"] == "{{ become_pw }}"  # a template is no secret
    assert w1.vars["secret_blob"] == "<vault>"
    assert (w2.port, w2.transport, w2.tags) == (5999, "http", ("legacy",))  # psrp_port beats port
    assert (w3.auth, w3.transport, w3.groups) == ("basic", "http", ("ungrouped",))
    assert w1.groups == ()


@pytest.mark.parametrize(
    ("vars_text", "field", "words"),
    [
        ("ansible_password: !vault |\n          abc", "ansible_password", "vault"),
        ('ansible_password: "{{ vault_pw }}"', "ansible_password", "lookup('env', 'NAME')"),
        ("ansible_become_pass: letmein", "ansible_become_pass", LITERAL_PASSWORD),
        ("ansible_psrp_auth: certificate", "ansible_psrp_auth", "not supported"),
        ("ansible_psrp_cert_validation: maybe", "ansible_psrp_cert_validation", "validate"),
        ("ansible_psrp_protocol: ftp", "ansible_psrp_protocol", "https, http"),
        ('ansible_port: "{{ port }}"', "ansible_port", "templates"),
        ("mpremote_pasword_env: X", "mpremote_pasword_env", "did you mean 'mpremote_password_env'?"),
    ],
)
def test_ansible_refusals(tmp_path: Path, vars_text: str, field: str, words: str) -> None:
    text = f"all:\n  hosts:\n    h1:\n  vars:\n    {vars_text}\n"
    err = _error(_write(tmp_path, text))
    assert (err.line, err.field) == (5, field)
    assert words in err.problem
    assert "letmein" not in str(err)


def test_ansible_group_repeated_and_unknown_key(tmp_path: Path) -> None:
    text = "all:\n  children:\n    g:\n      hosts: {a: }\n    p:\n      children:\n        g:\n"
    inv = load_targets(_write(tmp_path, text))
    assert inv.host("a").groups == ("g", "p")
    err = _error(_write(tmp_path, "all:\n  childs:\n    g:\n"))
    assert (err.line, err.field) == (2, "childs") and "children" in err.problem


# --- --limit ---------------------------------------------------------------------------------


def _names(hosts: list) -> list[str]:
    return [h.name for h in hosts]


def test_limit_names_groups_globs_and_exclusions(native: Inventory) -> None:
    assert _names(native.limit()) == _names(native.hosts)
    assert _names(native.limit("solo")) == ["solo"]
    assert _names(native.limit("room101")) == native.groups["room101"]
    assert _names(native.limit("MP-101-*")) == ["mp-101-01", "mp-101-02", "mp-101-03"]
    assert _names(native.limit("floor*")) == native.groups["floor1"]  # globs match group names too
    assert _names(native.limit("!building")) == ["solo", "mp-extra-a", "mp-extra-b"]  # only exclusions
    assert _names(native.limit("room101,solo,!mp-lab-001")) == ["mp-101-01", "mp-101-02", "mp-101-03", "solo"]
    assert _names(native.limit("building,&extra")) == ["mp-101-02"]
    assert _names(native.limit("mp-101-[02:03]")) == ["mp-101-02", "mp-101-03"]
    assert _names(native.limit("all,!mp-*")) == ["solo"]


def test_repeated_limits_intersect(native: Inventory) -> None:
    assert _names(native.limit("building", "extra,solo")) == ["mp-101-02"]
    assert _names(native.limit_all(["room101", "!mp-lab-001"])) == ["mp-101-01", "mp-101-02", "mp-101-03"]


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("nosuch", "'nosuch' matches no host"),
        ("room10", "did you mean 'room101'"),
        ("room101,!teacher-pc", "'teacher-pc' matches no host"),
        ("zz*", "'zz*' matches no host"),
        ("solo,&extra", "no host is left"),
        ("", "empty"),
        ("!", "nothing after"),
    ],
)
def test_limit_that_matches_nothing_is_a_usage_error(native: Inventory, pattern: str, words: str) -> None:
    with pytest.raises(UsageError, match=words.replace("*", r"\*")):
        native.limit(pattern)


def test_limit_retry_file(native: Inventory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _names(native.limit(f"@{DATA / 'retry.txt'}")) == ["mp-101-02", "mp-200"]
    monkeypatch.chdir(DATA)  # relative to the current folder
    assert _names(native.limit("@retry.txt,solo")) == ["mp-101-02", "mp-200", "solo"]
    assert _names(native.limit("room101,!@retry.txt")) == ["mp-lab-001", "mp-101-01", "mp-101-03"]
    stale = _write(tmp_path, "mp-101-02\ngone-host\n", "stale.retry")
    with pytest.raises(InputFileError) as info:
        native.limit(f"@{stale}")
    assert info.value.line == 2 and "gone-host" in str(info.value)
    empty = _write(tmp_path, "# nothing failed\n", "empty.retry")
    with pytest.raises(UsageError, match="lists no hosts"):
        native.limit(f"@{empty}")
    with pytest.raises(UsageError, match="cannot read"):
        native.limit(f"@{tmp_path / 'missing.retry'}")


# --- examples --------------------------------------------------------------------------------


def test_lab_example_loads() -> None:
    inv = load_targets(EXAMPLES / "lab.yaml")
    assert len(inv.hosts) == 20
    assert len(inv.groups["labs"]) == 19 and len(inv.groups["exams"]) == 4
    teacher = inv.host("mp-102-teacher.school.local")
    assert teacher.tags == ("school", "room102", "teacher") and teacher.address == "10.20.102.5"
    lib = inv.host("library-rds")
    assert (lib.auth, lib.password_env, lib.transport) == ("ntlm", "LIBRARY_PW", "https")
    assert all(h.transport == "https" and h.port == 5986 for h in inv.hosts)
