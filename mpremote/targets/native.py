"""YAML target lists and Ansible inventories -> resolved :class:`~mpremote.hosts.Host` list.

Two formats, told apart by their top-level keys:

* **native** (``vars:``, ``hosts:``, ``groups:``), see ``examples/lab.yaml``;
* **Ansible YAML inventories as they are** (``all:`` or top-level group names, each with
  ``hosts`` / ``children`` / ``vars``), see ``examples/ansible-inventory.yaml``. Ansible
  connection vars are mapped (``ansible_host``, ``ansible_psrp_auth``, ...); other vars are
  kept in ``Host.vars``; ``mpremote_<field>`` sets any native field (``mpremote_password_env``).

Why so strict: a target list decides which machines get their users logged off. A typo
must stop the run with ``file:line: field 'x': problem`` (exit 2, nothing done) rather
than be ignored; duplicate keys, conflicting duplicate hosts, unknown group references and
empty groups are all refused. Literal passwords are refused wherever they appear, and no
message ever quotes the value of a password field.

Variable precedence (later wins): built-in defaults < top-level ``vars`` (Ansible:
``all.vars``) < group vars, outer groups before inner ones (depth from the top, then
group name, as Ansible orders them) < host vars. ``tags`` are the exception: every level's
tags are added together. ``ca_cert`` paths are relative to the target file's folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpremote.errors import InputFileError
from mpremote.hosts import DEFAULT_PORTS, Host, endpoint_key, format_endpoint
from mpremote.targets.ansible import AnsibleVarMapper
from mpremote.targets.fields import (
    FIELDS,
    LITERAL_PASSWORD,
    FieldSpec,
    Scope,
    Val,
    check_address,
    did_you_mean,
    is_password_key,
)
from mpremote.targets.patterns import MAX_RANGE_HOSTS, count_ranges, expand_ranges, select_hosts
from mpremote.targets.yamlload import LineDict, LineList, load_yaml

__all__ = ["FIELDS", "LITERAL_PASSWORD", "FieldSpec", "Inventory", "load_targets"]

NATIVE_TOP_KEYS = ("vars", "hosts", "groups")
NATIVE_GROUP_KEYS = ("hosts", "children", "vars")
ANSIBLE_GROUP_KEYS = NATIVE_GROUP_KEYS
_HOST_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._:%-]*$")
_GROUP_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
#: A target list holds at most this many hosts; group references may name them a few times over.
MAX_HOSTS = MAX_RANGE_HOSTS
MAX_REFERENCES = 10 * MAX_HOSTS


@dataclass
class _HostDef:
    name: str
    line: int
    order: tuple[int, int]
    scope: Scope


@dataclass
class _GroupDef:
    name: str
    line: int
    hosts: list[str] = field(default_factory=list)
    refs: list[tuple[str, int]] = field(default_factory=list)
    children: list[tuple[str, int]] = field(default_factory=list)
    scope: Scope = field(default_factory=Scope)


# --- the result ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Inventory:
    """Resolved targets: hosts in file order, groups -> host names (transitive)."""

    path: str
    hosts: list[Host]
    groups: dict[str, list[str]]
    format: str = "native"  # "native" | "ansible"

    def host(self, name: str) -> Host:
        """The host called ``name`` (case-insensitive); KeyError when absent."""
        for host in self.hosts:
            if host.name.lower() == name.lower():
                return host
        raise KeyError(name)

    def limit(self, *patterns: str) -> list[Host]:
        """Hosts selected by ``--limit`` patterns (none = all); several patterns intersect.

        See :mod:`mpremote.targets.patterns` for the syntax. Raises UsageError naming a term
        that matches nothing.
        """
        if not patterns:
            return list(self.hosts)
        names = select_hosts(list(patterns), [h.name for h in self.hosts], self.groups)
        wanted = set(names)
        return [h for h in self.hosts if h.name in wanted]

    def limit_all(self, patterns: list[str] | tuple[str, ...]) -> list[Host]:
        """Same as :meth:`limit` for a list of ``--limit`` options (empty list = all hosts)."""
        return self.limit(*patterns)


def load_targets(path: str | Path) -> Inventory:
    """Read a target list (native or Ansible YAML); raises InputFileError on any problem."""
    return _Reader(Path(path)).read()


# --- reading -------------------------------------------------------------------------------


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self.hosts: dict[str, _HostDef] = {}
        self.groups: dict[str, _GroupDef] = {}
        self.parents: dict[str, set[str]] = {}
        self.top = Scope()
        self.format = "native"
        self.references = 0
        self.checked_files: set[str] = set()

    def error(self, line: int | None, fld: str | None, problem: str) -> InputFileError:
        return InputFileError(self.where, line, fld, problem)

    def read(self) -> Inventory:
        data = load_yaml(self.path)
        if data is None:
            raise self.error(None, None, "the file is empty; expected hosts: and groups:")
        if not isinstance(data, LineDict):
            raise self.error(getattr(data, "line", 1), None, "expected a mapping with hosts:, groups:, vars:")
        if self._looks_ansible(data):
            self.format = "ansible"
            self._read_ansible(data)
        else:
            self._read_native(data)
        return self._resolve()

    @staticmethod
    def _looks_ansible(data: LineDict) -> bool:
        if "all" in data:
            return True
        if any(k in data for k in NATIVE_TOP_KEYS):
            return False
        return bool(data) and all(
            v is None or (isinstance(v, dict) and set(v) <= set(ANSIBLE_GROUP_KEYS)) for v in data.values()
        )

    # native ---------------------------------------------------------------------------------

    def _read_native(self, data: LineDict) -> None:
        for key in data:
            if key not in NATIVE_TOP_KEYS:
                raise self.error(data.line_of(key), str(key), "unknown key" + did_you_mean(str(key), NATIVE_TOP_KEYS))
        if data.get("vars") is not None:
            self.top = self._native_scope(self._mapping(data, "vars"), host=False)
        hosts = data.get("hosts")
        if isinstance(hosts, LineList):
            for i, name in enumerate(hosts):
                self._define(self._name(name, hosts.line_of(i)), hosts.line_of(i), Scope())
        elif hosts is not None:
            for name, body in self._mapping(data, "hosts").items():
                self._define_native(name, body, self._mapping(data, "hosts"))
        groups = data.get("groups")
        if groups is not None:
            groups = self._mapping(data, "groups")
            for name, body in groups.items():
                self._native_group(self._group_name(name, groups.line_of(name)), body, groups.line_of(name))

    def _define_native(self, name: Any, body: Any, parent: LineDict) -> list[str]:
        line = parent.line_of(name)
        if body is not None and not isinstance(body, LineDict):
            raise self.error(line, str(name), "expected a mapping of host fields, or nothing")
        scope = self._native_scope(body, host=True) if body else Scope()
        return self._define(self._name(name, line), line, scope)

    def _native_group(self, name: str, body: Any, line: int) -> None:
        if name == "all":
            raise self.error(line, name, "'all' is reserved (it already means every host)")
        group = self.groups.setdefault(name, _GroupDef(name, line))
        if body is None:
            return
        if not isinstance(body, LineDict):
            raise self.error(line, name, "expected a mapping with hosts:, children:, vars:")
        for key in body:
            if key not in NATIVE_GROUP_KEYS:
                raise self.error(body.line_of(key), str(key), "unknown key" + did_you_mean(str(key), NATIVE_GROUP_KEYS))
        hosts = body.get("hosts")
        if isinstance(hosts, LineList):  # references to hosts defined elsewhere in the file
            for i, item in enumerate(hosts):
                pattern = self._name(item, hosts.line_of(i))
                group.refs.extend((n, hosts.line_of(i)) for n in self._expand(pattern, hosts.line_of(i)))
        elif isinstance(hosts, LineDict):  # Ansible-like definitions: {name: {fields}}
            for host_name, host_body in hosts.items():
                group.hosts.extend(self._define_native(host_name, host_body, hosts))
        elif hosts is not None:
            raise self.error(body.line_of("hosts"), "hosts", "expected a list of host names or a mapping")
        children = body.get("children")
        if isinstance(children, LineList):
            for i, child in enumerate(children):
                group.children.append((self._group_name(child, children.line_of(i)), children.line_of(i)))
        elif children is not None:
            raise self.error(body.line_of("children"), "children", "expected a list of group names")
        if body.get("vars") is not None:
            self._merge_scope(group.scope, self._native_scope(self._mapping(body, "vars"), host=False), name)

    def _native_scope(self, body: LineDict, *, host: bool) -> Scope:
        scope = Scope()
        for key, value in body.items():
            line = body.line_of(key)
            if not isinstance(key, str):
                raise self.error(line, str(key), "field names must be text")
            if is_password_key(key):
                raise self.error(line, key, LITERAL_PASSWORD)
            spec = FIELDS.get(key)
            if spec is None:
                raise self.error(line, key, "unknown field" + did_you_mean(key, tuple(FIELDS)))
            if spec.host_only and not host:
                raise self.error(line, key, f"'{key}' can only be set on a host, not in vars")
            scope.fields[key] = self.checked(key, value, line, key)
        return scope

    def checked(self, fld: str, value: Any, line: int, key: str) -> Val:
        try:
            return Val(FIELDS[fld].check(value), line, key)
        except ValueError as exc:
            raise self.error(line, key, str(exc)) from None

    # ansible --------------------------------------------------------------------------------

    def _read_ansible(self, data: LineDict) -> None:
        mapper = AnsibleVarMapper(self)
        for name, body in data.items():
            line = data.line_of(name)
            self._ansible_group(self._group_name(name, line), body, line, None, mapper)

    def _ansible_group(self, name: str, body: Any, line: int, parent: str | None, mapper: AnsibleVarMapper) -> None:
        is_all = name == "all"
        if is_all and parent is not None:
            raise self.error(line, name, "'all' cannot be a child group")
        group = None if is_all else self.groups.setdefault(name, _GroupDef(name, line))
        if parent is not None and parent != "all":
            self.parents.setdefault(name, set()).add(parent)
            self.groups[parent].children.append((name, line))
        if body is None:
            return
        if not isinstance(body, LineDict):
            raise self.error(line, name, "expected a mapping with hosts:, children:, vars:")
        for key in body:
            if key not in ANSIBLE_GROUP_KEYS:
                raise self.error(
                    body.line_of(key), str(key), "unknown key" + did_you_mean(str(key), ANSIBLE_GROUP_KEYS)
                )
        if body.get("hosts") is not None:
            hosts = self._mapping(body, "hosts")
            for host_name, host_body in hosts.items():
                host_line = hosts.line_of(host_name)
                if host_body is not None and not isinstance(host_body, LineDict):
                    raise self.error(host_line, str(host_name), "expected a mapping of host vars, or nothing")
                scope = mapper.scope(host_body) if host_body else Scope()
                defined = self._define(self._name(host_name, host_line), host_line, scope)
                if group is not None:
                    group.hosts.extend(defined)
        if body.get("vars") is not None:
            scope = mapper.scope(self._mapping(body, "vars"))
            if group is None:
                self._merge_scope(self.top, scope, "all")
            else:
                self._merge_scope(group.scope, scope, name)
        if body.get("children") is not None:
            children = self._mapping(body, "children")
            for child, child_body in children.items():
                child_line = children.line_of(child)
                self._ansible_group(self._group_name(child, child_line), child_body, child_line, name, mapper)

    # shared helpers -------------------------------------------------------------------------

    def _mapping(self, parent: LineDict, key: str) -> LineDict:
        value = parent[key]
        if not isinstance(value, LineDict):
            raise self.error(parent.line_of(key), key, "expected a mapping")
        return value

    def _name(self, name: Any, line: int) -> str:
        if not isinstance(name, str) or not name.strip():
            raise self.error(line, str(name), "host names must be text (quote numbers and yes/no)")
        return name.strip()

    def _group_name(self, name: Any, line: int) -> str:
        if not isinstance(name, str) or not _GROUP_NAME.match(name):
            raise self.error(line, str(name), "group names use letters, digits, '_', '-', '.'")
        return name

    def _expand(self, pattern: str, line: int, *, defining: bool = False) -> list[str]:
        """Expand a range, counting first: the caps are checked before any name is made."""
        try:
            count = count_ranges(pattern)
            if defining and len(self.hosts) + count > MAX_HOSTS:
                raise ValueError(
                    f"the target list would hold {len(self.hosts) + count} hosts, more than the limit of "
                    f"{MAX_HOSTS} hosts"
                )
            if not defining:
                self.references += count
                if self.references > MAX_REFERENCES:
                    raise ValueError(f"group references name more than {MAX_REFERENCES} hosts in all")
            names = expand_ranges(pattern)
        except ValueError as exc:
            raise self.error(line, pattern, str(exc)) from None
        for name in names:
            if not _HOST_NAME.match(name):
                raise self.error(line, pattern, f"'{name}' is not a valid host name")
        return names

    def _define(self, pattern: str, line: int, scope: Scope) -> list[str]:
        names = self._expand(pattern, line, defining=True)
        if len(names) > 1 and "address" in scope.fields:
            raise self.error(
                scope.fields["address"].line,
                "address",
                f"one address cannot serve the {len(names)} hosts of '{pattern}'",
            )
        for index, name in enumerate(names):
            old = self.hosts.get(name)
            if old is None:
                self.hosts[name] = _HostDef(name, line, (line, index), Scope(dict(scope.fields), dict(scope.extras)))
            else:
                self._merge_scope(old.scope, scope, name, what=f"host '{name}'")
        return names

    def _merge_scope(self, into: Scope, new: Scope, name: str, *, what: str = "") -> None:
        """Merge a repeated definition; the same key with another value is an error."""
        what = what or f"group '{name}'"
        for mine, theirs in ((into.fields, new.fields), (into.extras, new.extras)):
            for key, val in theirs.items():
                old = mine.get(key)
                if old is not None and old.value != val.value:
                    raise self.error(
                        val.line,
                        val.key,
                        f"{what} is defined twice with different values of '{key}' (lines {old.line} and {val.line})",
                    )
                mine[key] = val

    # resolution -----------------------------------------------------------------------------

    def _resolve(self) -> Inventory:
        for name, group in self.groups.items():
            if name in self.hosts:
                raise self.error(
                    group.line, name, f"'{name}' is both a group and a host (line {self.hosts[name].line})"
                )
            for child, line in group.children:
                if child not in self.groups:
                    raise self.error(
                        line, "children", f"unknown group '{child}'" + did_you_mean(child, tuple(self.groups))
                    )
                if self.format == "native":
                    self.parents.setdefault(child, set()).add(name)
            for ref, line in group.refs:
                if ref not in self.hosts:
                    hint = did_you_mean(ref, tuple(self.hosts)) if self.hosts else ""
                    raise self.error(
                        line, "hosts", f"unknown host '{ref}'{hint} (define it under hosts:, or use the mapping form)"
                    )
                group.hosts.append(ref)
        self._check_cycles()
        members = {name: self._members(name) for name in self.groups}
        for name, group in self.groups.items():
            if not members[name]:
                raise self.error(group.line, name, f"group '{name}' has no hosts")
        depth: dict[str, int] = {}
        for name in self.groups:
            self._depth(name, depth)
        ordered = sorted(self.hosts.values(), key=lambda h: h.order)
        hosts = [self._build(h, [g for g in self.groups if h.name in members[g]], depth) for h in ordered]
        self._check_duplicate_endpoints(hosts, ordered)
        rank = {h.name: i for i, h in enumerate(ordered)}
        groups = {g: sorted(members[g], key=rank.__getitem__) for g in self.groups}
        return Inventory(self.where, hosts, groups, self.format)

    def _check_duplicate_endpoints(self, hosts: list[Host], defs: list[_HostDef]) -> None:
        """One machine, one entry: the same address and port under two names would have its
        sessions listed and counted twice, and every log-off sent twice."""
        seen: dict[tuple[str, int], tuple[Host, _HostDef]] = {}
        for host, hdef in zip(hosts, defs, strict=True):
            key = (endpoint_key(host.address), host.port)
            first = seen.setdefault(key, (host, hdef))
            if first[0] is not host:
                raise self.error(
                    hdef.line,
                    host.name,
                    f"{format_endpoint(*key)} is already host '{first[0].name}' (line {first[1].line}); "
                    "one machine needs one entry (its sessions would be counted and acted on twice)",
                )

    def _check_cycles(self) -> None:
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done

        def visit(name: str, path: list[str]) -> None:
            state[name] = 1
            for child, line in self.groups[name].children:
                if state.get(child) == 1:
                    cycle = " -> ".join([*path[path.index(child) :], child])
                    raise self.error(line, "children", f"groups form a cycle: {cycle}")
                if state.get(child) is None:
                    visit(child, [*path, child])
            state[name] = 2

        for name in self.groups:
            if name not in state:
                visit(name, [name])

    def _members(self, name: str) -> set[str]:
        group = self.groups[name]
        found = set(group.hosts)
        for child, _ in group.children:
            found |= self._members(child)
        return found

    def _depth(self, name: str, memo: dict[str, int]) -> int:
        if name not in memo:
            memo[name] = 1 + max((self._depth(p, memo) for p in self.parents.get(name, ())), default=0)
        return memo[name]

    def _build(self, hdef: _HostDef, group_names: list[str], depth: dict[str, int]) -> Host:
        layers = [
            self.top,
            *(self.groups[g].scope for g in sorted(group_names, key=lambda g: (depth[g], g))),
            hdef.scope,
        ]
        fields: dict[str, Val] = {}
        extras: dict[str, Any] = {}
        tags: list[str] = []
        for scope in layers:
            fields.update(scope.fields)
            extras.update({k: v.value for k, v in scope.extras.items()})
            tags.extend(t for t in scope.fields.get("tags", Val((), 0, "")).value if t not in tags)

        def get(key: str, default: Any = None) -> Any:
            return fields[key].value if key in fields else default

        transport = get("transport")
        if transport is None:
            # Ansible's psrp plugin talks http when only port 5985 is given; follow it there.
            transport = "http" if self.format == "ansible" and get("port") == DEFAULT_PORTS["http"] else "https"
        ca_cert = get("ca_cert")
        if ca_cert is not None:
            cert = Path(ca_cert).expanduser()
            ca_cert = os.path.abspath(cert if cert.is_absolute() else self.path.parent / cert)
            if ca_cert not in self.checked_files:
                if not os.path.isfile(ca_cert):
                    val = fields["ca_cert"]
                    raise self.error(val.line, val.key, f"no such file: {ca_cert}")
                self.checked_files.add(ca_cert)
        if "address" not in fields:  # the name is the address: it must be one
            try:
                check_address(hdef.name)
            except ValueError as exc:
                raise self.error(hdef.line, hdef.name, f"{exc} (set address: for this host)") from None
        host_record = Host(
            name=hdef.name,
            address=get("address", hdef.name),
            port=get("port", DEFAULT_PORTS[transport]),
            transport=transport,
            auth=get("auth", "negotiate"),
            username=get("username"),
            password_env=get("password_env"),
            ca_cert=ca_cert,
            verify_tls=get("verify_tls", True),
            allow_insecure_basic=get("allow_insecure_basic", False),
            spn_host=get("spn_host"),
            spn_service=get("spn_service"),
            groups=tuple(group_names),
            tags=tuple(tags),
            vars=extras,
            source=f"{self.where}:{hdef.line}",
            origins={k: f"{self.where}:{v.line}" for k, v in fields.items()},
        )
        return host_record
