"""The gateway's result hashes wait (``RESULTS_DELAY_SECONDS``) so that more go in one request,
and go at once when the gateway stops: the delay never delays an exit, and a clean exit loses
none. In process, with the tests' upstream over stdio and HESO's two batch requests answered by
a stand-in (the routes themselves are tested in tests/execution/test_batches.py)."""

from __future__ import annotations

from typing import Any

import anyio

from heso.integrations.mcp import proxy
from heso.integrations.mcp.heso_api import Heso
from tests.integrations.mcp.conftest import stdio_upstream


class Recording(Heso):
    """Allows every call; keeps every batch of result hashes."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9", "unused")
        self.recorded: list[list[dict[str, Any]]] = []

    async def authorize_tools(self, calls: list[dict[str, Any]]) -> list[Any]:
        return [{"decision": "allow", "execution_id": call["call_id"]} for call in calls]

    async def record_results(self, results: list[dict[str, Any]]) -> list[Any]:
        self.recorded.append(results)
        return [{"execution_id": result["execution_id"]} for result in results]


def test_hashes_wait_together_and_go_at_once_on_exit(monkeypatch):
    monkeypatch.setattr(proxy, "RESULTS_DELAY_SECONDS", 3600)  # far longer than the test's deadline
    heso = Recording()
    gateway = proxy.Gateway(heso)

    async def test() -> None:
        with anyio.fail_after(60):  # waiting out the delay on exit would miss this
            async with proxy.running(gateway, {"up": stdio_upstream()}):
                async with anyio.create_task_group() as calls:
                    for number in range(5):
                        calls.start_soon(gateway.call, None, "up__echo", {"text": f"call {number}"})
                assert heso.recorded == []  # every call answered; the hashes are waiting
        assert [len(batch) for batch in heso.recorded] == [5]  # one request for the five, on exit

    anyio.run(test)


def test_every_hash_goes_once_whatever_the_windows_and_a_failed_request_is_logged(monkeypatch, capfd):
    monkeypatch.setattr(proxy, "RESULTS_DELAY_SECONDS", 0)  # a window per turn of the loop, or so

    class Failing(Recording):
        async def record_results(self, results: list[dict[str, Any]]) -> list[Any]:
            if not self.recorded:  # the first request fails (HESO down a moment), later ones pass
                self.recorded.append([])
                raise ConnectionError("HESO is down")
            return await super().record_results(results)

    heso = Failing()
    gateway = proxy.Gateway(heso)
    call_ids = []

    async def test() -> None:
        with anyio.fail_after(60):
            async with proxy.running(gateway, {"up": stdio_upstream()}):
                for number in range(6):  # one after another: each may open a window of its own
                    await gateway.call(None, "up__echo", {"text": f"call {number}"})
                async with anyio.create_task_group() as calls:
                    for number in range(6, 12):
                        calls.start_soon(gateway.call, None, "up__echo", {"text": f"call {number}"})
        call_ids.extend(item["execution_id"] for batch in heso.recorded for item in batch)

    anyio.run(test)
    failed = capfd.readouterr().err.count("could not record the result of mcp-")
    assert failed >= 1 and len(call_ids) + failed == 12  # each hash sent: recorded, or its failure logged
    assert len(set(call_ids)) == len(call_ids)  # none twice
