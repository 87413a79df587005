"""Host name ranges (``mp-101-[01:24]``) and ``--limit`` patterns.

Kept apart from :mod:`mpremote.targets` because both the target-file reader and the
``--limit`` option (and policies' ``limit:``) use the same range syntax, and because the
pattern language is the part users reach for in a hurry, so it gets its own tests.

``--limit`` semantics (close to Ansible's, with ``,`` as the only separator because ``:``
appears in IPv6 addresses, ranges and Windows paths):

* a pattern is a comma list of terms; empty terms are ignored;
* a term is ``all`` / ``*``, a host name, a group name, a glob (``*``, ``?``, ``[...]``;
  case-insensitive, over host names *and* group names: a group that matches contributes
  all its hosts), a range (``mp-101-[01:12].school.local``), or ``@FILE``: the host names
  in a retry file (one per line, ``#`` starts a comment; relative to the current folder);
* plain terms are united; ``&term`` intersects; ``!term`` excludes; a pattern made only of
  ``&``/``!`` terms starts from all hosts ("all except");
* every term must match something, exclusions included: a mistyped ``!teacher-pc`` must
  not silently exclude nothing and log the teacher off;
* several ``--limit`` options AND together (each narrows the previous), so a policy's
  ``limit:`` plus a command-line ``--limit`` can only narrow the run.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Mapping, Sequence

from mpremote.errors import InputFileError, UsageError
from mpremote.targets.retry import read_retry_file

__all__ = [
    "MAX_RANGE_HOSTS",
    "count_ranges",
    "expand_ranges",
    "has_range",
    "hosts_matching",
    "read_retry_file",
    "select_hosts",
]

#: One pattern expanding past this is almost certainly a typo (``[1:10000000]``); a target
#: list holds at most this many hosts in total, too (checked before anything is expanded).
MAX_RANGE_HOSTS = 10_000

_RANGE = re.compile(r"\[([^\[\]:]*):([^\[\]:]*)(?::([^\[\]:]*))?\]")
_GLOB_CHARS = frozenset("*?[")


def has_range(name: str) -> bool:
    """True when ``name`` contains at least one ``[start:end]`` range."""
    return _RANGE.search(name) is not None


def _range_spec(start: str, end: str, step: str | None) -> tuple[int, int, int, int, bool]:
    """Check one ``[start:end(:step)]``: (lo, hi, stride, zero-pad width, letters?).

    Raises ValueError with a user-facing reason. Nothing is expanded here.
    """
    stride = 1
    if step is not None:
        if not step.isdigit() or not step.isascii() or int(step) == 0:
            raise ValueError(f"range step must be a positive integer, not '{step}'")
        stride = int(step)
    if start.isdigit() and end.isdigit() and start.isascii() and end.isascii():
        lo, hi = int(start), int(end)
        width = 0
        if len(start) > 1 and start.startswith("0"):
            if len(start) != len(end):
                raise ValueError(f"zero-padded range [{start}:{end}] needs start and end of equal width")
            width = len(start)
        if lo > hi:
            raise ValueError(f"range [{start}:{end}] runs backwards")
        return lo, hi, stride, width, False
    if len(start) == 1 and len(end) == 1 and start.isalpha() and end.isalpha() and start.isascii() and end.isascii():
        if start.islower() != end.islower():
            raise ValueError(f"letter range [{start}:{end}] mixes upper and lower case")
        if start > end:
            raise ValueError(f"range [{start}:{end}] runs backwards")
        return ord(start), ord(end), stride, 0, True
    raise ValueError(f"range [{start}:{end}] must be two numbers (01:24) or two letters (a:f)")


def count_ranges(name: str) -> int:
    """How many names ``name`` expands to, computed without expanding (a product of counts).

    Raises ValueError on a malformed range.
    """
    total = 1
    for match in _RANGE.finditer(name):
        lo, hi, stride, _, _ = _range_spec(*match.groups())
        total *= (hi - lo) // stride + 1
    return total


def _one_range(start: str, end: str, step: str | None) -> list[str]:
    lo, hi, stride, width, letters = _range_spec(start, end, step)
    if letters:
        return [chr(c) for c in range(lo, hi + 1, stride)]
    return [str(i).zfill(width) for i in range(lo, hi + 1, stride)]


def expand_ranges(name: str, *, cap: int = MAX_RANGE_HOSTS) -> list[str]:
    """``mp-[1:2]-[a:b]`` -> ``mp-1-a, mp-1-b, mp-2-a, mp-2-b`` (leftmost varies slowest).

    The count is checked against ``cap`` *before* anything is expanded, so
    ``mp-[1:9999999999]`` is refused at once, in no memory. Raises ValueError (with a
    message fit for the user) on malformed or huge ranges.
    """
    count = count_ranges(name)
    if count > cap:
        raise ValueError(f"'{name}' expands to {count} hosts, more than the limit of {cap} hosts")
    return _expand(name)


def _expand(name: str) -> list[str]:
    match = _RANGE.search(name)
    if match is None:
        return [name]
    head, tail = name[: match.start()], name[match.end() :]
    tails = _expand(tail)
    return [f"{head}{item}{rest}" for item in _one_range(*match.groups()) for rest in tails]


def _is_glob(term: str) -> bool:
    return any(c in _GLOB_CHARS for c in term)


def _match_term(
    term: str,
    hosts: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    by_lower: Mapping[str, str],
) -> set[str]:
    """The host names one (already unprefixed) term selects; empty set when none."""
    if term.lower() in ("all", "*"):
        return set(hosts)
    if term.startswith("@"):
        path = term[1:]
        entries = read_retry_file(path)
        if not entries:
            raise UsageError(f"--limit @{path}: the retry file lists no hosts (nothing failed last time?)")
        found: set[str] = set()
        for name, line in entries:
            real = by_lower.get(name.lower())
            if real is None:
                raise InputFileError(path, line, None, f"host '{name}' is not in the target list")
            found.add(real)
        return found
    if has_range(term):
        try:
            names = expand_ranges(term)
        except ValueError as exc:
            raise UsageError(f"--limit '{term}': {exc}") from None
        found = set()
        for name in names:
            found |= _match_term(name, hosts, groups, by_lower)
        return found
    lowered = term.lower()
    if _is_glob(term):
        found = {h for h in hosts if fnmatch.fnmatchcase(h.lower(), lowered)}
        for group, members in groups.items():
            if fnmatch.fnmatchcase(group.lower(), lowered):
                found.update(members)
        return found
    found = set()
    if lowered in by_lower:
        found.add(by_lower[lowered])
    for group, members in groups.items():
        if group.lower() == lowered:
            found.update(members)
    return found


def hosts_matching(term: str, hosts: Sequence[str], groups: Mapping[str, Sequence[str]]) -> set[str]:
    """The host names one ``--limit`` term selects (a name, group, glob, range or ``@FILE``),
    case-insensitively; an empty set when it selects none (no error: callers such as policy
    exemptions may name hosts that are not in this list)."""
    return _match_term(term, hosts, groups, {h.lower(): h for h in hosts})


def select_hosts(
    patterns: str | Sequence[str],
    hosts: Sequence[str],
    groups: Mapping[str, Sequence[str]],
) -> list[str]:
    """Apply one or more ``--limit`` patterns; returns host names in ``hosts`` order.

    Several patterns intersect (each ``--limit`` narrows the run). Raises
    :class:`~mpremote.errors.UsageError` naming the term that matched nothing, or the
    whole pattern when the combination leaves no host.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    by_lower = {h.lower(): h for h in hosts}
    chosen = set(hosts)
    for pattern in patterns:
        chosen &= _select_one(pattern, hosts, groups, by_lower)
    if not chosen:
        shown = " ".join(f"--limit '{p}'" for p in patterns)
        raise UsageError(f"{shown}: no host is left after combining the terms")
    return [h for h in hosts if h in chosen]


def _select_one(
    pattern: str, hosts: Sequence[str], groups: Mapping[str, Sequence[str]], by_lower: Mapping[str, str]
) -> set[str]:
    terms = [t.strip() for t in pattern.split(",") if t.strip()]
    if not terms:
        raise UsageError("--limit: the pattern is empty")
    union: set[str] | None = None
    intersect: list[set[str]] = []
    exclude: set[str] = set()
    for term in terms:
        prefix, body = (term[0], term[1:].strip()) if term[0] in "!&" else ("", term)
        if not body:
            raise UsageError(f"--limit '{pattern}': '{term}' has nothing after '{prefix}'")
        matched = _match_term(body, hosts, groups, by_lower)
        if not matched:
            close = difflib.get_close_matches(body, [*groups, *hosts], n=1, cutoff=0.7)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            joined = re.search(r"[&!]", body)
            if joined:
                # 'labs&room102': terms are comma-separated, the prefix goes after the comma.
                fixed = body[: joined.start()].rstrip() + "," + body[joined.start() :]
                hint = (
                    f"; terms are separated by commas: write '{fixed}' "
                    "(',&' keeps hosts in both, ',!' leaves hosts out)"
                )
            raise UsageError(f"--limit '{pattern}': '{body}' matches no host or group{hint}")
        if prefix == "!":
            exclude |= matched
        elif prefix == "&":
            intersect.append(matched)
        else:
            union = matched if union is None else union | matched
    result = set(hosts) if union is None else union
    for other in intersect:
        result &= other
    result -= exclude
    if not result:
        raise UsageError(f"--limit '{pattern}': no host is left after combining the terms")
    return result
