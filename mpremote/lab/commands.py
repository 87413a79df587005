"""PowerShell command lines as an emulated host runs them (what is not a project script).

Covers what an ordinary PSRP client sends to a MultiPoint / RDS host: ``quser``,
``query user|session``, ``qwinsta``, ``logoff``, ``tsdiscon``, ``msg``, ``hostname``,
``$LASTEXITCODE``, ``exit [N]``, the MultiPoint cmdlets, ``'text' | msg 3``, ``2>&1`` /
``2>$null`` / ``>$null``, several statements separated by ``;`` or newlines, and the few
cmdlets pypsrp itself adds (``Invoke-Expression``, ``Out-String -Stream``), plus
``Write-Output``/``Out-Null``. Native commands' stderr lines become NativeCommandError records
and their exit code becomes ``$LASTEXITCODE``. Anything else is answered with PowerShell's
CommandNotFoundException for its first word - a real host knows far more commands (and
``foreach``, blocks, subexpressions), so that answer is a lab limit, not Windows behaviour.
With ``2>&1`` stderr lines come back as strings; PowerShell would send ErrorRecords whose
``ToString()`` is the same text (simplification).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psrpcore.types import ErrorCategory

from mpremote.lab import contract
from mpremote.lab.contract import CmdletError, NativeResult

if TYPE_CHECKING:  # pragma: no cover
    from mpremote.lab.hostmodel import EmulatedHost

_WMS_CMDLETS = {
    "get-wmssession",
    "close-wmssession",
    "disconnect-wmssession",
    "lock-wmssession",
    "unlock-wmssession",
    "get-wmsapp",
}
_SWITCHES = {"all", "confirm", "whatif", "force", "stream", "verbose", "debug"}
_VAR = re.compile(r"\$(?:env:)?[A-Za-z_?][A-Za-z0-9_]*")


@dataclass
class Tok:
    kind: str  # word | sq (single-quoted) | dq (double-quoted) | call | redir
    text: str


class _StatementError(Exception):
    """Ends the current statement (PowerShell's statement-terminating error)."""

    def __init__(self, spec: contract.ErrorSpec) -> None:
        super().__init__(spec.message)
        self.spec = spec


class _ScriptStop(Exception):
    """Ends the whole pipeline: a terminating error (-ErrorAction Stop)."""

    def __init__(self, spec: contract.ErrorSpec) -> None:
        super().__init__(spec.message)
        self.spec = spec


class _Partial(Exception):
    """A cmdlet produced output for some inputs and non-terminating errors for others."""

    def __init__(self, output: list[Any], errors: list[contract.ErrorSpec]) -> None:
        super().__init__(errors[0].message)
        self.output = output
        self.errors = errors


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


# --------------------------------------------------------------------------- parsing


def parse_script(text: str) -> list[list[list[Tok]]]:
    """Script text -> statements -> pipeline elements -> tokens."""
    statements: list[list[list[Tok]]] = []
    element: list[Tok] = []
    pipeline: list[list[Tok]] = []
    buf: list[str] = []
    i, n = 0, len(text)

    def flush_word() -> None:
        if buf:
            word = "".join(buf)
            buf.clear()
            is_redir = re.fullmatch(r"[\d*]?>>?(&\d|\$null)?", word)
            element.append(Tok("redir" if is_redir else "word", word))

    def end_element() -> None:
        flush_word()
        if element:
            pipeline.append(element.copy())
            element.clear()

    def end_statement() -> None:
        end_element()
        if pipeline:
            statements.append(pipeline.copy())
            pipeline.clear()

    while i < n:
        c = text[i]
        if c in " \t":
            flush_word()
        elif c in ";\n\r":
            end_statement()
        elif c == "#" and not buf:
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif c == "|":
            end_element()
        elif c == "&" and not buf and not element:
            element.append(Tok("call", "&"))
        elif c == "`" and i + 1 < n:
            i += 1
            if text[i] != "\n":
                buf.append(text[i])
        elif c in "'\"" and not buf:
            quote, j, out = c, i + 1, []
            while j < n:
                if text[j] == quote and j + 1 < n and text[j + 1] == quote:
                    out.append(quote)
                    j += 2
                elif text[j] == quote:
                    break
                elif quote == '"' and text[j] == "`" and j + 1 < n:
                    out.append({"n": "\n", "t": "\t", "r": "\r", "0": "\0"}.get(text[j + 1], text[j + 1]))
                    j += 2
                else:
                    out.append(text[j])
                    j += 1
            element.append(Tok("sq" if quote == "'" else "dq", "".join(out)))
            i = j + 1
            continue
        else:
            buf.append(c)
        i += 1
    end_statement()
    return statements


# --------------------------------------------------------------------------- running


@dataclass
class _Native:
    run: Callable[[list[str], str | None], NativeResult]


@dataclass
class Interpreter:
    """Runs one pipeline's commands against a host; collects output, errors and exit."""

    host: EmulatedHost
    operator: str
    output: list[Any] = field(default_factory=list)
    errors: list[contract.ErrorSpec] = field(default_factory=list)

    def run(self, commands: list[contract.CommandSpec]) -> contract.PipelineResult:
        try:
            data: list[Any] | None = None
            for spec in commands:
                if spec.is_script:
                    data = self._run_script(spec.text, data)
                else:
                    try:
                        data = self._run_command(spec.text, self._spec_args(spec), data, set(), from_api=True)
                    except _StatementError as exc:  # not in a script: the pipeline fails
                        return contract.PipelineResult(self.output, self.errors, failure=exc.spec)
            self.output.extend(data or [])
        except _ScriptStop as exc:
            return contract.PipelineResult(self.output, self.errors, failure=exc.spec)
        except _Exit as exc:
            return contract.PipelineResult(self.output, self.errors, should_exit=exc.code)
        return contract.PipelineResult(self.output, self.errors)

    @staticmethod
    def _spec_args(spec: contract.CommandSpec) -> list[tuple[str | None, Any]]:
        return list(spec.parameters)

    def _run_script(self, text: str, data: list[Any] | None) -> list[Any]:
        """Statements in order; each statement's output goes to the pipeline's output."""
        out: list[Any] = []
        for statement in parse_script(text):
            try:
                out.extend(self._run_statement(statement, data))
            except _StatementError as exc:
                self.errors.append(exc.spec)
            except (_Exit, _ScriptStop):
                self.output.extend(out)
                raise
        return out

    def _run_statement(self, pipeline: list[list[Tok]], data: list[Any] | None) -> list[Any]:
        first = pipeline[0]
        if first[0].kind == "word" and first[0].text.lower() == "exit":
            code = self._value(first[1]) if len(first) > 1 else 0
            try:
                raise _Exit(int(code or 0))
            except (TypeError, ValueError):
                raise _StatementError(
                    contract.ErrorSpec(
                        message=f'Cannot convert value "{_text(code)}" to type "System.Int32".',
                        category=int(ErrorCategory.InvalidArgument),
                        fully_qualified_error_id="RuntimeException",
                    )
                ) from None
        for element in pipeline:
            data = self._run_element(element, data)
        return data or []

    def _value(self, tok: Tok) -> Any:
        if tok.kind == "sq":
            return tok.text
        if tok.kind == "dq":
            return _VAR.sub(lambda m: _text(self._variable(m.group(0))), tok.text)
        if tok.text.startswith("$"):
            return self._variable(tok.text)
        if re.fullmatch(r"-?\d+", tok.text):
            return int(tok.text)
        return tok.text

    def _variable(self, name: str) -> Any:
        key = name[1:].lower()
        if key == "lastexitcode":
            return self.host.last_exit_code
        if key in ("true", "false"):
            return key == "true"
        if key == "env:computername":
            return self.host.computer_name
        if key == "env:username":
            return self.operator.rpartition("\\")[2]
        return None  # $null, and any variable never set

    def _run_element(self, tokens: list[Tok], data: list[Any] | None) -> list[Any]:
        redirs = {t.text.replace(">>", ">") for t in tokens if t.kind == "redir"}
        tokens = [t for t in tokens if t.kind != "redir"]
        if not tokens:
            return []
        if tokens[0].kind == "call":
            tokens = tokens[1:]
            name = str(self._value(tokens[0])) if tokens else ""
        elif tokens[0].kind in ("sq", "dq") or tokens[0].text.startswith("$") or re.fullmatch(r"-?\d+", tokens[0].text):
            value = self._value(tokens[0])  # an expression statement: its value is output
            return [] if value is None else [value]
        else:
            name = tokens[0].text
        args: list[tuple[str | None, Any]] = []
        rest = tokens[1:]
        i = 0
        while i < len(rest):
            t = rest[i]
            if t.kind == "word" and t.text.startswith("-") and len(t.text) > 1 and not t.text[1].isdigit():
                pname, colon, raw = t.text[1:].partition(":")
                if colon:
                    args.append((pname, self._value(Tok("word", raw))))
                elif pname.lower() not in _SWITCHES and i + 1 < len(rest) and not self._is_native(name):
                    args.append((pname, self._value(rest[i + 1])))
                    i += 1
                else:
                    args.append((pname, None) if not self._is_native(name) else (None, t.text))
            else:
                args.append((None, self._value(t)))
            i += 1
        return self._run_command(name, args, data, redirs)

    # ------------------------------------------------------------------ commands

    def _natives(self) -> dict[str, _Native]:
        h = self.host
        return {
            "quser": _Native(lambda a, _s: h.quser(a)),
            "qwinsta": _Native(lambda a, _s: h.qwinsta(a)),
            "query": _Native(self._query),
            "logoff": _Native(lambda a, _s: h.logoff(a)),
            "tsdiscon": _Native(lambda a, _s: h.tsdiscon(a)),
            "msg": _Native(lambda a, s: h.msg(a, stdin=s)),
            "hostname": _Native(lambda a, _s: h.hostname(a)),
        }

    def _is_native(self, name: str) -> bool:
        return _bare(name) in self._natives()

    def _query(self, args: list[str], _stdin: str | None) -> NativeResult:
        sub = args[0].lower() if args else ""
        if sub == "user":
            return self.host.quser(args[1:])
        if sub == "session":
            return self.host.qwinsta(args[1:])
        result = NativeResult(exit_code=1)
        result.err("Invalid parameter(s)")
        return result

    def _run_command(
        self,
        name: str,
        args: list[tuple[str | None, Any]],
        data: list[Any] | None,
        redirs: set[str],
        *,
        from_api: bool = False,
    ) -> list[Any]:
        key = _bare(name)
        native = self._natives().get(key)
        if native is not None:
            argv: list[str] = []
            for pname, value in args:
                if pname is not None:
                    argv.append(f"-{pname}")
                if value is not None:
                    argv.extend(_text(v) for v in (value if isinstance(value, list) else [value]))
            stdin = "".join(_text(x) + "\r\n" for x in data) if data else None
            # Windows PowerShell decodes a native command's OEM output as cp1252 (remoting).
            result = self.host.read_over_remoting(native.run(argv, stdin))
            self.host.last_exit_code = result.exit_code
            return self._native_output(result, redirs)
        cmdlet = _CMDLETS.get(name.lower())
        if cmdlet is None or (name.lower() in _WMS_CMDLETS and not self.host.spec.multipoint):
            # Not affected by -ErrorAction: command discovery fails before the cmdlet runs.
            raise _StatementError(self.host.command_not_found(name))
        named, positional = _bind_common(name, args)
        action = str(named.pop("erroraction", "continue")).lower()
        try:
            out = cmdlet(self, named, positional, data or [])
        except CmdletError as exc:
            if action in ("silentlycontinue", "ignore"):
                return []
            if action == "stop":
                raise _ScriptStop(exc.spec) from None
            self.errors.append(exc.spec)
            return []
        except _Partial as part:
            if action == "stop":  # the first error stops the pipeline (the cmdlet ran in order)
                raise _ScriptStop(part.errors[0]) from None
            if action not in ("silentlycontinue", "ignore"):
                self.errors.extend(part.errors)
            out = part.output
        return [] if ">$null" in redirs or "1>$null" in redirs else out

    def _native_output(self, result: NativeResult, redirs: set[str]) -> list[Any]:
        out: list[Any] = []
        merge = bool(redirs & {"2>&1", "*>&1"})
        drop_err = bool(redirs & {"2>$null", "*>$null"})
        drop_out = bool(redirs & {">$null", "1>$null", "*>$null"})
        first_err = True
        for stream, text in result.lines:
            if stream == "out":
                if not drop_out:
                    out.append(text)
            elif merge and not drop_out:
                out.append(text)
            elif not drop_err and not merge:
                self.errors.append(
                    contract.ErrorSpec(
                        message=text,
                        exception_type="System.Management.Automation.RemoteException",
                        category=int(ErrorCategory.NotSpecified),
                        fully_qualified_error_id="NativeCommandError" if first_err else "NativeCommandErrorMessage",
                        target=text,
                    )
                )
                first_err = False
        return out


def _bare(name: str) -> str:
    """``C:\\Windows\\System32\\quser.exe`` / ``QUSER`` -> ``quser``."""
    base = re.split(r"[\\/]", name)[-1].lower()
    return base[:-4] if base.endswith(".exe") else base


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _bind_common(cmdlet: str, args: list[tuple[str | None, Any]]) -> tuple[dict[str, Any], list[Any]]:
    """Lower-cased parameter names (``-EA`` is ``-ErrorAction``) and positional values."""
    named: dict[str, Any] = {}
    positional: list[Any] = []
    for pname, value in args:
        if pname is None:
            positional.append(value)
            continue
        key = pname.lower()
        key = "erroraction" if key in ("ea", "erroraction") else key
        named[key] = True if value is None else value
    return named, positional


def _param_error(cmdlet: str, pname: str) -> CmdletError:
    return CmdletError(
        contract.ErrorSpec(
            message=f"A parameter cannot be found that matches parameter name '{pname}'.",
            exception_type="System.Management.Automation.ParameterBindingException",
            category=int(ErrorCategory.InvalidArgument),
            fully_qualified_error_id=f"NamedParameterNotFound,{cmdlet}",
        )
    )


def _take(named: dict[str, Any], cmdlet: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """Resolve (prefix-matched) parameter names; raise for unknown ones."""
    out: dict[str, Any] = {}
    for key, value in named.items():
        hits = [a for a in allowed if a == key] or [a for a in allowed if a.startswith(key)]
        if len(hits) != 1:
            raise _StatementError(_param_error(cmdlet, key).spec)
        out[hits[0]] = value
    return out


def _session_ids(cmdlet: str, params: dict[str, Any], positional: list[Any]) -> list[int]:
    """``-SessionId <UInt32[]>`` (also positional 0): one id, ``2,3`` or a list."""
    value = params.get("sessionid", positional[0] if positional else None)
    items = value if isinstance(value, list | tuple) else str(value).split(",") if isinstance(value, str) else [value]
    ids: list[int] = []
    for item in items:
        try:
            sid = int(item)  # type: ignore[arg-type]
            if sid < 0:
                raise ValueError
        except (TypeError, ValueError):
            raise _StatementError(
                contract.ErrorSpec(
                    message=f"Cannot bind parameter 'SessionId'. Cannot convert value \"{_text(item)}\" to type "
                    '"System.UInt32".',
                    exception_type="System.Management.Automation.ParameterBindingException",
                    category=int(ErrorCategory.InvalidArgument),
                    fully_qualified_error_id=f"CannotConvertArgumentNoMessage,{cmdlet}",
                )
            ) from None
        ids.append(sid)
    return ids


def _session_id(cmdlet: str, params: dict[str, Any], positional: list[Any]) -> int:
    """One ``-SessionId`` (the cmdlets the lab takes a single id for)."""
    return _session_ids(cmdlet, params, positional)[0]


def _wms_ids(it: Interpreter, cmdlet: str, p: dict[str, Any], positional: list[Any]) -> list[int]:
    """The parameter sets of Microsoft's reference: ``[-SessionId] <UInt32[]>`` or ``-All``."""
    has_ids = "sessionid" in p or bool(positional)
    if p.get("all") and has_ids:
        raise _StatementError(
            contract.ErrorSpec(
                message="Parameter set cannot be resolved using the specified named parameters.",
                exception_type="System.Management.Automation.ParameterBindingException",
                category=int(ErrorCategory.InvalidArgument),
                fully_qualified_error_id=f"AmbiguousParameterSet,{cmdlet}",
            )
        )
    if p.get("all"):
        return it.host.wms_session_ids()
    if not has_ids:  # a remote session cannot prompt for the mandatory -SessionId
        raise _StatementError(
            contract.ErrorSpec(
                message="Cannot process command because of one or more missing mandatory parameters: SessionId.",
                exception_type="System.Management.Automation.ParameterBindingException",
                category=int(ErrorCategory.InvalidArgument),
                fully_qualified_error_id=f"MissingMandatoryParameter,{cmdlet}",
            )
        )
    return _session_ids(cmdlet, p, positional)


def _each_id(ids: list[int], run: Callable[[int], list[Any]]) -> list[Any]:
    """Run ``run`` per id; a missing id is a non-terminating error and the rest go on."""
    out: list[Any] = []
    errors: list[contract.ErrorSpec] = []
    for sid in ids:
        try:
            out.extend(run(sid))
        except CmdletError as exc:
            errors.append(exc.spec)
    if errors:
        raise _Partial(out, errors)
    return out


def _get_wms(it: Interpreter, named: dict[str, Any], positional: list[Any], data: list[Any]) -> list[Any]:
    p = _take(named, "Get-WmsSession", ("all", "sessionid", "thumbnail", "server"))
    ids = _wms_ids(it, "Get-WmsSession", p, positional)
    return _each_id(ids, lambda sid: it.host.get_wms_session(sid))


def _end_wms(it: Interpreter, cmdlet: str, named: dict[str, Any], positional: list[Any], disconnect: bool) -> list[Any]:
    """Close-/Disconnect-WmsSession ``[-SessionId] <UInt32[]> | -All [-WhatIf] [-Confirm]``."""
    p = _take(named, cmdlet, ("sessionid", "all", "whatif", "confirm", "server"))
    ids = _wms_ids(it, cmdlet, p, positional)
    if p.get("confirm") is True:  # -Confirm asks the user; a remote pipeline has nobody to ask (doubt)
        raise _StatementError(
            contract.ErrorSpec(
                message="Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.",
                exception_type="System.Management.Automation.PSInvalidOperationException",
                category=int(ErrorCategory.InvalidOperation),
                fully_qualified_error_id=f"NonInteractiveConfirm,{cmdlet}",
            )
        )
    if p.get("whatif"):
        return []  # "What if:" goes to the host's UI, not the output; nothing changes
    end = it.host.disconnect_wms_session if disconnect else it.host.close_wms_session
    return _each_id(ids, lambda sid: end(sid) or [])


def _close_wms(it: Interpreter, named: dict[str, Any], positional: list[Any], data: list[Any]) -> list[Any]:
    return _end_wms(it, "Close-WmsSession", named, positional, disconnect=False)


def _disconnect_wms(it: Interpreter, named: dict[str, Any], positional: list[Any], data: list[Any]) -> list[Any]:
    return _end_wms(it, "Disconnect-WmsSession", named, positional, disconnect=True)


def _lock_wms(it: Interpreter, named: dict[str, Any], positional: list[Any], data: list[Any]) -> list[Any]:
    """``Lock-WmsSession [-SessionId] N [-Message] TEXT`` (Message is mandatory, position 1)."""
    p = _take(named, "Lock-WmsSession", ("sessionid", "message"))
    rest = positional[1:] if "sessionid" not in p else positional
    message = p.get("message", rest[0] if rest else None)
    if message is None or message is True:
        raise _StatementError(
            contract.ErrorSpec(
                message="Cannot process command because of one or more missing mandatory parameters: Message.",
                exception_type="System.Management.Automation.ParameterBindingException",
                category=int(ErrorCategory.InvalidArgument),
                fully_qualified_error_id="MissingMandatoryParameter,Microsoft.MultiPoint.Management.LockWmsSession",
            )
        )
    it.host.lock_wms_session(_session_id("Lock-WmsSession", p, positional), _text(message))
    return []


def _unlock_wms(it: Interpreter, named: dict[str, Any], positional: list[Any], data: list[Any]) -> list[Any]:
    p = _take(named, "Unlock-WmsSession", ("sessionid",))
    it.host.unlock_wms_session(_session_id("Unlock-WmsSession", p, positional))
    return []


def _get_wms_app(it: Interpreter, named: dict[str, Any], positional: list[Any], data: list[Any]) -> list[Any]:
    p = _take(named, "Get-WmsApp", ("sessionid",))
    return list(it.host.get_wms_app(_session_id("Get-WmsApp", p, positional)))


def _get_process(it: Interpreter, named: dict[str, Any], positional: list[Any], data: list[Any]) -> list[Any]:
    """``Get-Process [-Id N[,N]] [-IncludeUserName]``: ProcessName, Id, SessionId, Path."""
    from mpremote.lab.psobjects import custom_object

    p = _take(named, "Get-Process", ("id", "includeusername", "name"))
    procs = it.host.processes()
    if "id" in p:
        wanted = {int(v) for v in (p["id"] if isinstance(p["id"], list) else [p["id"]])}
        procs = [pr for pr in procs if pr.pid in wanted]
    users = {s.id: s for s in it.host.sessions()}
    out = []
    for pr in procs:
        props: dict[str, Any] = {"ProcessName": pr.process_name, "Id": pr.pid, "SessionId": pr.session_id,
                                 "Path": f"C:\\Program Files\\Lab\\{pr.image}" if pr.session_id else None}  # fmt: skip
        if "includeusername" in p:
            owner = users.get(pr.session_id)
            props["UserName"] = (
                f"{owner.domain or it.host.computer_name}\\{owner.username}"
                if owner is not None and owner.username
                else "NT AUTHORITY\\SYSTEM"
            )
        out.append(custom_object(PSTypeName="System.Diagnostics.Process", **props))
    return out


def _write_output(it: Interpreter, named: dict[str, Any], positional: list[Any], data: list[Any]) -> list[Any]:
    p = _take(named, "Write-Output", ("inputobject",))
    return data + positional + ([p["inputobject"]] if "inputobject" in p else [])


def _out_null(it: Interpreter, named: dict[str, Any], positional: list[Any], data: list[Any]) -> list[Any]:
    return []


def _format(obj: Any) -> list[str]:
    """A small Format-List: strings as they are, objects as ``Name : Value`` lines."""
    ps = getattr(obj, "PSObject", None)
    if ps is None or isinstance(obj, str | int):
        return [_text(obj)]
    props = list(ps.extended_properties) + list(ps.adapted_properties)
    width = max((len(pr.name) for pr in props), default=0)
    return ["", *[f"{pr.name.ljust(width)} : {_text(getattr(obj, pr.name))}" for pr in props], ""]


def _out_string(it: Interpreter, named: dict[str, Any], positional: list[Any], data: list[Any]) -> list[Any]:
    p = _take(named, "Out-String", ("stream", "width", "inputobject"))
    lines = [line for obj in data + positional for line in _format(obj)]
    return lines if p.get("stream") else ["".join(line + "\r\n" for line in lines)]


def _invoke_expression(it: Interpreter, named: dict[str, Any], positional: list[Any], data: list[Any]) -> list[Any]:
    p = _take(named, "Invoke-Expression", ("command",))
    command = p.get("command", positional[0] if positional else "")
    return it._run_script(_text(command), None)


_CMDLETS: dict[str, Callable[[Interpreter, dict[str, Any], list[Any], list[Any]], list[Any]]] = {
    "get-wmssession": _get_wms,
    "close-wmssession": _close_wms,
    "disconnect-wmssession": _disconnect_wms,
    "lock-wmssession": _lock_wms,
    "unlock-wmssession": _unlock_wms,
    "get-wmsapp": _get_wms_app,
    "get-process": _get_process,
    "write-output": _write_output,
    "echo": _write_output,
    "out-null": _out_null,
    "out-string": _out_string,
    "invoke-expression": _invoke_expression,
    "iex": _invoke_expression,
}
