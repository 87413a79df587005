"""Every PSRP message a lab host sends during sessions and logoff deserialises to the same
values with mpremote.remote.fastpsrp as with pypsrp's own serializer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pypsrp.serializer import Serializer

from mpremote.remote import fastpsrp
from mpremote.remote.connection import Connection, ConnectionSettings, properties
from mpremote.remote.scripts import ACT, QUERY
from mpremote.targets import load_targets
from tests.support.helpers import SECRET, start_lab
from tests.unit.test_fastpsrp import structure

pytestmark = pytest.mark.lab


def test_lab_messages_deserialise_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_cls, _ = fastpsrp._classes()
    seen: list[str] = []
    real = fast_cls.deserialize

    def recording(self: Any, element: Any, metadata: Any = None, clear: bool = True) -> Any:
        if isinstance(element, str):
            seen.append(element)
        return real(self, element, metadata, clear)

    monkeypatch.setattr(fast_cls, "deserialize", recording)
    with start_lab(tmp_path, hosts=1, auth="ntlm", tls=True) as lab:
        assert lab.targets_path is not None
        host = load_targets(lab.targets_path).hosts[0]
        with Connection(host, username=host.username, password=SECRET, settings=ConnectionSettings()) as conn:
            # -NoJson: the objects a host without ConvertTo-Json sends (nested, the shims' hard case).
            query = properties(conn.run_script(QUERY, {"IncludeWms": True, "NoJson": True}).output[0])
            first = next(s for s in query["WmsSessions"] if properties(s).get("UserName"))
            target = {"Id": int(properties(first)["SessionId"]), "UserName": properties(first)["UserName"],
                      "LogonText": ""}  # fmt: skip
            act = {"Action": "logoff", "Backend": "wms", "Targets": [target], "NoJson": True}
            conn.run_script(ACT, act, acting=True)
    monkeypatch.undo()
    assert len(seen) >= 6
    for text in seen:
        assert structure(fast_cls().deserialize(text)) == structure(Serializer().deserialize(text))
