"""A real MIT realm and KDC on loopback for the Kerberos tests (marker ``kerberos``).

One realm per test module: created in a temporary directory, its KDC on a free loopback
port, the principals ``labadmin@LAB.TEST`` (and ``teacher``) and the lab hosts' service
principals in a keytab, and a ticket for labadmin in the module's own cache. The
``KRB5_*`` variables point at it only while the module's tests run; afterwards the
suite-wide dummy profile of ``tests/conftest.py`` is back.

Without the KDC tools (Debian: krb5-kdc krb5-admin-server krb5-user libkrb5-dev) or the
python gssapi package (``pip install -e ".[kerberos]"``) the tests are skipped, or fail
when ``MPREMOTE_REQUIRE_KERBEROS=1`` (as CI runs them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .realm import MitRealm, missing_tools

REALM = "LAB.TEST"
PASSWORD = "Lab-Pa55word!"
TEACHER_PASSWORD = "Teacher-Pa55!"
#: Lab hosts whose service principals the keytab holds, as pypsrp asks for them by default.
LAB_HOSTS = ("mp-lab-001", "mp-lab-002", "mp-lab-003")
#: A service principal of another class and name, for targets that set spn_host/spn_service.
OVERRIDE_SPN = ("HTTP", "spn-override.lab.test")


def require_kerberos() -> None:
    """Skip (or, with MPREMOTE_REQUIRE_KERBEROS=1, fail) when Kerberos cannot run here."""
    why = kerberos_unavailable()
    if why is not None:
        if os.environ.get("MPREMOTE_REQUIRE_KERBEROS") == "1":
            pytest.fail(f"MPREMOTE_REQUIRE_KERBEROS=1 but {why}", pytrace=False)
        pytest.skip(why)


def kerberos_unavailable() -> str | None:
    try:
        import gssapi  # noqa: F401
        import krb5  # noqa: F401
    except ImportError as exc:
        return f"python Kerberos libraries missing ({exc.name}): pip install -e '.[kerberos]'"
    missing = missing_tools()
    if missing:
        return f"MIT KDC tools missing ({', '.join(missing)}): apt-get install krb5-kdc krb5-admin-server krb5-user"
    return None


@pytest.fixture(scope="module")
def realm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MitRealm]:
    require_kerberos()
    kdc = MitRealm(tmp_path_factory.mktemp("realm"), realm=REALM)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in kdc.env().items():
            mp.setenv(key, value)
        kdc.start()
        try:
            kdc.add_user("labadmin", PASSWORD)
            kdc.add_user("teacher", TEACHER_PASSWORD)
            for name in LAB_HOSTS:
                kdc.add_service(f"host/{name}")
            kdc.add_service("/".join(OVERRIDE_SPN))
            kdc.kinit(f"labadmin@{REALM}", PASSWORD)
            yield kdc
        finally:
            kdc.stop()


@pytest.fixture
def kerberos_lab(realm: MitRealm, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``kerberos_lab(tls=True, hosts=2, ...)``: a Kerberos-only lab serving the realm's keytab."""
    from mpremote.lab.server import Lab
    from tests.support.helpers import start_lab

    labs: list[Lab] = []

    def start(**options: Any) -> Lab:
        lab = start_lab(tmp_path / f"lab{len(labs)}", auth="kerberos", keytab=realm.keytab, **{"hosts": 2, **options})
        labs.append(lab)
        return lab

    yield start
    for lab in labs:
        lab.stop()
