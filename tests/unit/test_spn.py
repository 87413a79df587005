"""Which Kerberos service principal a host is asked for, and the target fields that set it.

A domain has principals for names (``host/mp-101-01.school.local``), never for addresses;
pypsrp builds the SPN from the address it connects to. These need no Kerberos library: the
choice is made before pypsrp is called (``tests/kerberos`` proves it against a real KDC).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mpremote.errors import InputFileError
from mpremote.hosts import Host
from mpremote.remote.connection import ConnectionSettings, resolve_endpoint, spn_host_for
from mpremote.targets import load_targets


def _host(**fields: Any) -> Host:
    return Host(**{"name": "mp-101-01.school.local", "address": "mp-101-01.school.local", **fields})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"address": "10.20.9.40"}, "mp-101-01.school.local"),  # an IP: the host's name
        ({"address": "fe80::1"}, "mp-101-01.school.local"),
        ({}, None),  # the address is the name: pypsrp's own choice is right
        ({"address": "rds.school.local"}, None),  # a name, as Windows' own client would use it
        ({"address": "10.20.9.40", "spn_host": "library.school.local"}, "library.school.local"),
        ({"name": "10.20.9.41", "address": "10.20.9.40"}, None),  # nothing better than an IP
    ],
)
def test_spn_host_is_the_name_never_an_address(fields: dict[str, Any], expected: str | None) -> None:
    assert spn_host_for(_host(**fields)) == expected


def test_endpoint_carries_spn_host_and_service() -> None:
    ep = resolve_endpoint(_host(address="10.20.9.40", spn_service="HTTP"), ConnectionSettings())
    assert (ep.address, ep.spn_host, ep.spn_service) == ("10.20.9.40", "mp-101-01.school.local", "HTTP")


def test_spn_fields_load_from_a_target_file(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "vars: {auth: kerberos, spn_service: WSMAN}\n"
        "hosts:\n"
        "  mp-101-01.school.local: {address: 10.20.9.40}\n"
        "  library: {address: 10.20.9.41, spn_host: library-rds.school.local, spn_service: HTTP}\n",
        encoding="utf-8",
    )
    hosts = {h.name: h for h in load_targets(path).hosts}
    assert (hosts["mp-101-01.school.local"].spn_host, hosts["mp-101-01.school.local"].spn_service) == (None, "WSMAN")
    assert (hosts["library"].spn_host, hosts["library"].spn_service) == ("library-rds.school.local", "HTTP")
    assert hosts["library"].to_dict()["spn_host"] == "library-rds.school.local"


def test_ansible_negotiate_overrides_map_to_spn_fields(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "all:\n"
        "  hosts:\n"
        "    library:\n"
        "      ansible_host: 10.20.9.41\n"
        "      ansible_psrp_negotiate_hostname_override: library-rds.school.local\n"
        "      ansible_psrp_negotiate_service: HTTP\n",
        encoding="utf-8",
    )
    host = load_targets(path).hosts[0]
    assert (host.address, host.spn_host, host.spn_service) == ("10.20.9.41", "library-rds.school.local", "HTTP")


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("hosts:\n  a: {spn_host: 'HTTP/a.school.local'}\n", 2, "spn_host", "host name"),
        ("hosts:\n  a: {spn_host: ''}\n", 2, "spn_host", "host name"),
        ("hosts:\n  a: {spn_service: 'HTTP/a'}\n", 2, "spn_service", "service class"),
        ("hosts:\n  a: {spn_service: 'host@SCHOOL'}\n", 2, "spn_service", "service class"),
        ("vars:\n  spn_host: a.school.local\nhosts:\n  a: {}\n", 2, "spn_host", "only be set on a host"),
        ("hosts:\n  a: {spn_hots: a.school.local}\n", 2, "spn_hots", "did you mean 'spn_host'"),
    ],
)
def test_bad_spn_fields_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str, words: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        load_targets(path)
    assert (info.value.line, info.value.field) == (line, field)
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("principals", "expected"),
    [
        ([("host", "mp-lab-001"), ("HTTP", "mp-lab-001")], ("host", "mp-lab-001")),  # host first
        ([("WSMAN", "mp-lab-001"), ("HTTP", "mp-lab-001")], ("HTTP", "mp-lab-001")),
        ([("http", "MP-LAB-001.lab.test")], ("http", "MP-LAB-001.lab.test")),  # the FQDN, as spelt
        ([("host", "127.0.0.1")], ("host", "127.0.0.1")),  # the address the client dials
        ([("HTTP", "localhost")], ("HTTP", "localhost")),
        ([("host", "mp-lab-0011"), ("cifs", "mp-lab-001"), ("host", "other")], None),
    ],
)
def test_the_lab_picks_the_keytab_principal_for_a_host(
    principals: list[tuple[str, str]], expected: tuple[str, str] | None
) -> None:
    from mpremote.lab.auth import choose_spn

    assert choose_spn(principals, "mp-lab-001", "127.0.0.1") == expected
