"""The part of the PowerShell language the lab's interpreter understands, and its control flow.

``parse_script`` splits script text into statements, pipeline elements and tokens (quotes,
backtick escapes, comments, ``&`` calls, redirections); the exceptions are how a statement,
a pipeline or a script ends (PowerShell's statement-terminating and terminating errors,
non-terminating errors beside output, ``exit N``). Shared by the interpreter
(``interpreter.py``) and the cmdlets it runs (``cmdlets.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mpremote.lab import contract


@dataclass
class Tok:
    kind: str  # word | sq (single-quoted) | dq (double-quoted) | call | redir
    text: str


class StatementError(Exception):
    """Ends the current statement (PowerShell's statement-terminating error)."""

    def __init__(self, spec: contract.ErrorSpec) -> None:
        super().__init__(spec.message)
        self.spec = spec


class ScriptStop(Exception):
    """Ends the whole pipeline: a terminating error (-ErrorAction Stop)."""

    def __init__(self, spec: contract.ErrorSpec) -> None:
        super().__init__(spec.message)
        self.spec = spec


class PartialOutput(Exception):
    """A cmdlet produced output for some inputs and non-terminating errors for others."""

    def __init__(self, output: list[Any], errors: list[contract.ErrorSpec]) -> None:
        super().__init__(errors[0].message)
        self.output = output
        self.errors = errors


class ExitRequested(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def ps_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def parse_script(text: str) -> list[list[list[Tok]]]:
    """Script text -> statements -> pipeline elements -> tokens."""
    statements: list[list[list[Tok]]] = []
    element: list[Tok] = []
    pipeline: list[list[Tok]] = []
    buf: list[str] = []
    i, n = 0, len(text)

    def flush_word() -> None:
        if buf:
            word = "".join(buf)
            buf.clear()
            is_redir = re.fullmatch(r"[\d*]?>>?(&\d|\$null)?", word)
            element.append(Tok("redir" if is_redir else "word", word))

    def end_element() -> None:
        flush_word()
        if element:
            pipeline.append(element.copy())
            element.clear()

    def end_statement() -> None:
        end_element()
        if pipeline:
            statements.append(pipeline.copy())
            pipeline.clear()

    while i < n:
        c = text[i]
        if c in " \t":
            flush_word()
        elif c in ";\n\r":
            end_statement()
        elif c == "#" and not buf:
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif c == "|":
            end_element()
        elif c == "&" and not buf and not element:
            element.append(Tok("call", "&"))
        elif c == "`" and i + 1 < n:
            i += 1
            if text[i] != "\n":
                buf.append(text[i])
        elif c in "'\"" and not buf:
            quote, j, out = c, i + 1, []
            while j < n:
                if text[j] == quote and j + 1 < n and text[j + 1] == quote:
                    out.append(quote)
                    j += 2
                elif text[j] == quote:
                    break
                elif quote == '"' and text[j] == "`" and j + 1 < n:
                    out.append({"n": "\n", "t": "\t", "r": "\r", "0": "\0"}.get(text[j + 1], text[j + 1]))
                    j += 2
                else:
                    out.append(text[j])
                    j += 1
            element.append(Tok("sq" if quote == "'" else "dq", "".join(out)))
            i = j + 1
            continue
        else:
            buf.append(c)
        i += 1
    end_statement()
    return statements
