"""quser's "No User exists for *": the only failure that confirms a log-off, per language,
and the lab printing exactly the sourced texts (docs/lab.md lists sources and doubts)."""

from __future__ import annotations

import pytest

from mpremote.lab.locales import get_locale
from mpremote.quser import is_last_session_gone
from mpremote.quser_lang import NO_USER_TEXTS


@pytest.mark.parametrize(
    ("stderr", "code", "gone"),
    [
        ("No User exists for *", 1, True),
        ("No User exists for *\r\n", 1, True),
        ("  No  User exists for *", 1, True),  # spacing aside
        ("No User exists for *", 0, False),  # quser succeeded: the rows decide
        ("Error 0x000006BA enumerating sessionnames\nError [1722]:The RPC server is unavailable.", 1, False),
        ("Error [5]:Access is denied.", 1, False),
        ("No User exists for * (and then something else)", 1, False),
        ("", 1, False),
    ],
)
def test_only_the_exact_no_user_text_proves_the_last_session_gone(stderr: str, code: int, gone: bool) -> None:
    assert is_last_session_gone(stderr, code) is gone


def test_the_lab_prints_the_sourced_english_text() -> None:
    assert get_locale("en-US").no_user.format(target="*") in NO_USER_TEXTS["en"]


@pytest.mark.parametrize("locale", ["es-ES", "de-DE", "fr-FR", "it-IT"])
def test_unverified_lab_texts_are_not_taken_as_proof(locale: str) -> None:
    """The lab's other texts are reconstructions (docs/lab.md): a host in those languages
    reports the last log-off unconfirmed rather than guessed done."""
    text = get_locale(locale).no_user.format(target="*")
    assert text and not is_last_session_gone(text, 1)
