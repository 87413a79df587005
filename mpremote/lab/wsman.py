"""One emulated host's WSMan endpoint: Create, Command, Send, Receive, Signal, Delete.

psrpcore plays the PSRP state machines (runspace pool, pipelines, fragments); this module
is the WSMan shell layer around them and the bridge to the host model: every pipeline
becomes a list of ``contract.CommandSpec`` handed to ``HostModel.run_pipeline``, whose
``PipelineResult`` is written back as output, error records, a ``SetShouldExit`` host call
and the final pipeline state.

It runs on the lab's event loop: handlers are coroutines only because Receive long-polls
(answered with the OperationTimeout fault when nothing arrives in time, as Windows does).
Everything else is synchronous and cheap, and the host model is called on the loop thread,
so a host model never sees two pipelines of one lab at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psrpcore import (
    CreatePipelineEvent,
    EndOfPipelineInputEvent,
    GetAvailableRunspacesEvent,
    GetCommandMetadataEvent,
    PSRPPayload,
    ResetRunspaceStateEvent,
    ServerPipeline,
    SetMaxRunspacesEvent,
    SetMinRunspacesEvent,
    StreamType,
)
from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    HostMethodIdentifier,
    NETException,
    PSInvocationState,
    PSRPMessageType,
)

from mpremote.lab import psrp_cache, soap
from mpremote.lab.contract import CommandSpec, ErrorSpec, HostModel, JournalSink, PipelineResult
from mpremote.lab.soap import NS, SoapError, qname

log = logging.getLogger(__name__)

_FINISHED = (PSInvocationState.Completed, PSInvocationState.Failed, PSInvocationState.Stopped)
#: Messages pypsrp serialises with a ``CI`` property where psrpcore expects ``ci``.
_CI_MESSAGES = (PSRPMessageType.SetMaxRunspaces.value, PSRPMessageType.SetMinRunspaces.value)
_MAX_SHELLS_TEXT = (
    "The WS-Management service cannot process the request. This user is allowed a maximum number "
    "of 25 concurrent shells, which has been exceeded. Close existing shells or raise the quota for "
    "this user."
)
#: Envelope size for output written outside a request (a resumed script): WSMan's default.
_RESUME_ENVELOPE = 153600
_TIMEOUT_TEXT = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout."
#: ElementPaths of the request bodies read below (``soap.qname``).
_Q_SHELL = qname("rsp:Shell")
_Q_CREATIONXML = qname("pwsh:creationXml")
_Q_COMMANDLINE = qname("rsp:CommandLine")
_Q_ARGUMENTS = qname("rsp:Arguments")
_Q_SEND = qname("rsp:Send")
_Q_STREAM = qname("rsp:Stream")
_Q_RECEIVE_DESIREDSTREAM = qname("rsp:Receive/rsp:DesiredStream")
_Q_SIGNAL = qname("rsp:Signal")
_Q_CODE = qname("rsp:Code")


@dataclass(frozen=True)
class Reply:
    """A WSMan answer: HTTP status (200, or 500 for faults), SOAP bytes, the action's short name."""

    status: int
    body: bytes
    action: str


@dataclass
class _Outbox:
    """PSRP payloads waiting for a Receive aimed at the pool (key None) or one pipeline."""

    payloads: list[bytes] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Command:
    pipeline: ServerPipeline
    waiting_for_input: bool = False


class _Shell:
    """One runspace pool (a wsmprovhost.exe on Windows) and its pipelines."""

    def __init__(self, shell_id: str, resource_uri: str, owner: str) -> None:
        self.shell_id = shell_id
        self.resource_uri = resource_uri
        self.owner = owner
        self.pool = psrp_cache.new_pool()
        self.commands: dict[str, _Command] = {}
        self.outboxes: dict[str | None, _Outbox] = {None: _Outbox()}

    def outbox(self, key: str | None) -> _Outbox:
        box = self.outboxes.get(key)
        if box is None:
            box = self.outboxes[key] = _Outbox()
        return box


def _fix_ci_case(data: bytes) -> bytes:
    """Rename pypsrp's ``CI`` property to ``ci`` in SET_MIN/MAX_RUNSPACES fragments.

    Same length, so fragment lengths stay valid; only start fragments of those two message
    types are touched, so user data elsewhere can never be rewritten.
    """
    if b'N="CI"' not in data:
        return data
    out = bytearray(data)
    pos = 0
    while pos + 21 <= len(out):
        flags = out[pos + 16]
        (length,) = struct.unpack(">I", out[pos + 17 : pos + 21])
        start = pos + 21
        if flags & 0x1 and length >= 8:
            (mtype,) = struct.unpack("<I", out[start + 4 : start + 8])
            if mtype in _CI_MESSAGES:
                chunk = bytes(out[start : start + length]).replace(b'N="CI"', b'N="ci"')
                out[start : start + length] = chunk
        pos = start + length
    return bytes(out)


def _peek_pipeline_id(data: bytes) -> str | None:
    """The pipeline id inside the first (start) fragment of a CREATE_PIPELINE message."""
    if len(data) < 21 + 40 or not data[16] & 0x1:
        return None
    return str(uuid.UUID(bytes_le=bytes(data[21 + 24 : 21 + 40]))).upper()


def _b64(text: str | None) -> bytes:
    try:
        return base64.b64decode((text or "").strip(), validate=True)
    except binascii.Error:
        raise SoapError(soap.WSMAN_INVALID_REQUEST, "The stream data is not valid base64.") from None


def _error_record(spec: ErrorSpec) -> tuple[NETException, ErrorCategoryInfo]:
    exc = NETException(Message=spec.message)
    exc.PSObject.type_names = [spec.exception_type, "System.Exception", "System.Object"]
    try:
        category = ErrorCategory(spec.category)
    except ValueError:
        category = ErrorCategory.NotSpecified
    info = ErrorCategoryInfo(
        Category=category,
        Reason=spec.reason or spec.exception_type.rsplit(".", 1)[-1],
        TargetName=None if spec.target is None else str(spec.target),
    )
    return exc, info


def _jsonable(value: Any) -> Any:
    """Parameters as the journal stores them: JSON types only, PSObjects as text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


class WSManEndpoint:
    """The WSMan service of one emulated host (all its shells)."""

    def __init__(
        self,
        name: str,
        model: HostModel,
        journal: JournalSink,
        *,
        refuse_shells: bool = False,
        on_shell_count: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self._journal = journal
        self._refuse_shells = refuse_shells  # the ``wsman-fault`` fault
        self._on_shell_count = on_shell_count
        self._shells: dict[str, _Shell] = {}

    @property
    def open_shells(self) -> int:
        return len(self._shells)

    # -- dispatch ---------------------------------------------------------------------------
    async def handle(self, data: bytes, user: str) -> Reply:
        """Serve one SOAP request from an authenticated ``user``; never raises."""
        message_id: str | None = None
        action = "?"
        try:
            if len(data) > soap.MAX_ENVELOPE_BYTES:
                raise SoapError(soap.WSMAN_ENVELOPE_TOO_LARGE, "The request envelope exceeds MaxEnvelopeSize.")
            req = soap.parse_request(data)
            message_id, action = req.message_id, req.action
            handler = getattr(self, f"_do_{action.lower()}", None) if action in soap.RESPONSE_ACTIONS else None
            if handler is None:
                raise SoapError(
                    soap.WSMAN_ACTION_NOT_SUPPORTED,
                    f"The WS-Management service does not support the action {action}.",
                    "w:ActionNotSupported",
                )
            body = await handler(req, user)
            return Reply(200, soap.envelope(action, req.message_id, body), action)
        except SoapError as exc:
            return Reply(500, soap.fault(message_id, exc.code, exc.reason, self.name, exc.subcode), action)
        except Exception as exc:  # a bug or PSRP data psrpcore rejects: a fault, not a dead server
            log.exception("%s: %s failed", self.name, action)
            reason = f"The PowerShell plugin failed to process the request: {type(exc).__name__}: {exc}"
            return Reply(500, soap.fault(message_id, soap.WSMAN_PLUGIN_FAILED, reason, self.name), action)

    def _shell(self, req: soap.Request) -> _Shell:
        shell = self._shells.get(req.shell_id or "")
        if shell is None:
            raise SoapError(
                soap.WSMAN_SHELL_NOT_FOUND,
                f"The request for the Windows Remote Shell with ShellId {req.shell_id} failed because the "
                "shell was not found on the server. Possible causes are: the specified ShellId is incorrect "
                "or the shell no longer exists on the server. Provide the correct ShellId or create a new "
                "shell and retry the operation.",
                "w:InvalidSelectors",
            )
        return shell

    def _count_changed(self) -> None:
        if self._on_shell_count is not None:
            self._on_shell_count(len(self._shells))

    # -- actions ----------------------------------------------------------------------------
    async def _do_create(self, req: soap.Request, user: str) -> str:
        if self._refuse_shells:
            raise SoapError(soap.WSMAN_MAX_SHELLS_EXCEEDED, _MAX_SHELLS_TEXT, "w:QuotaLimit")
        if not req.resource_uri.startswith(soap.POWERSHELL_URI_PREFIX):
            raise SoapError(
                soap.WSMAN_ACTION_NOT_SUPPORTED,
                f"The resource URI {req.resource_uri} is not served by this lab host (PowerShell only).",
                "w:DestinationUnreachable",
            )
        shell_el = req.body.find(_Q_SHELL) if req.body is not None else None
        creation = shell_el.find(_Q_CREATIONXML) if shell_el is not None else None
        if shell_el is None or creation is None:
            raise SoapError(soap.WSMAN_INVALID_REQUEST, "Create needs rsp:Shell with creationXml.")
        shell_id = soap.normalise_guid(shell_el.get("ShellId")) or soap.new_guid()
        if shell_id in self._shells:
            raise SoapError(soap.WSMAN_INVALID_REQUEST, f"A shell with ShellId {shell_id} already exists.")
        shell = _Shell(shell_id, req.resource_uri, user)
        self._feed(shell, _b64(creation.text), StreamType.default, None, user, req)
        self._shells[shell_id] = shell
        self._count_changed()
        return (
            "<x:ResourceCreated><a:Address>http://localhost/wsman</a:Address><a:ReferenceParameters>"
            f"<w:ResourceURI>{req.resource_uri}</w:ResourceURI><w:SelectorSet>"
            f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>'
            "</a:ReferenceParameters></x:ResourceCreated>"
            f"<rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId><rsp:Name>Runspace1</rsp:Name>"
            f"<rsp:ResourceUri>{req.resource_uri}</rsp:ResourceUri><rsp:Owner>{user}</rsp:Owner>"
            "<rsp:ClientIP>127.0.0.1</rsp:ClientIP><rsp:ProcessId>4242</rsp:ProcessId>"
            "<rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin pr</rsp:InputStreams>"
            "<rsp:OutputStreams>stdout</rsp:OutputStreams><rsp:MaxIdleTimeOut>PT2147483.647S</rsp:MaxIdleTimeOut>"
            "<rsp:Locale>en-US</rsp:Locale><rsp:DataLocale>en-US</rsp:DataLocale>"
            "<rsp:CompressionMode>XpressCompression</rsp:CompressionMode>"
            "<rsp:ProfileLoaded>Yes</rsp:ProfileLoaded><rsp:Encoding>UTF8</rsp:Encoding>"
            "<rsp:BufferMode>Block</rsp:BufferMode><rsp:State>Connected</rsp:State>"
            "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
            "</rsp:Shell>"
        )

    async def _do_command(self, req: soap.Request, user: str) -> str:
        shell = self._shell(req)
        cmd_el = req.body.find(_Q_COMMANDLINE) if req.body is not None else None
        if cmd_el is None:
            raise SoapError(soap.WSMAN_INVALID_REQUEST, "Command needs rsp:CommandLine.")
        args = cmd_el.find(_Q_ARGUMENTS)
        data = _b64(args.text if args is not None else "")
        command_id = soap.normalise_guid(cmd_el.get("CommandId")) or _peek_pipeline_id(data) or soap.new_guid()
        # The pipeline must exist before psrpcore sees CREATE_PIPELINE, or it rejects the message.
        pipeline = ServerPipeline(shell.pool, uuid.UUID(command_id))
        shell.commands[command_id] = _Command(pipeline)
        shell.outbox(command_id)
        self._feed(shell, data, StreamType.default, command_id, user, req)
        return f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"

    async def _do_send(self, req: soap.Request, user: str) -> str:
        shell = self._shell(req)
        send = req.body.find(_Q_SEND) if req.body is not None else None
        if send is None:
            raise SoapError(soap.WSMAN_INVALID_REQUEST, "Send needs rsp:Send.")
        for stream in send.iterfind(_Q_STREAM):
            kind = StreamType.prompt_response if stream.get("Name") == "pr" else StreamType.default
            command_id = soap.normalise_guid(stream.get("CommandId"))
            self._feed(shell, _b64(stream.text), kind, command_id, user, req)
        return "<rsp:SendResponse/>"

    async def _do_receive(self, req: soap.Request, user: str) -> str:
        shell = self._shell(req)
        desired = req.body.find(_Q_RECEIVE_DESIREDSTREAM) if req.body is not None else None
        stream_name = ((desired.text or "stdout").split() or ["stdout"])[0] if desired is not None else "stdout"
        command_id = soap.normalise_guid(desired.get("CommandId")) if desired is not None else None
        command = shell.commands.get(command_id) if command_id else None
        if command_id and command is None and command_id not in shell.outboxes:
            raise SoapError(soap.WSMAN_INVALID_REQUEST, f"No command {command_id} in shell {shell.shell_id}.")
        box = shell.outbox(command_id)
        if not box.payloads and not (command and command.pipeline.state in _FINISHED):
            box.ready.clear()
            try:
                await asyncio.wait_for(box.ready.wait(), timeout=max(0.0, req.operation_timeout))
            except TimeoutError:
                raise SoapError(soap.WSMAN_OPERATION_TIMEOUT, _TIMEOUT_TEXT, "w:TimedOut") from None
            if self._shells.get(shell.shell_id) is not shell:
                raise SoapError(soap.WSMAN_SHELL_NOT_FOUND, "The shell was closed while a Receive waited.")
        budget = max(4096, req.max_envelope_size - 2048)
        parts: list[str] = []
        used = 0
        attr = f' CommandId="{command_id}"' if command_id else ""
        while box.payloads:
            encoded = base64.b64encode(box.payloads[0]).decode()
            if parts and used + len(encoded) + 64 > budget:
                break
            box.payloads.pop(0)
            used += len(encoded) + 64
            parts.append(f'<rsp:Stream Name="{stream_name}"{attr}>{encoded}</rsp:Stream>')
        if command is not None:
            done = command.pipeline.state in _FINISHED and not box.payloads
            state = soap.COMMAND_STATE_DONE if done else soap.COMMAND_STATE_RUNNING
            parts.append(f'<rsp:CommandState CommandId="{command_id}" State="{state}"/>')
        return "<rsp:ReceiveResponse>" + "".join(parts) + "</rsp:ReceiveResponse>"

    async def _do_signal(self, req: soap.Request, user: str) -> str:
        shell = self._shell(req)
        sig = req.body.find(_Q_SIGNAL) if req.body is not None else None
        command_id = soap.normalise_guid(sig.get("CommandId")) if sig is not None else None
        code_el = sig.find(_Q_CODE) if sig is not None else None
        code = (code_el.text or "").strip() if code_el is not None else ""
        command = shell.commands.get(command_id or "")
        if command is not None:
            pipeline = command.pipeline
            if pipeline.state in (PSInvocationState.Running, PSInvocationState.Stopping):
                pipeline.stop()
            if code != soap.SIGNAL_PS_CTRL_C:  # terminate (or anything else): the command is gone
                pipeline.close()
                del shell.commands[command_id or ""]
                shell.outboxes.pop(command_id, None)
            self._drain(shell, req.max_envelope_size)
        return "<rsp:SignalResponse/>"

    async def _do_delete(self, req: soap.Request, user: str) -> str:
        shell = self._shell(req)
        del self._shells[shell.shell_id]
        for box in shell.outboxes.values():
            box.ready.set()  # wake any long-polling Receive so it reports the shell gone
        self._count_changed()
        return ""

    async def _do_get(self, req: soap.Request, user: str) -> str:
        if not req.resource_uri.rstrip("/").endswith("/wsman/1/config"):
            raise SoapError(soap.WSMAN_ACTION_NOT_SUPPORTED, f"Get is not supported for {req.resource_uri}.")
        return (
            f'<cfg:Config xmlns:cfg="{NS["cfg"]}"><cfg:RootSDDL>O:NSG:BAD:P(A;;GA;;;BA)</cfg:RootSDDL>'
            "<cfg:MaxEnvelopeSizekb>500</cfg:MaxEnvelopeSizekb><cfg:MaxTimeoutms>60000</cfg:MaxTimeoutms>"
            "<cfg:MaxBatchItems>32000</cfg:MaxBatchItems><cfg:MaxProviderRequests>4294967295</cfg:MaxProviderRequests>"
            "</cfg:Config>"
        )

    def close_all(self) -> None:
        """Forget every shell (the lab is stopping); wakes long-polling Receives."""
        shells, self._shells = self._shells, {}
        for shell in shells.values():
            for box in shell.outboxes.values():
                box.ready.set()
        if shells:
            self._count_changed()

    # -- PSRP plumbing ----------------------------------------------------------------------
    def _feed(
        self,
        shell: _Shell,
        data: bytes,
        stream: StreamType,
        command_id: str | None,
        user: str,
        req: soap.Request,
    ) -> None:
        pid = uuid.UUID(command_id) if command_id else None
        shell.pool.receive_data(PSRPPayload(_fix_ci_case(data), stream, pid))
        while (event := shell.pool.next_event()) is not None:
            self._on_event(shell, event, user)
        self._drain(shell, req.max_envelope_size)

    def _on_event(self, shell: _Shell, event: Any, user: str) -> None:
        """React to one decoded client message; replies are queued on the pool by psrpcore."""
        pool = shell.pool
        command = shell.commands.get(str(getattr(event, "pipeline_id", "")).upper())
        if isinstance(event, CreatePipelineEvent) and command is not None:
            # psrpcore already decoded the pipeline into .metadata (event.pipeline re-decodes).
            metadata = command.pipeline.metadata
            if getattr(metadata, "no_input", True):
                self._run(command.pipeline, metadata, user)
            else:
                command.waiting_for_input = True
        elif isinstance(event, EndOfPipelineInputEvent) and command is not None and command.waiting_for_input:
            command.waiting_for_input = False
            self._run(command.pipeline, command.pipeline.metadata, user)
        elif isinstance(event, SetMaxRunspacesEvent | SetMinRunspacesEvent | ResetRunspaceStateEvent):
            pool.runspace_availability_response(event.ci, True)
        elif isinstance(event, GetAvailableRunspacesEvent):
            busy = sum(1 for c in shell.commands.values() if c.pipeline.state == PSInvocationState.Running)
            pool.runspace_availability_response(event.ci, max(0, pool.max_runspaces - busy))
        elif isinstance(event, GetCommandMetadataEvent) and command is not None:
            command.pipeline.start()  # no command metadata to offer: an empty, completed answer
            command.pipeline.complete()

    def _drain(self, shell: _Shell, max_envelope_size: int) -> None:
        """Move psrpcore's queued messages into per-target outboxes, fragmented to fit."""
        amount = max(1024, (max_envelope_size - 4096) * 3 // 4)
        while (payload := shell.pool.data_to_send(amount)) is not None:
            key = str(payload.pipeline_id).upper() if payload.pipeline_id else None
            box = shell.outbox(key)
            box.payloads.append(payload.data)
            box.ready.set()

    def _run(self, pipeline: ServerPipeline, metadata: Any, user: str) -> None:
        commands = [CommandSpec(c.command_text, bool(c.is_script), list(c.parameters)) for c in metadata.commands]
        script = ""
        for i, c in enumerate(metadata.commands):
            script += c.command_text
            if i < len(metadata.commands) - 1:
                script += "\n" if c.end_of_statement else " | "
        params: dict[str, Any] = {}
        args: list[Any] = []
        for c in commands:
            for name, value in c.parameters:
                if name is None:
                    args.append(_jsonable(value))
                else:
                    params[str(name)] = _jsonable(value)
        event: dict[str, Any] = {"event": "pipeline", "script": script, "parameters": params}
        if args:
            event["arguments"] = args
        self._journal(event)

        pipeline.start()
        try:
            result = self.model.run_pipeline(commands, operator=user)
        except Exception as exc:  # the host model's bug becomes a failed pipeline, not a dead lab
            log.exception("%s: host model failed", self.name)
            result = PipelineResult(failure=ErrorSpec(f"Emulated host error: {type(exc).__name__}: {exc}"))
        self._finish(pipeline, result)

    def _finish(self, pipeline: ServerPipeline, result: PipelineResult) -> None:
        """Write a result back, or (a script still running) come back later on the loop."""
        if result.resume is not None:
            asyncio.get_running_loop().call_later(result.resume_after, self._resume, pipeline, result.resume)
            return
        for value in result.output:
            pipeline.write_output(value)
        for err in result.errors:
            exc_obj, info = _error_record(err)
            pipeline.write_error(
                exc_obj, info, target_object=err.target, fully_qualified_error_id=err.fully_qualified_error_id
            )
        if result.should_exit is not None:
            pipeline.host_call(HostMethodIdentifier.SetShouldExit, [int(result.should_exit)])
        if result.failure is not None:
            exc_obj, info = _error_record(result.failure)
            record = ErrorRecord(
                Exception=exc_obj,
                CategoryInfo=info,
                TargetObject=result.failure.target,
                FullyQualifiedErrorId=result.failure.fully_qualified_error_id,
            )
            pipeline._change_state(PSInvocationState.Failed, record)  # psrpcore has no public "fail"
        else:
            pipeline.complete()

    def _resume(self, pipeline: ServerPipeline, resume: Callable[[], PipelineResult]) -> None:
        """A script's continuation (on the loop): write its result and wake the Receive."""
        shell = next((sh for sh in self._shells.values() for c in sh.commands.values() if c.pipeline is pipeline), None)
        if shell is None or pipeline.state != PSInvocationState.Running:
            return  # the client stopped the command or closed the shell meanwhile
        try:
            result = resume()
        except Exception as exc:
            log.exception("%s: host model failed", self.name)
            result = PipelineResult(failure=ErrorSpec(f"Emulated host error: {type(exc).__name__}: {exc}"))
        self._finish(pipeline, result)
        self._drain(shell, _RESUME_ENVELOPE)
