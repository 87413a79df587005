"""The PSRP <-> host-model bridge: what a pipeline carries in, and how a PipelineResult
comes back to an unmodified pypsrp client (output, error stream, exit code, failure).

A stand-in host model records what it was given, so these tests pin the network layer's
side of the contract independently of the real host model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pypsrp.exceptions import WSManFaultError
from pypsrp.host import PSHost
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool
from pypsrp.wsman import WSMan

from mpremote.lab.contract import CommandSpec, ErrorSpec, PipelineResult
from mpremote.lab.server import Lab, LabError, LabOptions
from mpremote.lab.soap import WSMAN_OPERATION_TIMEOUT

pytestmark = pytest.mark.lab


class RecordingHost:
    """Answers by script text; remembers every pipeline it ran."""

    def __init__(self, spec: Any, journal: Any, operator: str) -> None:
        self.name = spec.name
        self.journal = journal
        self.seen: list[tuple[list[CommandSpec], str]] = []

    def run_pipeline(self, commands: list[CommandSpec], *, operator: str) -> PipelineResult:
        self.seen.append((commands, operator))
        text = commands[0].text
        if text == "echo":
            return PipelineResult(output=[{str(n): v for n, v in commands[0].parameters}])
        if text == "exit 3":
            return PipelineResult(output=["bye"], should_exit=3)
        if text == "partly":
            return PipelineResult(output=["before"], errors=[ErrorSpec("Error [5]: Access is denied.", category=18)])
        if text == "boom":
            return PipelineResult(failure=ErrorSpec("The term 'boom' is not recognized."))
        if text == "logoff 3":
            self.journal({"event": "logoff", "id": 3, "username": "ana"})
            return PipelineResult()
        if text == "crash":
            raise RuntimeError("model bug")
        return PipelineResult(output=[len(text)])


@pytest.fixture
def lab(tmp_path: Path) -> Any:
    opts = LabOptions(hosts=2, auth="ntlm", tls=True, journal=tmp_path / "journal.jsonl")
    with Lab(opts, model_factory=RecordingHost) as lab:
        yield lab


def pool_for(lab: Lab, name: str = "mp-lab-001", **kw: Any) -> RunspacePool:
    return RunspacePool(WSMan(**lab.wsman_kwargs(name)), **kw)


def test_parameters_arrive_as_values_not_text(lab: Lab) -> None:
    with pool_for(lab) as pool:
        ps = PowerShell(pool)
        ps.add_script("echo").add_parameter("User", "Ana Belén; logoff *").add_parameter("Ids", [3, 140])
        ps.add_parameter("Force", True)
        out = ps.invoke()
    assert out == [{"User": "Ana Belén; logoff *", "Ids": [3, 140], "Force": True}]
    commands, operator = lab.host("mp-lab-001").model.seen[-1]
    assert (commands[0].text, commands[0].is_script, operator) == ("echo", True, "labadmin")


def test_should_exit_reaches_the_client_host(lab: Lab) -> None:
    host = PSHost(None, None, False, "test", None, None, "1.0")
    with pool_for(lab, host=host) as pool:
        ps = PowerShell(pool)
        ps.add_script("exit 3")
        assert ps.invoke() == ["bye"]
    assert host.rc == 3


def test_non_terminating_errors_land_in_the_error_stream(lab: Lab) -> None:
    with pool_for(lab) as pool:
        ps = PowerShell(pool)
        ps.add_script("partly")
        assert ps.invoke() == ["before"]
        assert not ps.had_errors
        assert [str(e) for e in ps.streams.error] == ["Error [5]: Access is denied."]


def test_a_terminating_error_fails_the_pipeline(lab: Lab) -> None:
    with pool_for(lab) as pool:
        ps = PowerShell(pool)
        ps.add_script("boom")
        ps.invoke()
        assert ps.state == PSInvocationState.FAILED and ps.had_errors
        assert "not recognized" in str(ps.streams.error[0])
        # the pool survives a failed pipeline
        ps = PowerShell(pool)
        ps.add_script("echo").add_parameter("x", 1)
        assert ps.invoke() == [{"x": 1}]


def test_a_host_model_bug_is_a_failed_pipeline_not_a_dead_lab(lab: Lab) -> None:
    with pool_for(lab) as pool:
        ps = PowerShell(pool)
        ps.add_script("crash")
        ps.invoke()
        assert ps.had_errors
    assert run_length(lab, "x") == [1]


def run_length(lab: Lab, script: str) -> list[Any]:
    with pool_for(lab, "mp-lab-002") as pool:
        ps = PowerShell(pool)
        ps.add_script(script)
        return ps.invoke()


def test_a_script_larger_than_one_envelope_arrives_whole(lab: Lab) -> None:
    """pypsrp splits it into Command + Send fragments; the host model sees one script."""
    script = "# " + "x" * 700_000
    assert run_length(lab, script) == [len(script)]


def test_several_statements_reach_the_model_as_one_pipeline(lab: Lab) -> None:
    with pool_for(lab) as pool:
        ps = PowerShell(pool)
        ps.add_script("quser").add_statement().add_script("exit $LASTEXITCODE")
        ps.invoke()
    commands, _ = lab.host("mp-lab-001").model.seen[-1]
    assert [c.text for c in commands] == ["quser", "exit $LASTEXITCODE"]


def test_receive_with_nothing_to_say_answers_operation_timeout(lab: Lab) -> None:
    """The WSMan long-poll: after OperationTimeout the client gets the fault it retries on."""
    with pool_for(lab) as pool:
        with pytest.raises(WSManFaultError) as err:
            pool._receive(timeout=1)
        assert err.value.code == WSMAN_OPERATION_TIMEOUT


def test_pool_size_changes_are_acknowledged(lab: Lab) -> None:
    with pool_for(lab) as pool:
        pool.max_runspaces = 4
        assert pool.max_runspaces == 4
        assert pool.get_available_runspaces() == 4


def test_journal_lines_are_json_with_the_documented_fields(lab: Lab) -> None:
    with pool_for(lab) as pool:
        ps = PowerShell(pool)
        ps.add_script("echo").add_parameter("User", "ana")
        ps.invoke()
        ps = PowerShell(pool)
        ps.add_script("logoff 3")
        ps.invoke()
    lab.stop()
    lines = Path(lab.options.journal or "").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert all({"ts", "host", "event"} <= e.keys() for e in events)
    http = [e for e in events if e["event"] == "http"]
    assert [e["action"] for e in http] == ["Create", "Receive", "Command", "Receive", "Command", "Receive", "Delete"]
    assert all(isinstance(e["bytes"], int) and e["bytes"] > 0 for e in http)
    pipelines = [e for e in events if e["event"] == "pipeline"]
    assert pipelines[0]["script"] == "echo" and pipelines[0]["parameters"] == {"User": "ana"}
    logoffs = [e for e in events if e["event"] == "logoff"]
    assert [(e["id"], e["username"], e["host"]) for e in logoffs] == [(3, "ana", "mp-lab-001")]
    assert all(e["host"] == "mp-lab-001" for e in events)


def test_the_lab_never_listens_beyond_loopback() -> None:
    for address in ("0.0.0.0", "10.1.2.3", "::", "localhost.example"):
        with pytest.raises(LabError, match="loopback"):
            Lab(LabOptions(bind=address)).start()


def test_ipv6_loopback_works() -> None:
    with Lab(LabOptions(hosts=1, bind="::1", auth="basic"), model_factory=RecordingHost) as lab:
        assert lab.hosts[0].address == "::1"
        with pool_for(lab) as pool:
            ps = PowerShell(pool)
            ps.add_script("abc")
            assert ps.invoke() == [3]
