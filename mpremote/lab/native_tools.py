"""The Windows command-line tools an emulated host answers: quser, qwinsta, logoff, tsdiscon, msg, hostname.

Each returns a ``NativeResult`` (stdout/stderr lines and an exit code) printed the way the
host's locale prints it; ``read_over_remoting`` then does what a remoting session does to
those bytes. Ending a session goes through ``HostState`` so faults and the journal are shared
with the MultiPoint cmdlets.
"""

from __future__ import annotations

from collections.abc import Sequence

from mpremote.lab.contract import NativeResult
from mpremote.lab.hoststate import HostState, SentMessage
from mpremote.lab.locales import read_native, render_quser, render_qwinsta

#: Exit code of a failing quser/logoff/tsdiscon/msg (real tools return 1; doubt for msg).
NATIVE_FAILURE = 1
ACCESS_DENIED = 5
SESSION_NOT_FOUND = 7022
RPC_UNAVAILABLE = 1722
MSG_MAX_CHARS = 255
_GARBAGE_QUSER = [
    "Error 0x000006BA enumerating sessionnames",
    "Error [1722]:The RPC server is unavailable.",
    "\ufffd\ufffdMZ\ufffd\x03\ufffd\ufffd  \ufffd@\ufffd\ufffd \ufffd\ufffd\ufffd",
    "---- 8< ---- quser.exe: internal buffer overrun ----",
]


class NativeTools(HostState):
    """The native command-line tools of one host (a layer over its ``HostState``)."""

    @staticmethod
    def _split_args(args: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        """``/v``, ``/time:30``, ``/server:X`` switches apart from positional words."""
        words: list[str] = []
        switches: dict[str, str] = {}
        for a in args:
            if a.startswith("/") and len(a) > 1:
                key, _, value = a[1:].partition(":")
                switches[key.lower()] = value
            else:
                words.append(a)
        return words, switches

    def _foreign_server(self, switches: dict[str, str], result: NativeResult) -> bool:
        server = switches.get("server")
        if server and server.casefold() not in {
            self.name.casefold(),
            self.computer_name.casefold(),
            "localhost",
            "127.0.0.1",
            ".",
        }:
            self._rpc_failure(result)
            return True
        return False

    def _rpc_failure(self, result: NativeResult) -> None:
        result.err("Error 0x000006BA enumerating sessionnames")
        result.err(self.locale.error(RPC_UNAVAILABLE, "The RPC server is unavailable."))
        result.exit_code = NATIVE_FAILURE

    def read_over_remoting(self, result: NativeResult) -> NativeResult:
        """What a Windows PowerShell remoting session makes of a native command's output: it
        decodes the OEM bytes (cp850/cp437) as cp1252, so ``SESIÓN`` arrives as ``SESIàN``.
        The primitives below print what the host means; callers that read the way PowerShell
        does by default (``& quser``) pass the result through here."""
        lines = read_native([t for _, t in result.lines], self.locale, "ansi")
        return NativeResult([(stream, t) for (stream, _), t in zip(result.lines, lines, strict=True)], result.exit_code)

    def quser(self, args: Sequence[str] = ()) -> NativeResult:
        """``quser [NAME|ID|*]``: a header and one row per session with a user."""
        result = NativeResult()
        if self.spec.has_fault("garbage-quser"):
            for line in _GARBAGE_QUSER:
                result.out(line)
            return result
        words, switches = self._split_args(args)
        if self._foreign_server(switches, result):
            return result
        if self.logged_off and self.spec.has_fault("quser-fails-after-logoff"):
            self._rpc_failure(result)  # any failure but "No User exists for *"
            return result
        target = words[0] if words else "*"
        users = [s for s in self._sessions.values() if s.username]
        if target != "*":
            if target.isdigit():
                users = [s for s in users if s.id == int(target)]
            else:
                users = [s for s in users if (s.username or "").casefold() == target.casefold()]
        if not users:
            result.err(self.locale.no_user.format(target=target))
            result.exit_code = NATIVE_FAILURE
            return result
        for line in render_quser(users, self.locale, date_format=self.spec.date_format):
            result.out(line)
        return result

    def qwinsta(self, args: Sequence[str] = ()) -> NativeResult:
        """``qwinsta [ID|USER|SESSIONNAME]``: every session, including services and listeners."""
        result = NativeResult()
        words, switches = self._split_args(args)
        if self._foreign_server(switches, result):
            return result
        rows = list(self._sessions.values())
        if words and words[0] != "*":
            t = words[0].casefold()
            rows = [
                s
                for s in rows
                if str(s.id) == t or (s.username or "").casefold() == t or (s.session_name or "").casefold() == t
            ]
        if not rows:
            result.err(self.locale.no_session.format(target=words[0]))
            result.exit_code = NATIVE_FAILURE
            return result
        for line in render_qwinsta(rows, self.locale, type_column=self.spec.qwinsta_type):
            result.out(line)
        return result

    def _end_session(self, args: Sequence[str], *, disconnect: bool) -> NativeResult:
        result = NativeResult()
        words, switches = self._split_args(args)
        if self._foreign_server(switches, result):
            return result
        target = words[0] if words else "0"  # no argument: the caller's own session (0 here)
        failed = self.locale.disconnect_failed if disconnect else self.locale.logoff_failed
        if target.isdigit():
            self.before_action(int(target))
        s = self._resolve(target)
        if s is None and not target.isdigit():
            result.err(self.locale.no_session.format(target=target))
            result.exit_code = NATIVE_FAILURE
        elif s is None:
            result.err(failed.format(id=target, code=SESSION_NOT_FOUND))
            result.err(self.locale.error(SESSION_NOT_FOUND, self.locale.session_not_found))
            result.exit_code = NATIVE_FAILURE
        elif self._protected(s) or self.spec.has_fault("access-denied"):
            result.err(failed.format(id=s.id, code=ACCESS_DENIED))
            result.err(self.locale.error(ACCESS_DENIED, self.locale.access_denied))
            result.exit_code = NATIVE_FAILURE
        elif disconnect:
            if "v" in switches:
                result.out(self.locale.disconnect_verbose.format(id=s.id, name=s.session_name or ""))
            self._disconnect(s)
        else:
            if "v" in switches:
                result.out(self.locale.logoff_verbose.format(id=s.id))
            self._logoff(s)
        return result

    def logoff(self, args: Sequence[str] = ()) -> NativeResult:
        """``logoff ID|SESSIONNAME [/v]``; services/console and ``access-denied`` give Error [5]."""
        return self._end_session(args, disconnect=False)

    def tsdiscon(self, args: Sequence[str] = ()) -> NativeResult:
        """``tsdiscon ID|SESSIONNAME [/v]``: the session stays, disconnected, its name blank."""
        return self._end_session(args, disconnect=True)

    def msg(self, args: Sequence[str] = (), stdin: str | None = None) -> NativeResult:
        """``msg ID|USER|SESSIONNAME|* [/time:N] [/v] [TEXT]``; no TEXT: read from stdin.

        Text is cut to 255 characters (DESIGN.md 4). The /v wording is English on every
        locale and the error for an unknown user is our reconstruction (doubts).
        """
        result = NativeResult()
        words, switches = self._split_args(args)
        if self._foreign_server(switches, result):
            return result
        if not words:
            result.err("Error: no session or user name given")  # msg prints its usage here
            result.exit_code = NATIVE_FAILURE
            return result
        target, text_words = words[0], words[1:]
        text = " ".join(text_words) if text_words else (stdin or "").rstrip("\r\n")
        text = text[:MSG_MAX_CHARS]
        seconds = int(switches["time"]) if switches.get("time", "").isdigit() else None
        if target == "*":
            recipients = [s for s in self._sessions.values() if s.username]
        elif target.isdigit():
            self.before_action(int(target))
            one = self._sessions.get(int(target))
            recipients = [one] if one is not None and not one.is_listener else []
            if not recipients:
                result.err(self.locale.error(SESSION_NOT_FOUND, self.locale.session_not_found))
        else:
            recipients = [
                s
                for s in self._sessions.values()
                if (s.username or "").casefold() == target.casefold()
                or (s.session_name or "").casefold() == target.casefold()
            ]
            if not recipients:
                result.err(self.locale.msg_names_failed.format(code=NATIVE_FAILURE))
        if not recipients:
            result.exit_code = NATIVE_FAILURE
            return result
        for s in sorted(recipients, key=lambda s: s.id):
            if "v" in switches:
                name = s.session_name or str(s.id)
                result.out(f"Sending message to session {name}, display time {seconds or 60}")
                result.out(f"Async message sent to session {name}")
            self.messages.append(SentMessage(s.id, s.username, text, seconds))
            self._emit("message", s, text=text)
        return result

    def hostname(self, args: Sequence[str] = ()) -> NativeResult:
        result = NativeResult()
        result.out(self.spec.effective_computer_name)
        return result
