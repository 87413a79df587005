"""quser's character scans (regexes and set operations, not per-character Python) give the
answers of the per-character definitions they replaced, for every code point."""

from __future__ import annotations

import random
import sys
import unicodedata

import pytest

from mpremote import quser, quser_lang
from mpremote.quser_lang import _EVIDENCE, _WESTERN_EVIDENCE, has_mangling_evidence

ALL_CHARS = [chr(cp) for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF]


def test_control_regex_is_unicode_category_cc_for_every_code_point() -> None:
    cc = {c for c in ALL_CHARS if unicodedata.category(c) == "Cc"}
    matched = {c for c in ALL_CHARS if quser._CONTROL_RE.search(c)}
    assert matched == cc


def test_c1_regex_is_the_c1_range_for_every_code_point() -> None:
    matched = {c for c in ALL_CHARS if quser._has_c1(f"ab{c}cd")}
    assert matched == {chr(cp) for cp in range(0x80, 0xA0)}


def test_control_character_in_a_row_is_still_refused() -> None:
    text = " USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME\n"
    row = ">admin                 rdp-tcp#0           2  Active          .  7/26/2018 7:29 PM"
    assert quser.parse_quser(text + row)[0].username == "admin"
    with pytest.raises(quser.QuserParseError, match="control character"):
        quser.parse_quser(text + row.replace("admin", "ad\x07min"))


@pytest.mark.parametrize("language", [None, "en", "fr", "pl", "cs"])
def test_mangling_evidence_matches_the_per_character_definition(language: str | None) -> None:
    evidence = _WESTERN_EVIDENCE if language in quser_lang._WESTERN else _EVIDENCE
    assert all(not c.isascii() for c in _WESTERN_EVIDENCE)  # why the ASCII shortcut is right
    rng = random.Random(17)
    pool = [*"abcXYZ 019#.-_", *_WESTERN_EVIDENCE, *"éèàÉñßøŁœ€\u00a0\u2019", *ALL_CHARS[::997]]
    samples = ["", "plain ascii row", *("".join(rng.choices(pool, k=rng.randint(1, 40))) for _ in range(3000))]
    for text in samples:
        assert has_mangling_evidence(text, language) == any(c in evidence for c in text), repr(text)
