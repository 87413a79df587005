"""The shared in-process fake of the remote layer: a host that answers ``query.ps1`` with
canned quser text and ``act.ps1`` with a scripted outcome (``remote.connection.Connector``)."""

from __future__ import annotations

from typing import Any

from mpremote.hostjob import JobSpec, run_host_job
from mpremote.hosts import Host
from mpremote.remote.connection import Endpoint, ScriptResult

HEADER = " USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME"
ROWS = [
    " WMSshell              console             1  Active          .  7/26/2018 7:00 AM",
    " ana                   rdp-tcp#3           3  Active          .  7/26/2018 7:29 PM",
    " bo                                        4  Disc         1:02  7/26/2018 8:01 PM",
    " labadmin              rdp-tcp#5           5  Active          .  7/26/2018 8:30 PM",
]
HOST = Host(name="mp-1", address="127.0.0.1", username="labadmin")


def query_object(rows: list[str] = ROWS, *, exit_code: int = 0, stderr: str = "") -> dict[str, Any]:
    return {
        "ComputerName": "MP-1",
        "OperatorUser": "labadmin",
        "OperatorDomain": "LAB",
        "QuserStdout": "\n".join([HEADER, *rows]) if rows else "",
        "QuserStderr": stderr,
        "QuserExitCode": exit_code,
        "WmsAvailable": False,
        "WmsSessions": None,
    }


class FakeConnection:
    """Answers query.ps1 with canned quser text and act.ps1 with a scripted outcome."""

    def __init__(self, query: dict[str, Any], act: Any = None) -> None:
        self.query, self.act = query, act
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.endpoint = Endpoint("127.0.0.1", 5986, "https", "ntlm", True, "auto")

    def __call__(self, host: Host, **kwargs: Any) -> FakeConnection:
        return self

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def run_script(self, name: str, params: dict[str, Any], *, acting: bool = False) -> ScriptResult:
        self.calls.append((name, params))
        if name == "query.ps1":
            return ScriptResult([self.query])
        if isinstance(self.act, BaseException):
            raise self.act
        if callable(self.act):
            return ScriptResult(self.act(params))
        return ScriptResult(
            [{"Id": t["Id"], "Outcome": "done", "Denied": False, "Detail": ""} for t in params["Targets"]]
        )


def run(fake: FakeConnection, **spec: Any) -> Any:
    return run_host_job(HOST, JobSpec(**spec), credential=lambda h: ("labadmin", "pw"), connect=fake)


def acted_ids(fake: FakeConnection) -> list[int]:
    return [t["Id"] for name, p in fake.calls if name == "act.ps1" for t in p["Targets"]]
