"""The shared tokio runtime, seen from Python: sync calls and coroutines use the same one."""

from __future__ import annotations

import asyncio
import threading

from chef_sync import _chef_sync


def test_sync_call_runs_on_the_shared_runtime() -> None:
    assert _chef_sync._runtime_thread_name() == "chef-sync-rt"
    # Reused, not rebuilt: a second call works the same (warm Lambda invocations).
    assert _chef_sync._runtime_thread_name() == "chef-sync-rt"


def test_async_variant_runs_on_the_same_runtime() -> None:
    async def main() -> list[str]:
        return list(
            await asyncio.gather(*(_chef_sync._runtime_thread_name_async() for _ in range(3)))
        )

    assert asyncio.run(main()) == ["chef-sync-rt"] * 3


def test_sync_calls_from_many_python_threads() -> None:
    results: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        name = _chef_sync._runtime_thread_name()
        with lock:
            results.append(name)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["chef-sync-rt"] * 8
