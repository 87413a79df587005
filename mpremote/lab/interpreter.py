"""PowerShell command lines as an emulated host runs them (what is not a project script).

Covers what an ordinary PSRP client sends to a MultiPoint / RDS host: ``quser``,
``query user|session``, ``qwinsta``, ``logoff``, ``tsdiscon``, ``msg``, ``hostname``,
``$LASTEXITCODE``, ``exit [N]``, the MultiPoint cmdlets, ``'text' | msg 3``, ``2>&1`` /
``2>$null`` / ``>$null``, several statements separated by ``;`` or newlines, and the few
cmdlets pypsrp itself adds (``Invoke-Expression``, ``Out-String -Stream``), plus
``Write-Output``/``Out-Null``. Native commands' stderr lines become NativeCommandError
records and their exit code becomes ``$LASTEXITCODE``. Anything else is answered with PowerShell's
CommandNotFoundException for its first word - a real host knows far more commands (and
``foreach``, blocks, subexpressions), so that answer is a lab limit, not Windows behaviour.
With ``2>&1`` stderr lines come back as strings; PowerShell would send ErrorRecords whose
``ToString()`` is the same text (simplification).

This module runs statements and pipelines and calls native tools; the language it reads is
``pslang.py`` and the cmdlets it knows, with their parameter binding, are ``cmdlets.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psrpcore.types import ErrorCategory

from mpremote.lab import contract
from mpremote.lab.cmdlets import CMDLETS, WMS_CMDLETS, bind_common
from mpremote.lab.contract import CmdletError, NativeResult
from mpremote.lab.pslang import ExitRequested, PartialOutput, ScriptStop, StatementError, Tok, parse_script, ps_text

if TYPE_CHECKING:  # pragma: no cover
    from mpremote.lab.hostmodel import EmulatedHost

_SWITCHES = {"all", "confirm", "whatif", "force", "stream", "verbose", "debug"}
_VAR = re.compile(r"\$(?:env:)?[A-Za-z_?][A-Za-z0-9_]*")


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
                    data = self.run_script(spec.text, data)
                else:
                    try:
                        data = self._run_command(spec.text, self._spec_args(spec), data, set(), from_api=True)
                    except StatementError as exc:  # not in a script: the pipeline fails
                        return contract.PipelineResult(self.output, self.errors, failure=exc.spec)
            self.output.extend(data or [])
        except ScriptStop as exc:
            return contract.PipelineResult(self.output, self.errors, failure=exc.spec)
        except ExitRequested as exc:
            return contract.PipelineResult(self.output, self.errors, should_exit=exc.code)
        return contract.PipelineResult(self.output, self.errors)

    @staticmethod
    def _spec_args(spec: contract.CommandSpec) -> list[tuple[str | None, Any]]:
        return list(spec.parameters)

    def run_script(self, text: str, data: list[Any] | None) -> list[Any]:
        """Statements in order; each statement's output goes to the pipeline's output."""
        out: list[Any] = []
        for statement in parse_script(text):
            try:
                out.extend(self._run_statement(statement, data))
            except StatementError as exc:
                self.errors.append(exc.spec)
            except (ExitRequested, ScriptStop):
                self.output.extend(out)
                raise
        return out

    def _run_statement(self, pipeline: list[list[Tok]], data: list[Any] | None) -> list[Any]:
        first = pipeline[0]
        if first[0].kind == "word" and first[0].text.lower() == "exit":
            code = self._value(first[1]) if len(first) > 1 else 0
            try:
                raise ExitRequested(int(code or 0))
            except (TypeError, ValueError):
                raise StatementError(
                    contract.ErrorSpec(
                        message=f'Cannot convert value "{ps_text(code)}" to type "System.Int32".',
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
            return _VAR.sub(lambda m: ps_text(self._variable(m.group(0))), tok.text)
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
                    argv.extend(ps_text(v) for v in (value if isinstance(value, list) else [value]))
            stdin = "".join(ps_text(x) + "\r\n" for x in data) if data else None
            # Windows PowerShell decodes a native command's OEM output as cp1252 (remoting).
            result = self.host.read_over_remoting(native.run(argv, stdin))
            self.host.last_exit_code = result.exit_code
            return self._native_output(result, redirs)
        cmdlet = CMDLETS.get(name.lower())
        if cmdlet is None or (name.lower() in WMS_CMDLETS and not self.host.spec.multipoint):
            # Not affected by -ErrorAction: command discovery fails before the cmdlet runs.
            raise StatementError(self.host.command_not_found(name))
        named, positional = bind_common(name, args)
        action = str(named.pop("erroraction", "continue")).lower()
        try:
            out = cmdlet(self, named, positional, data or [])
        except CmdletError as exc:
            if action in ("silentlycontinue", "ignore"):
                return []
            if action == "stop":
                raise ScriptStop(exc.spec) from None
            self.errors.append(exc.spec)
            return []
        except PartialOutput as part:
            if action == "stop":  # the first error stops the pipeline (the cmdlet ran in order)
                raise ScriptStop(part.errors[0]) from None
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
