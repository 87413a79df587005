"""The cmdlets the lab's interpreter runs, with PowerShell's parameter binding.

The MultiPoint cmdlets (``*-WmsSession``, ``Get-WmsApp``) bind ``-SessionId`` / ``-All`` /
``-WhatIf`` / ``-Confirm`` here and call the host (``wms_cmdlets.py``) once per id, so one
missing id is a non-terminating error while the others go on; the rest are the generic
cmdlets pypsrp and ordinary clients send (``Get-Process``, ``Write-Output``, ``Out-Null``,
``Out-String -Stream``, ``Invoke-Expression``). Parameter names may be abbreviated, as
PowerShell allows; an unknown one is PowerShell's ParameterBindingException.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from psrpcore.types import ErrorCategory

from mpremote.lab import contract
from mpremote.lab.contract import CmdletError
from mpremote.lab.pslang import PartialOutput, StatementError, ps_text

if TYPE_CHECKING:  # pragma: no cover
    from mpremote.lab.interpreter import Interpreter

#: Cmdlets only a MultiPoint host has; elsewhere they are CommandNotFoundException.
WMS_CMDLETS = {
    "get-wmssession",
    "close-wmssession",
    "disconnect-wmssession",
    "lock-wmssession",
    "unlock-wmssession",
    "get-wmsapp",
}


def bind_common(cmdlet: str, args: list[tuple[str | None, Any]]) -> tuple[dict[str, Any], list[Any]]:
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
        contract.binding_error(
            f"A parameter cannot be found that matches parameter name '{pname}'.",
            f"NamedParameterNotFound,{cmdlet}",
        )
    )


def _take(named: dict[str, Any], cmdlet: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """Resolve (prefix-matched) parameter names; raise for unknown ones."""
    out: dict[str, Any] = {}
    for key, value in named.items():
        hits = [a for a in allowed if a == key] or [a for a in allowed if a.startswith(key)]
        if len(hits) != 1:
            raise StatementError(_param_error(cmdlet, key).spec)
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
            raise StatementError(
                contract.binding_error(
                    f"Cannot bind parameter 'SessionId'. Cannot convert value \"{ps_text(item)}\" to type "
                    '"System.UInt32".',
                    f"CannotConvertArgumentNoMessage,{cmdlet}",
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
        raise StatementError(
            contract.binding_error(
                "Parameter set cannot be resolved using the specified named parameters.",
                f"AmbiguousParameterSet,{cmdlet}",
            )
        )
    if p.get("all"):
        return it.host.wms_session_ids()
    if not has_ids:  # a remote session cannot prompt for the mandatory -SessionId
        raise StatementError(
            contract.binding_error(
                "Cannot process command because of one or more missing mandatory parameters: SessionId.",
                f"MissingMandatoryParameter,{cmdlet}",
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
        raise PartialOutput(out, errors)
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
        raise StatementError(
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
        raise StatementError(
            contract.binding_error(
                "Cannot process command because of one or more missing mandatory parameters: Message.",
                "MissingMandatoryParameter,Microsoft.MultiPoint.Management.LockWmsSession",
            )
        )
    it.host.lock_wms_session(_session_id("Lock-WmsSession", p, positional), ps_text(message))
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
        return [ps_text(obj)]
    props = list(ps.extended_properties) + list(ps.adapted_properties)
    width = max((len(pr.name) for pr in props), default=0)
    return ["", *[f"{pr.name.ljust(width)} : {ps_text(getattr(obj, pr.name))}" for pr in props], ""]


def _out_string(it: Interpreter, named: dict[str, Any], positional: list[Any], data: list[Any]) -> list[Any]:
    p = _take(named, "Out-String", ("stream", "width", "inputobject"))
    lines = [line for obj in data + positional for line in _format(obj)]
    return lines if p.get("stream") else ["".join(line + "\r\n" for line in lines)]


def _invoke_expression(it: Interpreter, named: dict[str, Any], positional: list[Any], data: list[Any]) -> list[Any]:
    p = _take(named, "Invoke-Expression", ("command",))
    command = p.get("command", positional[0] if positional else "")
    return it.run_script(ps_text(command), None)


CMDLETS: dict[str, Callable[[Interpreter, dict[str, Any], list[Any], list[Any]], list[Any]]] = {
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
