"""Suite-wide settings that every test, in every directory, runs under.

Kerberos: no test may ever look for a real KDC. With pyspnego's Kerberos backend installed
(the ``kerberos`` extra), ``negotiate`` tries Kerberos before NTLM, and the machine's own
``/etc/krb5.conf`` may name public KDCs (Debian's default names MIT's). So the whole suite
runs with a profile of its own: a dummy realm whose only KDC is a closed loopback port, no
DNS lookups, and an empty ticket cache and keytab, so a developer's own ticket is never
used either. The Kerberos tests (``tests/kerberos``) replace these with their own realm.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_DUMMY_KRB5_CONF = """[libdefaults]
    default_realm = MPREMOTE-TESTS.INVALID
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    kdc_timeout = 1s
    max_retries = 1

[realms]
    MPREMOTE-TESTS.INVALID = {
        kdc = 127.0.0.1:1
    }
"""

_saved: dict[str, str | None] = {}
_tmpdir: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _tmpdir
    _tmpdir = tempfile.mkdtemp(prefix="mpremote-tests-krb5-")
    conf = os.path.join(_tmpdir, "krb5.conf")
    with open(conf, "w", encoding="utf-8") as fh:
        fh.write(_DUMMY_KRB5_CONF)
    env = {
        "KRB5_CONFIG": conf,
        "KRB5CCNAME": f"FILE:{os.path.join(_tmpdir, 'no-ticket-cache')}",
        "KRB5_KTNAME": f"FILE:{os.path.join(_tmpdir, 'no-keytab')}",
        "KRB5_CLIENT_KTNAME": f"FILE:{os.path.join(_tmpdir, 'no-client-keytab')}",
        "KRB5RCACHEDIR": _tmpdir,
    }
    for key, value in env.items():
        _saved[key] = os.environ.get(key)
        os.environ[key] = value
    for key in ("KRB5_KDC_PROFILE", "KRB5_TRACE"):  # no KDC of the machine's, no stray trace
        _saved[key] = os.environ.pop(key, None)


def pytest_unconfigure(config: pytest.Config) -> None:
    for key, value in _saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if _tmpdir is not None:
        shutil.rmtree(_tmpdir, ignore_errors=True)
