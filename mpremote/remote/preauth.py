"""Pre-emptive NTLM: the NEGOTIATE token rides on the first request, saving one round trip.

pypsrp's ``HTTPNegotiateAuth`` sends every new connection's first request without an
``Authorization`` header, waits for the bare ``401 WWW-Authenticate: Negotiate``, then
runs the two NTLM legs: three POSTs of the same body. MS-WSMV 2.2.9.1.1.1 specifies
Negotiate authentication per RFC 4559, under which a client may send its first token
unasked; HTTP.sys answers a first-request NEGOTIATE with the CHALLENGE. So the first
POST carries the NEGOTIATE, the server's 401 carries the CHALLENGE, and the second POST
carries the AUTHENTICATE: two POSTs instead of three (sessions 7 -> 6, logoff 9 -> 8).

Channel binding goes into the last NTLM message (the AUTHENTICATE's AV pairs), so the
certificate hash is read from the CHALLENGE response's socket, exactly where pypsrp reads
it, and passed to that step.

Everything else stays pypsrp's and requests': the subclass only adds the first token.

* A bare 401 to the pre-emptive request (a server that wants its own challenge first)
  falls back to pypsrp's 401 path on the same response: one request more than before on
  that server, never a failure.
* Re-authentication of a new connection later in the conversation (the host dropped the
  keep-alive connection) is pypsrp's 401 path, unchanged.
* Only for ``auth="ntlm"`` with pyspnego's pure-Python NTLM: Kerberos and Negotiate
  (which may pick Kerberos and needs its mutual-auth reply), CredSSP, Basic and
  certificates keep their libraries' own flows.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

#: The scheme the pre-emptive token is sent under (pypsrp sends raw NTLM under it too).
SCHEME = "Negotiate"

_CLASS: Any = None


def preemptive_auth_class() -> Any:
    """``HTTPNegotiateAuth`` with a pre-emptive NTLM first leg (built lazily: pypsrp is heavy)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS

    import spnego
    import spnego.channel_bindings
    from pypsrp._utils import get_hostname
    from pypsrp.negotiate import HTTPNegotiateAuth

    class PreemptiveNTLMAuth(HTTPNegotiateAuth):
        #: Requests answered so far per host with a pre-emptive token (tests read it).
        preemptive_sent: int = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pending: dict[str, Any] = {}
            self._fell_back: set[str] = set()

        def __call__(self, request: Any) -> Any:
            request = super().__call__(request)
            host = get_hostname(request.url) or ""
            if host in self.contexts or host in self._pending or host in self._fell_back:
                return request
            context = self._new_context(host)
            if context is None:
                return request
            self._pending[host] = context
            self._set_auth_token(request, context.step(), SCHEME)
            self.preemptive_sent += 1
            return request

        def _new_context(self, host: str) -> Any:
            if self.auth_provider != "ntlm" or self.delegate:
                return None
            context = spnego.client(
                self.username,
                self.password,
                hostname=self.hostname_override or host,
                service=self.service,
                context_req=spnego.ContextReq.default,
                protocol="ntlm",
                options=spnego.NegotiateOptions.wrapping_winrm if self.wrap_required else spnego.NegotiateOptions.none,
            )
            if type(context).__name__ != "NTLMProxy":
                # SSPI/GSSAPI NTLM: channel bindings are fixed at creation there; keep the 401 path.
                return None
            return context

        def response_hook(self, response: Any, **kwargs: Any) -> Any:
            host = get_hostname(response.url) or ""
            context = self._pending.pop(host, None)
            if context is None or response.status_code != 401:
                return super().response_hook(response, **kwargs)
            in_token = self._get_auth_token(response, self._regex)
            if not in_token:
                log.debug("%s: bare 401 to a pre-emptive NTLM token; using the 401 path", host)
                self._fell_back.add(host)
                return super().response_hook(response, **kwargs)
            cbt = None
            if self.send_cbt:
                app_data = self._get_cbt_data(response)
                if app_data:
                    cbt = spnego.channel_bindings.GssChannelBindings(application_data=app_data)
            out_token = context.step(in_token, channel_bindings=cbt)
            # Release the connection so the next leg reuses it (NTLM binds the connection).
            response.content  # noqa: B018 - reads the body
            response.raw.release_conn()
            request = response.request.copy()
            self._set_auth_token(request, out_token, SCHEME)
            response = response.connection.send(request, **kwargs)
            # A last token from the server (mutual auth) is read as pypsrp would; NTLM has none.
            in_token = self._get_auth_token(response, self._regex)
            if in_token and not context.complete:
                context.step(in_token)
            if response.status_code != 401:
                # Used by pypsrp's message encryption to pick the MIME protocol.
                context.response_auth_header = SCHEME.lower()
                self.contexts[host] = context
            return response

    _CLASS = PreemptiveNTLMAuth
    return _CLASS


def install(session: Any) -> bool:
    """Replace the session's pypsrp NTLM auth by the pre-emptive one (same settings).

    Returns False (and changes nothing) for any other auth, or an auth object that is not
    pypsrp's plain ``HTTPNegotiateAuth`` (another pypsrp version, or already replaced).
    """
    from pypsrp.negotiate import HTTPNegotiateAuth

    auth = session.auth
    if type(auth) is not HTTPNegotiateAuth or auth.auth_provider != "ntlm" or auth.contexts:
        return False
    new = preemptive_auth_class()(
        username=auth.username,
        password=auth.password,
        auth_provider=auth.auth_provider,
        send_cbt=auth.send_cbt,
        service=auth.service,
        delegate=auth.delegate,
        hostname_override=auth.hostname_override,
        wrap_required=auth.wrap_required,
    )
    session.auth = new
    return True
