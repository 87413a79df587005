"""Every Kerberos failure is ``kind: auth`` with a message and a hint for ``check``.

The exceptions are the libraries' own: ``krb5.Krb5Error`` built from an MIT error code
carries MIT's text for it, exactly as a failing KDC exchange would (the realm tests produce
the common ones for real, clock skew too: ``test_client_kerberos`` runs the client under
libfaketime two hours ahead and the KDC answers KRB_AP_ERR_SKEW; an expired ticket is not
staged).
"""

from __future__ import annotations

import pytest

from mpremote.errors import AuthError
from mpremote.remote.errors import BAD_CREDENTIALS, translate

from .conftest import require_kerberos

pytestmark = pytest.mark.kerberos

#: MIT com_err codes (krb5/krb5_err.h) and what every command, then ``check``, must say.
CASES = [
    (-1765328347, "clock skew too great", "synchronise the clocks"),  # KRB5KRB_AP_ERR_SKEW
    (-1765328353, BAD_CREDENTIALS, "refused the password"),  # KRB5KRB_AP_ERR_BAD_INTEGRITY
    (-1765328360, BAD_CREDENTIALS, "refused the password"),  # KRB5KDC_ERR_PREAUTH_FAILED (AD)
    (-1765328378, BAD_CREDENTIALS, "no such user"),  # KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN
    (-1765328377, "unknown service principal", "spn_host"),  # KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN
    (-1765328352, "the ticket has expired", "run kinit again"),  # KRB5KRB_AP_ERR_TKT_EXPIRED
    (-1765328228, "no KDC reachable", "krb5.conf"),  # KRB5_KDC_UNREACH
    (-1765328189, "no Kerberos ticket", "run kinit"),  # KRB5_FCC_NOFILE
]


@pytest.fixture(scope="module")
def krb5_context() -> object:
    require_kerberos()
    import krb5

    return krb5.init_context()


@pytest.mark.parametrize(("code", "message", "hint"), CASES, ids=[str(c[0]) for c in CASES])
def test_kerberos_errors_are_auth_errors_with_a_hint(krb5_context: object, code: int, message: str, hint: str) -> None:
    import krb5

    err = translate(krb5.Krb5Error(krb5_context, code))
    assert isinstance(err, AuthError)
    assert err.kind == "auth"
    assert message in err.message
    assert err.hint is not None and hint in err.hint


def test_a_wrapped_kerberos_error_is_classified_by_its_cause(krb5_context: object) -> None:
    import krb5
    import spnego.exceptions

    inner = krb5.Krb5Error(krb5_context, -1765328347)
    try:
        try:
            raise inner
        except krb5.Krb5Error as exc:
            raise spnego.exceptions.InvalidCredentialError(context_msg="Getting GSSAPI credential") from exc
    except spnego.exceptions.SpnegoError as outer:
        err = translate(outer)
    assert err.kind == "auth"
    assert "clock skew" in err.message


def test_negotiate_with_a_ticket_is_not_prompted_for_a_password(realm: object) -> None:
    from mpremote.credentials import resolver
    from mpremote.hosts import Host

    def prompt(text: str) -> str:
        raise AssertionError("prompted for a password although a ticket is in the cache")

    resolver._TICKET.clear()  # asked once per process: ask again under this module's realm
    try:
        found = resolver.CredentialResolver(interactive=True, environ={}, use_keyring=False, prompt=prompt).resolve(
            Host(name="mp-lab-001", address="127.0.0.1", auth="negotiate", username="labadmin")
        )
    finally:
        resolver._TICKET.clear()
    assert (found.password, found.source) == (None, "ticket-cache")
