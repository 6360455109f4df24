"""An asyncio event loop running in a background thread, for synchronous facades.

Synchronous callers (the test driver, experiment scripts, the CLI) submit coroutines with
:meth:`LoopThread.call` and block until they finish; the connections those coroutines open
live on the loop between calls. Interrupting the caller (Ctrl-C) cancels the coroutine.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from nxc.errors import TransportError

T = TypeVar("T")


class LoopThread:
    """A daemon thread running one event loop until :meth:`stop`."""

    def __init__(self, name: str = "nxc-transport") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def running(self) -> bool:
        """Whether the loop's thread still runs (False once stopped)."""
        return self._thread.is_alive()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and return its result (or raise its exception)."""
        if not self.running:
            coroutine.close()
            raise TransportError("the transport is closed; open a new one")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what is left on the loop, stop it and join the thread (idempotent)."""
        if not self.running:
            return

        async def cancel_pending() -> None:
            current = asyncio.current_task()
            pending = [task for task in asyncio.all_tasks() if task is not current]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self._loop.shutdown_default_executor()

        try:
            asyncio.run_coroutine_threadsafe(cancel_pending(), self._loop).result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._loop.close()
