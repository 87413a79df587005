"""requests' environment proxy look-up, answered once per endpoint and environment.

pypsrp builds each host's requests session with ``merge_environment_settings``, which calls
``requests.utils.get_environ_proxies``: on Linux that reads the whole process environment
twice in Python (``urllib.request.getproxies_environment``, once for the bypass check and
once for the proxies), about 0.1 ms per host with 40 variables and more with a long
environment, to find the same answer for every host of a run.

:func:`install` puts a memo in front of it, in ``requests.sessions`` (the one caller
mpremote's sessions reach; ``requests.utils`` keeps the original). The key is the URL, the
``no_proxy`` argument and the whole environment (``os.environ``'s items, the only input on
Linux, where urllib reads no system settings): a changed variable is a new key, so the
answer is always the one requests would give now. The result is copied out. Only on Linux
and only while ``requests.sessions.get_environ_proxies`` is requests' own function (other
platforms read the registry or the system configuration, which no key could cover).
``tests/unit/test_envproxies.py`` compares it with requests for many environments and pins
the requests source it stands in for.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

#: Switch (read at call time; the A/B benchmark and the tests flip it).
ENABLED = True
_MAX_ENTRIES = 4096
_memo: dict[tuple[Any, ...], dict[str, str]] = {}
_lock = threading.Lock()
_installed = False


def _environment_key() -> Any:
    data = getattr(os.environ, "_data", None)  # bytes -> bytes on POSIX, filled by os.environ
    if not isinstance(data, dict):
        return None
    return frozenset(data.items())


def install() -> bool:
    """Memoise ``requests.sessions.get_environ_proxies`` (once per process; Linux only)."""
    global _installed
    if _installed:
        return True
    if not sys.platform.startswith("linux"):
        return False
    import requests.sessions
    import requests.utils

    real: Any = requests.utils.get_environ_proxies
    namespace = vars(requests.sessions)  # where merge_environment_settings looks the name up
    if id(namespace.get("get_environ_proxies")) != id(real) or _environment_key() is None:
        return False

    def get_environ_proxies(url: str, no_proxy: str | None = None) -> dict[str, str]:
        env = _environment_key() if ENABLED else None
        if env is None:
            return dict(real(url, no_proxy=no_proxy))
        key = (url, no_proxy, env)
        found = _memo.get(key)
        if found is None:
            found = dict(real(url, no_proxy=no_proxy))
            with _lock:
                if len(_memo) >= _MAX_ENTRIES:
                    _memo.clear()
                _memo[key] = found
        return dict(found)

    get_environ_proxies.__wrapped__ = real  # type: ignore[attr-defined]
    namespace["get_environ_proxies"] = get_environ_proxies
    _installed = True
    return True


def clear() -> None:
    """Forget every answer (tests)."""
    with _lock:
        _memo.clear()
