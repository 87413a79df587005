"""Validation of a loaded policy document (``LineDict`` from :mod:`mpremote.targets.yamlload`) into a :class:`Policy`.

Kept apart from :mod:`.model` so the records stay readable; every check here raises
:class:`InputFileError` naming ``file:line: field``.
"""

from __future__ import annotations

import difflib
import re
import string
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mpremote.commands import MSG_MAX_CHARS, Command
from mpremote.errors import InputFileError
from mpremote.policy.model import (
    ACTIONS,
    DAY_NAMES,
    DEFAULT_CATCH_UP,
    DEFAULT_MESSAGE_SECONDS,
    PLACEHOLDERS,
    SESSION_STATES,
    SPARE_BUSY_ACTIONS,
    TEXT_ACTIONS,
    DateRange,
    Exempt,
    Policy,
    Schedule,
    Selection,
    Stage,
    parse_duration,
    render_text,
)
from mpremote.targets.yamlload import LineDict, LineList, load_yaml

_TOP_KEYS = (
    "name",
    "description",
    "targets",
    "limit",
    "timezone",
    "schedule",
    "stages",
    "select",
    "exempt",
    "skip_dates",
    "catch_up",
    "dry_run",
    "audit_log",
)
_STAGE_KEYS = ("name", "before", "after", "action", "text", "seconds", "spare_busy")
_SELECT_KEYS = ("all", "state", "idle_over", "users")
_EXEMPT_KEYS = ("users", "hosts", "groups")
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _suggest(key: object, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown key '{key}'; {hint}allowed: {', '.join(allowed)}"


def _kind(value: Any) -> str:
    """What a YAML value is, in words: ``a list``, ``the text 'x'``, ``nothing``."""
    if isinstance(value, LineList | list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"the value {value!r}"


class _Validator:
    """Carries the file path so every error names ``file:line: field``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, line: int | None, fieldname: str | None, problem: str) -> InputFileError:
        return InputFileError(str(self.path), line, fieldname, problem)

    def mapping(self, value: Any, line: int, where: str, allowed: tuple[str, ...]) -> LineDict:
        if not isinstance(value, LineDict):
            if not where:
                raise self.fail(
                    line, None, f"a policy is a mapping (name:, targets:, timezone:, ...), not {_kind(value)}"
                )
            raise self.fail(line, where, f"expected a mapping (key: value), not {_kind(value)}")
        for key in value:
            if key not in allowed:
                full = f"{where}.{key}" if where else key
                raise self.fail(value.line_of(key), full, _suggest(key, allowed))
        return value

    def strings(self, value: Any, line: int, where: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(line, where, "expected a list of names")
        return tuple(v.strip() for v in value)

    def duration(self, value: Any, line: int, where: str) -> timedelta:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail(line, where, str(exc)) from None


def parse_policy(doc: Any, path: Path) -> Policy:
    """Validate an already-loaded document (``LineDict`` from :mod:`mpremote.targets.yamlload`)."""
    v = _Validator(path)
    if doc is None:
        raise v.fail(None, None, "the policy file is empty")
    top = v.mapping(doc, 1, "", _TOP_KEYS)
    for required in ("name", "targets", "timezone", "schedule", "stages"):
        if required not in top:
            raise v.fail(top.line, required, "required key is missing")

    name = top["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise v.fail(top.line_of("name"), "name", "expected a short name of letters, digits, '.', '_', '-'")

    targets_raw = top["targets"]
    if not isinstance(targets_raw, str) or not targets_raw.strip():
        raise v.fail(top.line_of("targets"), "targets", "expected a path to a targets file")
    targets = (path.parent / targets_raw).resolve() if not Path(targets_raw).is_absolute() else Path(targets_raw)

    limit = top.get("limit")
    if limit is not None and (not isinstance(limit, str) or not limit.strip()):
        raise v.fail(top.line_of("limit"), "limit", "expected a pattern such as 'lab1' or 'mp-*,!mp-lab-001'")

    tzname = top["timezone"]
    try:
        if not isinstance(tzname, str) or not tzname or tzname.startswith(("/", ".")):
            raise ValueError
        ZoneInfo(tzname)
    except (ZoneInfoNotFoundError, ValueError):
        raise v.fail(
            top.line_of("timezone"),
            "timezone",
            f"unknown IANA time zone {tzname!r} (e.g. Europe/Madrid, America/New_York)",
        ) from None

    schedule = _parse_schedule(v, top["schedule"], top.line_of("schedule"))
    stages = _parse_stages(v, top["stages"], top.line_of("stages"), name)
    select = _parse_select(v, top["select"], top.line_of("select")) if "select" in top else Selection(all=True)
    exempt = _parse_exempt(v, top["exempt"], top.line_of("exempt")) if "exempt" in top else Exempt()
    skip = _parse_skip_dates(v, top.get("skip_dates"), top.line_of("skip_dates"))

    catch_up = DEFAULT_CATCH_UP
    if "catch_up" in top:
        catch_up = v.duration(top["catch_up"], top.line_of("catch_up"), "catch_up")
        if catch_up < timedelta(minutes=1):
            raise v.fail(
                top.line_of("catch_up"),
                "catch_up",
                "must be at least 1m: the scheduler calls 'policy run' once a minute",
            )

    dry_run = top.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise v.fail(top.line_of("dry_run"), "dry_run", "expected true or false")
    description = top.get("description", "")
    if not isinstance(description, str):
        raise v.fail(top.line_of("description"), "description", "expected text")
    audit_log = None
    if "audit_log" in top:
        raw = top["audit_log"]
        if not isinstance(raw, str) or not raw.strip():
            raise v.fail(top.line_of("audit_log"), "audit_log", "expected a file path")
        audit_log = (path.parent / raw).resolve()

    return Policy(
        name=name,
        path=path.resolve(),
        targets=targets,
        timezone=tzname,
        schedule=schedule,
        stages=stages,
        select=select,
        exempt=exempt,
        limit=limit,
        limit_line=top.line_of("limit") if limit is not None else None,
        skip_dates=skip,
        catch_up=catch_up,
        dry_run=dry_run,
        description=description,
        audit_log=audit_log,
    )


def _parse_days(v: _Validator, raw: Any, line: int) -> frozenset[int]:
    shorthands = {"daily": range(7), "weekdays": range(5), "weekends": range(5, 7)}
    if isinstance(raw, str) and raw.lower() in shorthands:
        return frozenset(shorthands[raw.lower()])
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise v.fail(line, "schedule.days", "expected a list of days such as [mon, tue] or 'weekdays'")
    days: set[int] = set()

    def day(word: Any) -> int:
        w = str(word).strip().lower()[:3]
        if w not in DAY_NAMES or not isinstance(word, str):
            raise v.fail(line, "schedule.days", f"unknown day {word!r}; use mon, tue, wed, thu, fri, sat, sun")
        return DAY_NAMES.index(w)

    for item in items:
        if isinstance(item, str) and "-" in item:
            a, b = (day(p) for p in item.split("-", 1))
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            days.add(day(item))
    return frozenset(days)


def _parse_time(v: _Validator, raw: Any, line: int) -> time:
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 24 * 60 * 60:
        # YAML 1.1 reads an unquoted 17:00 as the sexagesimal integer 1020 (minutes).
        return time(raw // 60, raw % 60) if raw < 24 * 60 else time(raw // 3600, raw // 60 % 60)
    m = _TIME_RE.match(str(raw).strip()) if isinstance(raw, str) else None
    if not m:
        raise v.fail(line, "schedule.at", f'expected a local time HH:MM such as "17:00", got {raw!r}')
    return time(int(m.group(1)), int(m.group(2)))


def _parse_schedule(v: _Validator, raw: Any, line: int) -> Schedule:
    sched = v.mapping(raw, line, "schedule", ("days", "at", "cron"))
    if "cron" in sched:
        if "at" in sched or "days" in sched:
            raise v.fail(sched.line, "schedule", "use either 'cron' or 'days' + 'at', not both")
        expr = sched["cron"]
        from croniter import croniter

        if not isinstance(expr, str) or len(expr.split()) != 5 or not croniter.is_valid(expr):
            raise v.fail(
                sched.line_of("cron"),
                "schedule.cron",
                f"expected a 5-field cron expression such as '0 17 * * 1-5', got {expr!r}",
            )
        return Schedule(cron=" ".join(expr.split()))
    if "at" not in sched:
        raise v.fail(sched.line, "schedule", "expected 'at' (with optional 'days') or 'cron'")
    at_raw = sched["at"]
    at_items = at_raw if isinstance(at_raw, list) else [at_raw]
    if not at_items:
        raise v.fail(sched.line_of("at"), "schedule.at", "expected at least one time")
    at_line = sched.line_of("at")
    times = sorted({_parse_time(v, item, at_line) for item in at_items})
    days = _parse_days(v, sched["days"], sched.line_of("days")) if "days" in sched else frozenset(range(7))
    return Schedule(days=days, at=tuple(times))


def _parse_stages(v: _Validator, raw: Any, line: int, policy_name: str) -> tuple[Stage, ...]:
    if not isinstance(raw, LineList) or not raw:
        raise v.fail(line, "stages", "expected a list of stages such as [{before: 15m, action: message, ...}]")
    stages = []
    for i, item in enumerate(raw):
        where = f"stages[{i}]"
        st = v.mapping(item, raw.line_of(i), where, _STAGE_KEYS)
        action = st.get("action")
        if action not in ACTIONS:
            raise v.fail(
                st.line_of("action"),
                f"{where}.action",
                f"expected one of {', '.join(ACTIONS)}, got {action!r}",
            )
        if "before" in st and "after" in st:
            raise v.fail(st.line, where, "use either 'before' or 'after', not both")
        offset = timedelta(0)
        if "before" in st:
            offset = -v.duration(st["before"], st.line_of("before"), f"{where}.before")
        elif "after" in st:
            offset = v.duration(st["after"], st.line_of("after"), f"{where}.after")
        text = st.get("text")
        if action in TEXT_ACTIONS:
            if not isinstance(text, str) or not text.strip():
                raise v.fail(st.line_of("text"), f"{where}.text", f"a {action} stage needs a text")
            most = Command(action).info.text_max_chars
            _check_template(v, text, st.line_of("text"), f"{where}.text", policy_name, most)
        elif text is not None:
            raise v.fail(st.line_of("text"), f"{where}.text", f"only message and lock stages take a text, not {action}")
        spare_busy = st.get("spare_busy", False)
        if not isinstance(spare_busy, bool):
            raise v.fail(st.line_of("spare_busy"), f"{where}.spare_busy", "expected true or false")
        if spare_busy and action not in SPARE_BUSY_ACTIONS:
            raise v.fail(
                st.line_of("spare_busy"),
                f"{where}.spare_busy",
                f"only {', '.join(SPARE_BUSY_ACTIONS)} stages can spare busy sessions, not {action}",
            )
        seconds = st.get("seconds", DEFAULT_MESSAGE_SECONDS)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= 86400:
            raise v.fail(st.line_of("seconds"), f"{where}.seconds", "expected whole seconds between 1 and 86400")
        label = st.get("name", "")
        if not isinstance(label, str):
            raise v.fail(st.line_of("name"), f"{where}.name", "expected text")
        stages.append(
            Stage(
                index=i,
                action=action,
                offset=offset,
                text=text,
                seconds=seconds,
                name=label,
                line=st.line,
                spare_busy=spare_busy,
            )
        )
    # Time order; a stable sort keeps file order for stages at the same offset.
    return tuple(sorted(stages, key=lambda s: s.offset))


def _check_template(
    v: _Validator, text: str, line: int, where: str, policy_name: str, most: int = MSG_MAX_CHARS
) -> None:
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise v.fail(line, where, f"bad placeholder: {exc} (write '{{{{' for a literal brace)") from None
    unknown = sorted(n for n in names if n not in PLACEHOLDERS)
    if unknown:
        raise v.fail(line, where, f"unknown placeholder {{{unknown[0]}}}; use {{minutes}}, {{time}} or {{name}}")
    longest = render_text(text, minutes=9999, time_text="00:00", name=policy_name)
    if len(longest) > most:
        raise v.fail(line, where, f"text is {len(longest)} characters; at most {most} (msg: {MSG_MAX_CHARS})")


def _parse_select(v: _Validator, raw: Any, line: int) -> Selection:
    sel = v.mapping(raw, line, "select", _SELECT_KEYS)
    if not sel:
        raise v.fail(sel.line, "select", "choose at least one of: " + ", ".join(_SELECT_KEYS))
    if "all" in sel:
        if sel["all"] is not True:
            raise v.fail(sel.line_of("all"), "select.all", "only 'all: true' is meaningful")
        if len(sel) > 1:
            raise v.fail(sel.line, "select", "'all: true' cannot be combined with other selectors")
        return Selection(all=True)
    state = sel.get("state")
    if state is not None and state not in SESSION_STATES:
        raise v.fail(sel.line_of("state"), "select.state", f"expected active or disconnected, got {state!r}")
    idle = v.duration(sel["idle_over"], sel.line_of("idle_over"), "select.idle_over") if "idle_over" in sel else None
    users = v.strings(sel["users"], sel.line_of("users"), "select.users") if "users" in sel else ()
    return Selection(state=state, idle_over=idle, users=users)


def _parse_exempt(v: _Validator, raw: Any, line: int) -> Exempt:
    ex = v.mapping(raw, line, "exempt", _EXEMPT_KEYS)
    lines: dict[tuple[str, str], int] = {}
    for key in ("hosts", "groups"):
        items = ex.get(key)
        if isinstance(items, str):
            lines[(key, items.strip())] = ex.line_of(key)
        elif isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, str):
                    line_of = getattr(items, "line_of", None)
                    lines.setdefault((key, item.strip()), line_of(i) if line_of else ex.line_of(key))
    fields = {k: v.strings(ex[k], ex.line_of(k), f"exempt.{k}") for k in _EXEMPT_KEYS if k in ex}
    return Exempt(**fields, lines=lines)


def _parse_skip_dates(v: _Validator, raw: Any, line: int) -> tuple[DateRange, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, LineList):
        raise v.fail(line, "skip_dates", "expected a list of dates (2026-12-24) or ranges ({from: ..., to: ...})")
    out = []
    for i, item in enumerate(raw):
        where, item_line = f"skip_dates[{i}]", raw.line_of(i)
        if isinstance(item, LineDict):
            rng = v.mapping(item, item_line, where, ("from", "to"))
            if "from" not in rng or "to" not in rng:
                raise v.fail(rng.line, where, "a range needs both 'from' and 'to'")
            start = _date(v, rng["from"], rng.line_of("from"), f"{where}.from")
            end = _date(v, rng["to"], rng.line_of("to"), f"{where}.to")
            if end < start:
                raise v.fail(rng.line_of("to"), f"{where}.to", f"ends ({end}) before it starts ({start})")
            out.append(DateRange(start, end))
        else:
            day = _date(v, item, item_line, where)
            out.append(DateRange(day, day))
    return tuple(out)


def _date(v: _Validator, raw: Any, line: int, where: str) -> date:
    if isinstance(raw, date):  # YAML already parsed 2026-12-24
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise v.fail(line, where, f"expected a date YYYY-MM-DD, got {raw!r}")


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; raises :class:`InputFileError` (exit 2) on any problem."""
    path = Path(path)
    try:
        doc = load_yaml(path)
    except (ValueError, TypeError) as exc:  # PyYAML constructors raise these, e.g. for 2026-13-01
        raise InputFileError(str(path), None, None, f"invalid value: {exc}") from None
    return parse_policy(doc, path)
