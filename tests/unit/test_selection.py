"""Which sessions an action touches: exact names, protections, combination rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mpremote.selection import Selector, describe, format_duration, parse_duration, parse_session_ref, select
from mpremote.session import Session


def s(
    user: str,
    sid: int,
    state: str = "active",
    idle: timedelta | None = timedelta(0),
    *,
    name: str | None = "rdp-tcp#1",
    current: bool = False,
    domain: str | None = None,
) -> Session:
    return Session(user, name, sid, state, idle, "7/26/2018 7:29 PM", current, domain)


def chosen(sessions: list[Session], selector: Selector, host: str = "mp-101", **kw: str) -> list[int]:
    return [d.session.id for d in select(host, sessions, selector, **kw) if d.selected]


def reasons(sessions: list[Session], selector: Selector, **kw: str) -> dict[int, str]:
    return {d.session.id: d.reason for d in select("mp-101", sessions, selector, **kw)}


LOOKALIKES = [s("ana", 2), s("anabel", 3), s("Ana Maria", 4), s("ana.b", 5), s("mariana", 6), s("ANA", 7, name=None)]


def test_user_names_match_exactly_and_case_insensitively_never_by_substring() -> None:
    assert chosen(LOOKALIKES, Selector(users=("ana",))) == [2, 7]
    assert chosen(LOOKALIKES, Selector(users=("an",))) == []
    assert chosen(LOOKALIKES, Selector(users=("ana*",))) == []
    assert chosen(LOOKALIKES, Selector(users=("ana.",))) == []  # a dot is not a regex wildcard
    assert chosen(LOOKALIKES, Selector(users=("ana maria",))) == [4]


def test_unicode_names_compare_after_nfc_and_casefold() -> None:
    sessions = [s("Jos\u00e9", 2), s("Jose", 3), s("STRASSE", 4)]
    assert chosen(sessions, Selector(users=("jose\u0301",))) == [2]  # decomposed é
    assert chosen(sessions, Selector(users=("straße",))) == [4]  # casefold, not lower


def test_domain_prefix_matches_unknown_or_same_domain_only() -> None:
    sessions = [s("ana", 2), s("ana", 3, domain="SCHOOL"), s("ana", 4, domain="OTHER")]
    assert chosen(sessions, Selector(users=("school\\ANA",))) == [2, 3]
    assert chosen(sessions, Selector(users=("ana",))) == [2, 3, 4]


def test_protected_sessions_survive_all() -> None:
    sessions = [
        s("", 0, name="services"),
        s("svc", 0, name=None),
        s("bob", 1, name="Console"),
        s("WmsShell", 8),
        s("LAB\\WMSSHELL", 9, name=None),
        s("admin", 10, current=True),
        s("", 11),
        s("ana", 12),
    ]
    r = reasons(sessions, Selector(all=True))
    assert chosen(sessions, Selector(all=True)) == [12]
    assert r[1] == "console session" and r[10] == "your own session" and r[11] == "no user name"
    assert "WMSshell" in r[8] and "WMSshell" in r[9] and "session 0" in r[0]
    # naming a protected session explicitly does not help either
    assert chosen(sessions, Selector(users=("wmsshell", "bob"), sessions=(("mp-101", 0),))) == []


def test_operator_account_is_protected_domain_aware() -> None:
    sessions = [s("admin", 2), s("admin", 3, domain="LAB"), s("admin", 4, domain="MP-101"), s("ana", 5)]
    got = chosen(sessions, Selector(all=True), operator_user="Admin", operator_domain="lab")
    assert got == [4, 5]  # a local admin on the host is another account
    assert chosen(sessions, Selector(all=True), operator_user="LAB\\admin") == [4, 5]
    assert reasons(sessions, Selector(all=True), operator_user="admin")[2] == "operator's own account"


def test_idle_unknown_is_never_selected_by_idle_rules() -> None:
    sessions = [s("a", 2, idle=None), s("b", 3, idle=timedelta(hours=2)), s("c", 4, idle=timedelta(minutes=30))]
    sel = Selector(idle_over=timedelta(minutes=30))
    assert chosen(sessions, sel) == [3]  # strictly over
    assert reasons(sessions, sel)[2] == "idle time unknown"
    assert chosen(sessions, Selector(all=True)) == [2, 3, 4]


def test_combination_rules() -> None:
    sessions = [
        s("ana", 2, "disconnected", timedelta(hours=1), name=None),
        s("ana", 3, "active", timedelta(hours=1)),
        s("bo", 4, "disconnected", timedelta(minutes=5), name=None),
        s("cy", 5, "disconnected", timedelta(hours=3), name=None),
        s("teacher", 6, "disconnected", timedelta(hours=9), name=None),
    ]
    # OR within users, AND with state and idle
    assert chosen(sessions, Selector(users=("ana", "bo"), state="disconnected")) == [2, 4]
    assert chosen(sessions, Selector(users=("ana", "bo"), idle_over=parse_duration("30m"))) == [2, 3]
    # filters alone apply to every session
    assert chosen(sessions, Selector(state="disconnected", idle_over=timedelta(minutes=30))) == [2, 5, 6]
    # refs are OR'd with users, still filtered by state
    sel = Selector(users=("bo",), sessions=(("MP-101", 3), ("mp-102", 5)), state="active")
    assert chosen(sessions, sel) == [3]
    assert chosen(sessions, Selector(sessions=(("mp-101", 5),))) == [5]
    assert chosen(sessions, Selector(sessions=(("mp-101", 5),)), host="mp-102") == []
    # all is still subject to filters and exclusions
    sel = Selector(all=True, state="disconnected", exclude_users=("TEACHER",))
    assert chosen(sessions, sel) == [2, 4, 5]
    assert reasons(sessions, sel)[6] == "excluded user"
    assert reasons(sessions, Selector(users=("zed",)))[2] == "not matched"


def test_empty_selector_selects_nothing() -> None:
    assert Selector().is_empty() and Selector(exclude_users=("x",)).is_empty()
    assert not Selector(state="active").is_empty()
    assert chosen([s("ana", 2)], Selector()) == []


@pytest.mark.parametrize(
    "kwargs",
    [{"state": "activo"}, {"state": "idle"}, {"users": ("",)}, {"users": (" ana",)}, {"users": ("DOM\\",)}],
)
def test_selector_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Selector(**kwargs)  # type: ignore[arg-type]


def test_state_is_normalised() -> None:
    assert Selector(state="Disconnected").state == "disconnected"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("45s", timedelta(seconds=45)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 1H 30M ", timedelta(hours=1, minutes=30)),
        ("0m", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "m", "1.5h", "-5m", "30m1h", "1w", "5 minutes"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ("90m", "2h", "1d", "45s", "1h30m", "1d2h3m4s"):
        assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)
    assert format_duration(timedelta(minutes=90)) == "1h30m"


def test_parse_session_ref() -> None:
    assert parse_session_ref("mp-101:3") == ("mp-101", 3)
    for bad in ("mp-101", ":3", "mp-101:x", "mp-101:-1", "mp-101:"):
        with pytest.raises(ValueError, match="HOST:ID"):
            parse_session_ref(bad)


def test_describe() -> None:
    assert describe(Selector(all=True, exclude_users=("teacher",))) == "all sessions except users teacher"
    sel = Selector(users=("ana", "bo"), state="disconnected", idle_over=timedelta(minutes=30))
    assert describe(sel) == "disconnected sessions idle over 30m of users ana, bo"
    assert describe(Selector(state="disconnected")) == "all disconnected sessions"
    assert describe(Selector(sessions=(("mp-101", 3),))) == "sessions mp-101:3"
    assert describe(Selector(users=("ana",), sessions=(("mp-101", 3),))) == "sessions of users ana or mp-101:3"
    assert describe(Selector()) == "no sessions"
