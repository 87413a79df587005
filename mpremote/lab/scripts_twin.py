"""Python twins of the project's own PowerShell scripts (``mpremote/remote/scripts``).

A real host runs ``query.ps1``/``act.ps1`` with PowerShell; the lab recognises them by their
exact text (composed from the package by the client's own loader,
``mpremote.remote.scripts.compose``, again whenever a script or fragment file changes, so an
edited one is still recognised; line endings normalised) and runs a twin that calls the same
emulated ``quser``/``logoff``/``tsdiscon``/``msg``/``*-WmsSession`` primitives and builds
objects with the same property names, order and types as the PowerShell would. Like the
scripts' ``Write-Result``, the twin answers with the one JSON string Windows PowerShell 5.1's
``ConvertTo-Json -Compress`` prints for those objects (``psjson51.py``), or, on a host
without ``ConvertTo-Json`` (the ``no-json`` fault) or when the caller passed ``-NoJson``,
with the objects themselves. A script the lab does not recognise is interpreted line by
line instead (``interpreter.py``), and fails there like any unknown text.

If a script changes in ways its twin does not know, the twin is wrong: keep the two in step.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psrpcore.types import ErrorCategory

from mpremote.lab import contract, psjson51
from mpremote.lab.psobjects import custom_object, psobject_of

if TYPE_CHECKING:  # pragma: no cover
    from mpremote.lab.hostmodel import EmulatedHost

Twin = Callable[["EmulatedHost", contract.CommandSpec, str], contract.PipelineResult]


def normalise(text: str) -> str:
    """Script text as compared: no BOM, LF line endings, no trailing blank space."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").rstrip()


def script_text(name: str) -> str:
    """The packaged script's current text as sent, fragments included (composed each time:
    tiny, and edits must be seen)."""
    from mpremote.remote.scripts import compose

    return normalise(compose(name))


#: Write-Result's ``ConvertTo-Json -Depth`` in the scripts (``scripts/result.ps1``).
JSON_DEPTH = 4


def write_result(host: EmulatedHost, params: dict[str, Any], value: Any) -> list[Any]:
    """Write-Result: one JSON string as 5.1 prints it, or where ConvertTo-Json is missing
    (``no-json``) or ``-NoJson`` was passed, the value as it is (a list unrolled)."""
    if not params.get("NoJson") and not host.spec.has_fault("no-json"):
        return [psjson51.convert_to_json(value, JSON_DEPTH)]
    return list(value) if isinstance(value, list) else [value]


def match(commands: list[contract.CommandSpec]) -> Twin | None:
    """The twin for a pipeline that is exactly one of the project's scripts, else None."""
    if len(commands) != 1 or not commands[0].is_script:
        return None
    name = _recognised.name_of(commands[0].text)
    if name == "query.ps1":
        return run_query
    if name == "act.ps1":
        return run_act
    return None


_TWIN_SCRIPTS = ("query.ps1", "act.ps1")


class _Recognised:
    """Which packaged script (if any) a pipeline's exact text is, remembered per text.

    Every host of a run receives the same script text, and composing the scripts again
    for each pipeline (reading the files, splicing the fragments) was ~5% of the lab's CPU.
    The answers stay valid only while the script files are unchanged: each call compares
    the files' stat (modification time, size, inode) with those taken when they were
    composed, and recomposes and forgets every answer when any differs, so an edited
    script or fragment is still seen at once. Where the scripts are no plain files (a
    zipped package), nothing is remembered and each call composes them, as before.
    """

    _MAX_TEXTS = 256
    _MAX_TEXT_CHARS = 65536

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamps: tuple[tuple[str, int, int, int], ...] | None = None
        self._composed: dict[str, str] = {}  # script name -> normalised composed text
        self._texts: dict[str, str | None] = {}  # text as received -> script name or None

    def name_of(self, text: str) -> str | None:
        with self._lock:
            if not self._fresh():
                normalised = normalise(text)
                return next((n for n in _TWIN_SCRIPTS if normalised == script_text(n)), None)
            try:
                return self._texts[text]
            except KeyError:
                pass
            normalised = normalise(text)
            name = next((n for n, t in self._composed.items() if normalised == t), None)
            if len(text) <= self._MAX_TEXT_CHARS:  # a huge one-off text is not kept
                if len(self._texts) >= self._MAX_TEXTS:
                    self._texts.clear()
                self._texts[text] = name
            return name

    def _fresh(self) -> bool:
        """Whether the remembered answers hold (recomposing first if the files changed)."""
        if self._stamps is not None and _stamps(tuple(s[0] for s in self._stamps)) == self._stamps:
            return True
        self._texts.clear()
        self._composed.clear()
        self._stamps = None
        paths = _script_paths()
        if paths is None:
            return False
        stamps = _stamps(paths)  # taken before reading: a later edit changes them again
        if stamps is None:
            return False
        self._composed = {n: script_text(n) for n in _TWIN_SCRIPTS}
        self._stamps = stamps
        return True


def _script_paths() -> tuple[str, ...] | None:
    """The files the twin scripts are composed from (scripts and their fragments), or None."""
    from mpremote.remote.scripts import include_names

    folder = resources.files("mpremote.remote").joinpath("scripts")
    if not isinstance(folder, Path):
        return None
    try:
        names = [n for s in _TWIN_SCRIPTS for n in (s, *include_names(s))]
    except OSError:
        return None
    return tuple(os.fspath(folder / n) for n in dict.fromkeys(names))


def _stamps(paths: tuple[str, ...]) -> tuple[tuple[str, int, int, int], ...] | None:
    try:
        stats = [(p, os.stat(p)) for p in paths]
    except OSError:
        return None
    return tuple((p, st.st_mtime_ns, st.st_size, st.st_ino) for p, st in stats)


_recognised = _Recognised()


# --------------------------------------------------------------------------- parameter binding


class BindingError(Exception):
    def __init__(self, spec: contract.ErrorSpec) -> None:
        super().__init__(spec.message)
        self.spec = spec


def _binding_error(message: str, fqid: str) -> BindingError:
    return BindingError(
        contract.binding_error(
            message,
            fqid,
        )
    )


def bind(spec: contract.CommandSpec, names: list[str]) -> dict[str, Any]:
    """PowerShell's binding, reduced: names case-insensitive (unique prefixes too), then
    positional arguments in ``param()`` order. Returns only the parameters given."""
    bound: dict[str, Any] = {}
    positional: list[Any] = []
    for pname, value in spec.parameters:
        if pname is None:
            positional.append(value)
            continue
        hits = [n for n in names if n.lower() == pname.lower()] or [
            n for n in names if n.lower().startswith(pname.lower())
        ]
        if len(hits) != 1:
            raise _binding_error(
                f"A parameter cannot be found that matches parameter name '{pname}'.", "NamedParameterNotFound"
            )
        bound[hits[0]] = value
    free = [n for n in names if n not in bound]
    if len(positional) > len(free):
        raise _binding_error(
            f"A positional parameter cannot be found that accepts argument '{positional[len(free)]}'.",
            "PositionalParameterNotFound",
        )
    bound.update(zip(free, positional, strict=False))
    return bound


def to_int(value: Any) -> int:
    """``[int]$x``: $null is 0, numeric strings convert, halves round to even. ValueError else."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value)
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return round(float(text))


def to_str(value: Any) -> str:
    """``[string]$x``: $null is the empty string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def prop(obj: Any, name: str) -> Any:
    """``$obj.Name`` on a hashtable (case-insensitive key) or a PSObject; $null when absent."""
    if issubclass(type(obj), dict):  # not isinstance: see psjson51._scalar
        for k, v in obj.items():
            if str(k).lower() == name.lower():
                return v
        return None
    ps = psobject_of(obj)
    if ps is not None:
        wanted = name.lower()
        for p in list(ps.extended_properties) + list(ps.adapted_properties):
            if p.name.lower() == wanted:
                return _ps_attribute(obj, p)
    return None


def _ps_attribute(obj: Any, p: Any) -> Any:
    """``getattr(obj, p.name)`` on a psrpcore PSObject, without its attribute machinery.

    psrpcore's ``PSObject.__getattribute__`` rebuilds a dict of every property on each
    access, then returns a real Python attribute of that name if there is one and the
    property's value otherwise; this does the same two steps directly (``__dict__``, which
    psrpcore special-cases, goes through ``getattr``).
    """
    if p.name == "__dict__":
        return getattr(obj, p.name)
    try:
        return object.__getattribute__(obj, p.name)
    except AttributeError:
        return p.get_value(obj)


def _ord_upper(text: str) -> str:
    """.NET OrdinalIgnoreCase: per-character simple upper case (length never changes)."""
    return "".join(u if len(u := c.upper()) == 1 else c for c in text)


def _run_failed(spec: contract.ErrorSpec) -> contract.PipelineResult:
    return contract.PipelineResult(failure=spec)


# --------------------------------------------------------------------------- query.ps1


def run_query(host: EmulatedHost, spec: contract.CommandSpec, operator: str) -> contract.PipelineResult:
    """query.ps1: quser's stdout/stderr read in the OEM code page (Invoke-Quser), plus
    Get-WmsSession -All if present."""
    try:
        params = bind(spec, ["IncludeWms", "IncludeApps", "IgnoreApps", "NoJson"])
    except BindingError as exc:
        return _run_failed(exc.spec)
    include = params.get("IncludeWms", True)
    include_apps = params.get("IncludeApps", False)
    if not isinstance(include, bool | int) or not isinstance(include_apps, bool | int):
        return _run_failed(
            _binding_error(
                "Cannot process argument transformation on parameter 'IncludeWms'. Boolean parameters "
                "accept only Boolean values and numbers, such as $True, $False, 1 or 0.",
                "ParameterArgumentTransformationError,query.ps1",
            ).spec
        )
    # Invoke-Quser reads quser in the host's OEM code page: the text as the host meant it.
    result = host.quser([])
    wms = None
    if include and host.spec.multipoint:
        # Get-WmsSession's objects, read as their properties (what $_.SessionId... reads).
        wms = [
            custom_object(
                SessionId=to_int(o["SessionId"]),
                UserName=to_str(o["UserName"]),
                DomainName=to_str(o["DomainName"]),
                State=to_str(o["State"]),
                StationId=to_int(o["StationId"]),
                IsAdmin=bool(o["IsAdmin"]),
            )
            for o in host.get_wms_session_fields(None)
        ]
    domain, _, user = operator.rpartition("\\")  # "LAB\\ana" -> ("LAB", "ana"); "ana" -> ("", "ana")
    return contract.PipelineResult(
        output=write_result(
            host,
            params,
            custom_object(
                ComputerName=host.computer_name,
                OperatorUser=user,
                # [Environment]::UserDomainName: the computer name for a local account.
                OperatorDomain=domain or host.computer_name,
                QuserStdout="\n".join(result.stdout),
                QuserStderr="\n".join(result.stderr),
                QuserExitCode=result.exit_code,
                QuserCodePage=host.locale.oem_codepage,
                QuserReadAs="oem",
                WmsAvailable=wms is not None,
                WmsSessions=wms,
                Apps=_query_apps(host, wms, params.get("IgnoreApps")) if include_apps else None,
            ),
        )
    )


def _query_apps(host: EmulatedHost, wms: list[Any] | None, ignore: Any) -> list[Any]:
    """query.ps1's apps block: Get-WmsApp per MultiPoint session, else user-session processes."""
    procs = {p.pid: p for p in host.processes() if p.session_id > 0}
    apps: list[Any] = []
    if wms is not None:
        for w in wms:
            sid = to_int(prop(w, "SessionId"))
            try:
                found = host.get_wms_app(sid)
            except Exception:  # -ErrorAction SilentlyContinue
                found = []
            for a in found:
                p = procs.get(to_int(prop(a, "ProcessId")))
                title = to_str(prop(a, "Name"))
                apps.append(custom_object(SessionId=sid, Name=p.image if p else title, Title=title))
        return apps
    names = ignore if isinstance(ignore, list | tuple) else ([] if ignore is None else [ignore])
    skip = {_ord_upper(to_str(n)) for n in names}
    for p in procs.values():
        if _ord_upper(p.process_name) in skip:
            continue
        apps.append(custom_object(SessionId=p.session_id, Name=p.image, Title=""))
    return apps


# --------------------------------------------------------------------------- act.ps1

_ACT_PARAMS = ["Action", "Backend", "Targets", "Text", "MessageSeconds", "ConfirmMs", "DeadlineMs", "NoJson"]
_ACTIONS = ("logoff", "disconnect", "message", "lock", "unlock")
#: act.ps1's Start-Sleep between two confirmation reads.
_CONFIRM_POLL_S = 0.25
_VANISHED_DETAIL = "session no longer belongs to this user; left alone"


def _validate_set(params: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = to_str(params.get(name))
    if value.lower() not in allowed:
        raise _binding_error(
            f"Cannot validate argument on parameter '{name}'. The argument \"{value}\" does not belong "
            f'to the set "{",".join(allowed)}" specified by the ValidateSet attribute. Supply an '
            "argument that is in the set and then try the command again.",
            "ParameterArgumentValidationError,act.ps1",
        )
    return value.lower()


def _owner_ok(
    host: EmulatedHost, backend: str, sid: int, user: str, logon: str, errors: list[contract.ErrorSpec]
) -> bool:
    """Test-SessionOwner: the id still shows the same user (and, for quser, logon text)."""
    from mpremote.lab.contract import CmdletError

    if backend == "wms":
        try:
            found = host.get_wms_session_fields(sid)
        except CmdletError as exc:
            # -ErrorAction SilentlyContinue hides "not found" but not CommandNotFoundException.
            if exc.spec.fully_qualified_error_id == "CommandNotFoundException":
                errors.append(exc.spec)
            return False
        return bool(found) and _ord_upper(to_str(found[0]["UserName"])) == _ord_upper(user)
    if not user or not logon:
        return False
    result = host.quser([str(sid)])  # Invoke-Quser: read in the OEM code page, as the query read it
    if result.exit_code != 0:
        return False
    for line in result.stdout[1:]:
        if len(line) < 2:
            continue
        if len(user) >= 22:  # only such names push the row right
            body = line[1:]
            name_ok = _ord_upper(body[: len(user) + 1]) == _ord_upper(user + " ")
        else:
            name_ok = _ord_upper(line[1:23].rstrip()) == _ord_upper(user)
        if name_ok and line.rstrip().endswith(" " + logon):
            return True
    return False


def _act_one(host: EmulatedHost, action: str, backend: str, sid: int, text: str, seconds: int) -> tuple[list[str], int]:
    """The try block of act.ps1: the command's merged output lines and ``$code``."""
    from mpremote.lab.contract import CmdletError

    try:
        if action == "message":
            result = host.msg([str(sid), f"/time:{seconds}"], stdin=text + "\r\n")
        elif action in ("lock", "unlock"):
            if action == "lock":
                host.lock_wms_session(sid, text)
            else:
                host.unlock_wms_session(sid)
            return [], 0
        elif backend == "wms":
            (host.close_wms_session if action == "logoff" else host.disconnect_wms_session)(sid)
            return [], 0
        elif action == "logoff":
            result = host.logoff([str(sid)])
        else:
            result = host.tsdiscon([str(sid)])
    except CmdletError as exc:  # -ErrorAction Stop: caught, $code = -1
        return [exc.spec.message], -1
    result = host.read_over_remoting(result)  # '& logoff 2>&1': OEM text read as cp1252
    host.last_exit_code = result.exit_code
    return [t for _, t in result.lines], result.exit_code


def run_act(host: EmulatedHost, spec: contract.CommandSpec, operator: str) -> contract.PipelineResult:
    """act.ps1: per target, re-verify ownership right before acting, then act or say vanished."""
    try:
        params = bind(spec, _ACT_PARAMS)
        for name in ("Action", "Backend", "Targets"):
            if params.get(name) is None:
                raise _binding_error(
                    f"Cannot bind argument to parameter '{name}' because it is null."
                    if name in params
                    else f"Cannot process command because of one or more missing mandatory parameters: {name}.",
                    "ParameterArgumentValidationErrorNullNotAllowed,act.ps1"
                    if name in params
                    else "MissingMandatoryParameter,act.ps1",
                )
        action = _validate_set(params, "Action", _ACTIONS)
        backend = _validate_set(params, "Backend", ("quser", "wms"))
        # Bound after Action and Backend (the order they are given in).
        if isinstance(params["Targets"], list | tuple) and not params["Targets"]:
            # A mandatory array parameter without [AllowEmptyCollection()] refuses an empty one.
            raise _binding_error(
                "Cannot bind argument to parameter 'Targets' because it is an empty array.",
                "ParameterArgumentValidationErrorEmptyArrayNotAllowed,act.ps1",
            )
        seconds = to_int(params.get("MessageSeconds", 60))
        confirm_ms = to_int(params.get("ConfirmMs", 0))
        deadline_ms = to_int(params.get("DeadlineMs", 0))
    except (BindingError, ValueError) as exc:
        spec_ = exc.spec if isinstance(exc, BindingError) else _binding_error(str(exc), "ParameterArgument").spec
        return _run_failed(spec_)
    targets = params["Targets"]
    targets = list(targets) if isinstance(targets, list | tuple) else [targets]
    text = to_str(params.get("Text", ""))
    started = host.clock()
    out: list[Any] = []
    errors: list[contract.ErrorSpec] = []
    acted: list[_Acted] = []
    sid: int | None = None
    for t in targets:
        try:
            sid = to_int(prop(t, "Id"))
        except ValueError:  # the assignment fails; $id keeps its previous value, as in PowerShell
            errors.append(
                contract.ErrorSpec(
                    message=f'Cannot convert value "{prop(t, "Id")}" to type "System.Int32". Error: '
                    '"Input string was not in a correct format."',
                    exception_type="System.Management.Automation.RuntimeException",
                    category=int(ErrorCategory.InvalidArgument),
                    fully_qualified_error_id="InvalidCastFromStringToInteger",
                )
            )
        the_id = sid or 0
        user = to_str(prop(t, "UserName"))
        logon = to_str(prop(t, "LogonText"))
        host.before_action(the_id)
        if not _owner_ok(host, backend, the_id, user, logon, errors):
            out.append(
                custom_object(
                    Id=the_id, UserName=user, Outcome="vanished", Denied=False, ExitCode=None, Detail=_VANISHED_DETAIL
                )
            )
            continue
        lines, code = _act_one(host, action, backend, the_id, text, seconds)
        detail = " ".join(lines).strip()
        denied = code != 0 and ("[5]" in detail or "denied" in detail.lower())
        out.append(
            custom_object(
                Id=the_id,
                UserName=user,
                Outcome="done" if code == 0 else "failed",
                Denied=denied,
                ExitCode=code,
                Detail=detail,
            )
        )
        if code == 0:
            acted.append(_Acted(the_id, user, logon, to_str(prop(t, "SessionName"))))
    if confirm_ms > 0 and acted and action in ("logoff", "disconnect"):
        budget = confirm_ms / 1000.0
        now = host.clock()
        if deadline_ms > 0:  # never past DeadlineMs from the script's start
            budget = min(budget, started + deadline_ms / 1000.0 - now)
        return _confirm(host, action, acted, out, errors, now, budget, params)
    return contract.PipelineResult(output=write_result(host, params, out), errors=errors)


# --------------------------------------------------------------------------- act.ps1: confirmation


@dataclass
class _Acted:
    id: int
    user: str
    logon: str
    session_name: str
    confirmed: bool = False
    after: str = ""


def find_session_row(lines: list[str], sid: int, user: str, logon: str) -> str | None:
    """Find-SessionRow: the quser row of ``sid`` if it still shows ``logon`` (the name is
    not compared: over remoting it may arrive in another code page; ``user`` only gives
    the USERNAME column's width)."""
    for line in lines[1:]:
        if len(line) < 2 or not line.rstrip().endswith(" " + logon):
            continue
        rest = line[1 + len(user) :] if len(user) >= 22 else line[23:]
        first = next((w for w in rest.split(" ") if w and w.isascii() and w.isdigit()), None)
        if first is not None and int(first) == sid:
            return line
    return None


def _confirm(
    host: EmulatedHost,
    action: str,
    acted: list[_Acted],
    out: list[Any],
    errors: list[contract.ErrorSpec],
    start: float,
    budget: float,
    params: dict[str, Any],
) -> contract.PipelineResult:
    """One pass of act.ps1's confirmation loop; when sessions are still there and time is
    left, the pipeline goes on running (``resume``) until the read that would find them gone
    (a log-off due later), or the end of the wait, instead of blocking the lab in a sleep."""
    with host.lock:
        host.settle()
        result = host.quser([])  # Invoke-Quser: read in the OEM code page
        host.last_exit_code = result.exit_code
        stdout = result.stdout
        waits: list[float] = []
        for a in acted:
            row = find_session_row(stdout, a.id, a.user, a.logon) if result.exit_code == 0 else None
            if action == "logoff":
                # Gone only when quser ran and no longer lists it (a failing quser proves nothing).
                a.confirmed = result.exit_code == 0 and row is None
            else:
                words = {w.casefold() for w in row[1:].split(" ") if w} if row is not None else set()
                a.confirmed = row is not None and a.session_name.casefold() not in words
            a.after = f"{stdout[0]}\n{row}" if row is not None else ""
            if not a.confirmed:
                due = host.logoff_due_in(a.id) if action == "logoff" else None
                waits.append(float("inf") if due is None else due)
        left = budget - (host.clock() - start)
        if waits and result.exit_code == 0 and left > 0:
            longest = max(waits)
            need = (
                left
                if math.isinf(longest)
                else max(_CONFIRM_POLL_S, math.ceil(longest / _CONFIRM_POLL_S) * _CONFIRM_POLL_S)
            )
            return contract.PipelineResult(
                resume=lambda: _confirm(host, action, acted, out, errors, start, budget, params),
                resume_after=min(left, need),
            )
        stderr = "\n".join(result.stderr)
        confirm = [
            custom_object(
                Check="confirm",
                Id=a.id,
                Confirmed=a.confirmed,
                After=a.after,
                QuserExitCode=result.exit_code,
                QuserStderr=stderr,
            )
            for a in acted
        ]
    return contract.PipelineResult(output=write_result(host, params, out + confirm), errors=errors)
