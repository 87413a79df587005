"""The PowerShell sent to hosts parses with a real PowerShell grammar and uses nothing newer
than Windows PowerShell 3.0 (the oldest version the project supports: Server 2012).

The grammar is tree-sitter-powershell (PyPI); it parses PowerShell 7 too, so the constructs
that later versions added are refused here by name: ``[T]::new()``, classes and enums,
``using`` statements (5.0), ``.ForEach()``/``.Where()`` methods and ``-PipelineVariable``
(4.0), ternaries, ``??``/``??=``, ``?.`` and ``&&``/``||`` pipeline chains (7.0).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import tree_sitter
import tree_sitter_powershell

from mpremote.remote.scripts import SCRIPTS as SENT
from mpremote.remote.scripts import script_text

#: Every packaged .ps1 file: the scripts and the fragments they include, each on its own.
SCRIPTS = sorted(
    p.name for p in resources.files("mpremote.remote").joinpath("scripts").iterdir() if p.name.endswith(".ps1")
)


def parse(source: str) -> Any:
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    return parser.parse(source.encode("utf-8")).root_node


def nodes(node: Any) -> list[Any]:
    out = [node]
    for child in node.children:
        out.extend(nodes(child))
    return out


def newer_than_3(source: str) -> list[str]:
    """What in ``source`` Windows PowerShell 3.0 cannot run (empty: nothing)."""
    found = []
    for n in nodes(parse(source)):
        text = n.text.decode("utf-8", "replace")
        line = n.start_point[0] + 1
        if n.type == "ERROR" or n.is_missing:
            found.append(f"line {line}: not PowerShell ({text[:40]!r})")
        elif n.type in ("class_statement", "enum_statement"):
            found.append(f"line {line}: {n.type} (PowerShell 5.0)")
        elif n.type in ("&&", "||"):
            found.append(f"line {line}: pipeline chain {n.type} (PowerShell 7)")
        elif n.type == "invokation_expression":
            member = next((c for c in n.children if c.type == "member_name"), None)
            name = member.text.decode().lower() if member is not None else ""
            if name == "new" and any(c.type == "::" for c in n.children):
                found.append(f"line {line}: [T]::new() (PowerShell 5.0)")
            elif name in ("foreach", "where") and any(c.type == "." for c in n.children):
                found.append(f"line {line}: .{name}() method (PowerShell 4.0)")
        elif n.type == "command_name" and text.lower() == "using" and n.start_point[1] == 0:
            found.append(f"line {line}: using statement (PowerShell 5.0)")
        elif n.type == "command_parameter" and text.lower() in ("-pipelinevariable", "-pv"):
            found.append(f"line {line}: -PipelineVariable (PowerShell 4.0)")
    return found


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_parses_and_needs_nothing_newer_than_powershell_3(name: str) -> None:
    source = resources.files("mpremote.remote").joinpath("scripts", name).read_text(encoding="utf-8")
    assert newer_than_3(source) == []


@pytest.mark.parametrize("name", SENT)
def test_composed_script_as_sent_parses_and_needs_nothing_newer_than_powershell_3(name: str) -> None:
    source = script_text(name)
    assert "# mpremote:include" not in source  # every fragment was put in place
    assert newer_than_3(source) == []


def test_both_scripts_are_checked() -> None:
    assert {"query.ps1", "act.ps1", "quser.ps1", "result.ps1"} <= set(SCRIPTS)
    assert set(SENT) == {"query.ps1", "act.ps1"}


@pytest.mark.parametrize("name", SENT)
def test_shared_functions_are_defined_once_in_the_composed_script(name: str) -> None:
    source = script_text(name).lower()
    for function in ("function invoke-quser", "function write-result"):
        assert source.count(function) == 1, f"{name}: {function}"


@pytest.mark.parametrize(
    ("snippet", "why"),
    [
        ("$sb = [System.Text.StringBuilder]::new()", "::new()"),
        ("class Row { [int]$Id }", "class_statement"),
        ("enum Kind { Quser }", "enum_statement"),
        ("using namespace System.Text", "using statement"),
        ("$a = $b ? 1 : 2", "not PowerShell"),
        ("$a = $b ?? 2", "not PowerShell"),
        ("$a ??= 2", "not PowerShell"),
        ("${a}?.Length", "not PowerShell"),
        ("quser && logoff 1", "pipeline chain"),
        ("quser || logoff 1", "pipeline chain"),
        ("$ids.ForEach({ $_ })", "not PowerShell"),  # this grammar reads .ForEach( as an error
        ("$ids.Where({ $_ -gt 1 })", ".where()"),
        ("Get-Process -PipelineVariable p | Out-Null", "-PipelineVariable"),
        ("if ($x { }", "not PowerShell"),
    ],
)
def test_newer_or_broken_syntax_is_refused(snippet: str, why: str) -> None:
    found = newer_than_3(snippet)
    assert found and why in found[0]


@pytest.mark.parametrize(
    "snippet",
    [
        "[PSCustomObject]@{ A = 1 }",
        "$x = [Math]::Min(1, 2)",
        "$p = New-Object System.Diagnostics.ProcessStartInfo",
        "$out -split \"`r?`n\" | Where-Object { $_ -ne '' }",
        "$v = $(if ($a) { 1 } else { 2 })",
        "& quser @Arguments 2>&1 | ForEach-Object { $_ }",
    ],
)
def test_powershell_3_syntax_passes(snippet: str) -> None:
    assert newer_than_3(snippet) == []


# --- our scripts' MultiPoint calls against Microsoft's reference (module MultiPoint) ----------

#: Parameter sets as the reference documents them: each set's mandatory parameters, and the
#: optional ones every set accepts. Lock-WmsSession's -Message is mandatory in both sets.
WMS_REFERENCE = {
    "get-wmssession": ([{"sessionid"}, {"all"}], {"thumbnail", "server"}),
    "close-wmssession": ([{"sessionid"}, {"all"}], {"server", "whatif", "confirm"}),
    "disconnect-wmssession": ([{"sessionid"}, {"all"}], {"server", "whatif", "confirm"}),
    # Lock-/Unlock-WmsSession document neither -WhatIf nor -Confirm.
    "lock-wmssession": ([{"sessionid", "message"}, {"all", "message"}], {"server"}),
    "unlock-wmssession": ([{"sessionid"}, {"all"}], {"server"}),
}
COMMON = {"erroraction", "errorvariable", "warningaction", "verbose", "debug", "outvariable"}


def wms_calls(source: str) -> list[tuple[int, str, set[str]]]:
    calls = []
    for n in nodes(parse(source)):
        if n.type != "command":
            continue
        name = next((c for c in n.children if c.type == "command_name"), None)
        if name is None or name.text.decode().lower() not in WMS_REFERENCE:
            continue
        params = {x.text.decode().lstrip("-").lower() for x in nodes(n) if x.type == "command_parameter"}
        calls.append((n.start_point[0] + 1, name.text.decode().lower(), params))
    return calls


@pytest.mark.parametrize("name", SENT)
def test_multipoint_calls_match_the_documented_signatures(name: str) -> None:
    source = script_text(name)
    for line, cmdlet, params in wms_calls(source):
        sets, optional = WMS_REFERENCE[cmdlet]
        used = params - COMMON
        fits = [s for s in sets if s <= used and used <= s | optional]
        assert len(fits) == 1, f"{name}:{line}: {cmdlet} with {sorted(params)} fits no documented parameter set"
        if cmdlet in ("close-wmssession", "disconnect-wmssession"):
            assert "confirm" in params, f"{name}:{line}: {cmdlet} must say -Confirm:$false (nobody can answer a prompt)"


def test_the_signature_check_sees_the_calls() -> None:
    source = script_text("act.ps1")
    assert {c for _, c, _ in wms_calls(source)} >= {"get-wmssession", "close-wmssession", "disconnect-wmssession"}
    assert wms_calls("Close-WmsSession -Id 3")[0][2] == {"id"}  # and would refuse this one
