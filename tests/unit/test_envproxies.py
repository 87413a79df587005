"""mpremote.remote.envproxies answers as requests does, for every environment, and sees changes."""

from __future__ import annotations

import hashlib
import inspect
import sys

import pytest
import requests.sessions
import requests.utils

from mpremote.remote import envproxies

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the memo is Linux-only")

#: The requests code the memo stands in for (requests 2.x). A change here: check the memo's
#: key (URL, no_proxy, environment) still covers every input, then update the hashes.
PINNED = {
    "get_environ_proxies": (requests.utils.get_environ_proxies, "3014296c48e912d8"),
    "should_bypass_proxies": (requests.utils.should_bypass_proxies, "154f39d3a3df9396"),
    "Session.merge_environment_settings": (requests.sessions.Session.merge_environment_settings, "a8b1ebe6caf46b2e"),
}

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
              "ALL_PROXY", "REQUEST_METHOD", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # fmt: skip

ENVIRONMENTS: list[dict[str, str]] = [
    {},
    {"https_proxy": "http://proxy.example:3128"},
    {"HTTPS_PROXY": "http://upper.example:8080", "http_proxy": "http://lower.example:3128"},
    {"https_proxy": "http://proxy.example:3128", "no_proxy": "127.0.0.1,localhost"},
    {"https_proxy": "http://proxy.example:3128", "NO_PROXY": "10.0.0.0/8,.school.example"},
    {"all_proxy": "socks5://s.example:1080", "no_proxy": "*"},
    {"https_proxy": "http://proxy.example:3128", "no_proxy": "mp-01.school.example:5986"},
    {"HTTP_PROXY": "http://cgi.example", "REQUEST_METHOD": "GET"},  # CGI: urllib ignores HTTP_PROXY
]

URLS = [
    "https://127.0.0.1:5986/wsman",
    "https://10.1.2.3:5986/wsman",
    "http://mp-01.school.example:5985/wsman",
    "https://mp-01.school.example:5986/wsman",
    "https://[::1]:5986/wsman",
    "https://other.example/wsman",
]


@pytest.mark.parametrize("name", sorted(PINNED))
def test_requests_source_is_the_one_checked(name: str) -> None:
    fn, digest = PINNED[name]
    assert hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16] == digest


@pytest.fixture
def memo(monkeypatch: pytest.MonkeyPatch) -> object:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    assert envproxies.install()
    envproxies.clear()
    yield requests.sessions.get_environ_proxies
    envproxies.clear()


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: ",".join(sorted(e)) or "none")
def test_memo_answers_as_requests_for_each_environment(memo, monkeypatch: pytest.MonkeyPatch, env) -> None:  # type: ignore[no-untyped-def]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for url in URLS:
        for no_proxy in (None, "127.0.0.1", "other.example"):
            expected = requests.utils.get_environ_proxies(url, no_proxy=no_proxy)
            assert memo(url, no_proxy=no_proxy) == expected, (url, no_proxy)
            assert memo(url, no_proxy=no_proxy) == expected, (url, no_proxy)  # from the memo


def test_a_changed_environment_is_a_new_answer(memo, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    url = "https://mp-01.school.example:5986/wsman"
    assert memo(url) == {}
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    assert memo(url) == {"https": "http://proxy.example:3128"}
    monkeypatch.setenv("no_proxy", ".school.example")
    assert memo(url) == {}
    monkeypatch.delenv("no_proxy")
    answer = memo(url)
    answer["https"] = "mutated by a caller"
    assert memo(url) == {"https": "http://proxy.example:3128"}  # callers get copies


def test_a_session_built_by_pypsrp_gets_the_environments_proxy(memo, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from pypsrp.wsman import WSMan

    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    for expected in ("http://proxy.example:3128", "http://second.example:3128"):
        monkeypatch.setenv("https_proxy", expected)
        wsman = WSMan("mp-01.school.example", username="u", password="p", ssl=True, auth="ntlm")
        assert wsman.transport._build_session().proxies == {"https": expected}


def test_switched_off_it_keeps_nothing(memo, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(envproxies, "ENABLED", False)
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    url = "https://other.example/wsman"
    assert memo(url) == requests.utils.get_environ_proxies(url) == {"https": "http://proxy.example:3128"}
    assert not envproxies._memo
