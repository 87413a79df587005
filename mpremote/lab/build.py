"""Everything the lab decides before it listens: host specs, sockets, TLS files, targets file.

Kept apart from ``server.py`` so the event-loop code there stays about serving, and so each
step can fail early with a readable :class:`~mpremote.lab.server.LabError`-style message.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from mpremote.lab import faults as faults_mod
from mpremote.lab.tls import LabCertificates, generate_lab_certificates

log = logging.getLogger(__name__)


class BuildError(Exception):
    """The lab cannot be built as asked (message is meant for the user)."""


def build_specs(opts: Any) -> list[Any]:
    """Host specs from the lab file or the generator, with ``--fault`` rules applied."""
    from mpremote.lab import labfile

    if opts.lab_file is not None:
        lab = labfile.load_lab_file(opts.lab_file)
    else:
        lab = labfile.generate_lab(opts.hosts, opts.sessions_per_host, opts.seed, opts.locale, opts.multipoint)
    specs = []
    for spec in lab.hosts:
        extra = faults_mod.faults_for(spec.name, list(opts.faults))
        specs.append(dataclasses.replace(spec, faults=tuple(spec.faults) + extra) if extra else spec)
    return specs


def _raise_fd_limit(wanted: int) -> None:
    """500 hosts need ~500 listeners plus one socket per client: lift the soft fd limit."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def bind_sockets(address: str, count: int, port_base: int) -> list[socket.socket]:
    """Bind ``count`` TCP sockets (not yet listening), in ascending port order.

    ``port_base`` 0 lets the kernel choose; otherwise ports ``port_base .. port_base+count-1``.
    """
    _raise_fd_limit(count * 3 + 256)
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    socks: list[socket.socket] = []
    try:
        for i in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            socks.append(sock)
            if sys.platform != "win32":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            port = port_base + i if port_base else 0
            try:
                sock.bind((address, port))
            except OSError as exc:
                raise BuildError(f"cannot listen on {address}:{port}: {exc.strerror or exc}") from None
            sock.setblocking(False)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return sorted(socks, key=lambda s: s.getsockname()[1])


def tls_material(opts: Any) -> tuple[LabCertificates | None, Path | None, Any]:
    """(certificates, CA path, temp dir to clean up) — the CA lands next to the targets file."""
    if not opts.tls:
        return None, None, None
    certs = generate_lab_certificates()
    tmpdir = None
    if opts.write_targets is not None:
        target = Path(opts.write_targets)
        ca_path = target.with_name(f"{target.stem}-ca.pem")
    else:
        tmpdir = tempfile.TemporaryDirectory(prefix="mpremote-lab-")
        ca_path = Path(tmpdir.name, "lab-ca.pem")
    certs.write_ca(ca_path)
    return certs, ca_path, tmpdir


def write_targets(
    path: Path, hosts: list[Any], opts: Any, ca_path: Path | None, spns: dict[str, tuple[str, str]] | None = None
) -> Path:
    """Write the targets file every mpremote command can use as is (no secret inside).

    A Kerberos lab's file names no ``password_env``: a ticket (kinit) is all a run needs,
    and a password still works from ``MPREMOTE_PASSWORD`` or ``--password-stdin``. Where
    the keytab holds no ``host/NAME`` principal for a host, the host's line names the one it
    does hold (``spn_host``/``spn_service``), so the file works as is.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# written by mpremote lab serve",
        "vars:",
        f"  transport: {'https' if opts.tls else 'http'}",
        f"  auth: {opts.auth}",
        f"  username: {_scalar(opts.username)}",
    ]
    if opts.auth != "kerberos":
        lines.append("  password_env: MPREMOTE_PASSWORD")
    if ca_path is not None:
        rel = os.path.relpath(ca_path, path.parent)
        lines.append(f"  ca_cert: {_scalar(Path(rel).as_posix())}")
    lines.append("hosts:")
    for h in hosts:
        extra = ""
        service, spn_host = (spns or {}).get(h.name, ("host", h.name))
        if spn_host.lower() != h.name.lower():
            extra += f", spn_host: {_scalar(spn_host)}"
        if service != "host":
            extra += f", spn_service: {_scalar(service)}"
        lines.append(f"  {_scalar(h.name)}: {{address: {_scalar(h.address)}, port: {h.port}{extra}}}")
    lines.append("groups:")
    lines.append(f"  lab: {{hosts: [{', '.join(_scalar(h.name) for h in hosts)}]}}")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _scalar(value: str) -> str:
    """A YAML plain scalar when it reads back as the same string, else a double-quoted one."""
    import json
    import re

    import yaml

    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)
