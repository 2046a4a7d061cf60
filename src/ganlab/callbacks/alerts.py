"""Operator alerts: a dispatcher that sends event records (:mod:`.alert_events`) to sinks (log,
command, webhook: :mod:`.alert_sinks`) from background threads. The callbacks that raise
events during training are in :mod:`ganlab.callbacks.monitoring` (and
:mod:`ganlab.callbacks.gradients`).

An event is one JSON object::

    {"event": "nonfinite", "message": "...", "run_dir": "/abs/run", "step": 1200,
     "epoch": 3, "time": "2025-01-31T12:00:00+00:00", "details": {...}}

``step`` is the run's own generator step counter (``SRGANModule.step_count``). Training never
waits for a sink: :meth:`AlertDispatcher.alert` only puts the event on a queue, each sink has
its own daemon thread, and a failing sink is logged, never raised.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ganlab._lightning import pl, rank_zero_only
from ganlab.callbacks.alert_events import AlertDeliveryError, Event, encode_event, make_event
from ganlab.callbacks.alert_sinks import AlertSink, CommandSink, LogSink, WebhookSink

log = logging.getLogger(__name__)

__all__ = [  # events and sinks live in modules of their own and are importable from here too
    "AlertDeliveryError",
    "AlertDispatcher",
    "AlertSink",
    "CommandSink",
    "Event",
    "LogSink",
    "WebhookSink",
    "encode_event",
    "make_event",
    "training_position",
]

# ------------------------------------------------------------------------------- dispatcher


class _SinkWorker:
    """One sink's queue and daemon thread, so a slow sink delays no other."""

    def __init__(self, sink: AlertSink) -> None:
        self.sink = sink
        self.queue: queue.Queue[Event | None] = queue.Queue()
        self.thread = threading.Thread(
            target=self._run, name=f"ganlab-alerts-{sink.name}", daemon=True
        )
        self.thread.start()

    def _run(self) -> None:
        while (event := self.queue.get()) is not None:
            try:
                self.sink.send(event)
            except Exception as error:
                log.warning(
                    "alert %r not delivered by the %s sink: %s",
                    event["event"],
                    self.sink.name,
                    error,
                )


class AlertDispatcher:
    """Sends alert events to sinks without ever blocking the caller.

    :meth:`alert` puts the event on each sink's queue and returns; one daemon thread per sink
    delivers it. Failures are logged as warnings. :meth:`close` waits, for a bounded time, until
    what was queued is delivered; the dispatcher can be used again afterwards (new threads
    start on the next alert). Only the process of global rank zero sends.

    Args:
        sinks: Where events go (:class:`LogSink`, :class:`CommandSink`, :class:`WebhookSink` or
            any :class:`AlertSink`).
        run_dir: The run folder, reported in every event.
        events: Event names that are sent; others are dropped. None: all.
        max_pending: Events queued per sink beyond which new ones are dropped (with a warning),
            so a dead sink cannot make memory grow.
        rank_zero_only: Send only from the process of global rank zero.

    Example:
        >>> dispatcher = AlertDispatcher([LogSink()], run_dir="runs/demo")
        >>> dispatcher.alert("exception", "something broke", step=10, epoch=0)
        True
        >>> dispatcher.close()
        True
    """

    def __init__(
        self,
        sinks: Sequence[AlertSink],
        run_dir: str | Path | None = None,
        events: Iterable[str] | None = None,
        max_pending: int = 1000,
        rank_zero_only: bool = True,
    ) -> None:
        self.sinks = list(sinks)
        self.run_dir = None if run_dir is None else Path(run_dir).absolute()
        self.events = None if events is None else frozenset(events)
        self.max_pending = max_pending
        self.rank_zero_only = rank_zero_only
        self._workers: list[_SinkWorker] = []
        self._lock = threading.Lock()

    @property
    def close_timeout_s(self) -> float:
        """Default wait of :meth:`close`: the slowest sink's worst case for one event."""
        return max((sink.max_duration_s for sink in self.sinks), default=0.0) + 0.5

    def wants(self, event: str) -> bool:
        """Whether ``event`` would be sent from this process."""
        if not self.sinks or (self.events is not None and event not in self.events):
            return False
        return not self.rank_zero_only or _global_rank() == 0

    def alert(
        self,
        event: str,
        message: str,
        *,
        step: int | None = None,
        epoch: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> bool:
        """Queue an event for every sink; returns whether it was queued (False when the event
        is not selected, on other ranks than zero, or when every queue is full)."""
        if not self.wants(event):
            return False
        record = make_event(
            event, message, run_dir=self.run_dir, step=step, epoch=epoch, details=details
        )
        queued = False
        with self._lock:
            if not self._workers:
                self._workers = [_SinkWorker(sink) for sink in self.sinks]
            for worker in self._workers:
                if worker.queue.qsize() >= self.max_pending:
                    log.warning(
                        "alert %r dropped: %d events already wait for the %s sink",
                        event,
                        self.max_pending,
                        worker.sink.name,
                    )
                    continue
                worker.queue.put(record)
                queued = True
        return queued

    def close(self, timeout_s: float | None = None) -> bool:
        """Wait until queued events are delivered, at most ``timeout_s`` seconds in total
        (default :attr:`close_timeout_s`); returns whether everything was delivered. Sinks
        still busy afterwards keep running on their daemon threads, which do not keep the
        process alive."""
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.queue.put(None)
        deadline = time.monotonic() + (self.close_timeout_s if timeout_s is None else timeout_s)
        for worker in workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))
        late = [worker.sink.name for worker in workers if worker.thread.is_alive()]
        if late:
            log.warning(
                "alerts: gave up waiting for the %s sink(s) after %.1f s; undelivered events "
                "are dropped",
                ", ".join(late),
                self.close_timeout_s if timeout_s is None else timeout_s,
            )
        return not late

    def __enter__(self) -> AlertDispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # threads and locks do not pickle (spawned DDP processes get a copy without them)
        state = self.__dict__.copy()
        state["_workers"] = []
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _global_rank() -> int:
    return int(getattr(rank_zero_only, "rank", 0) or 0)


def training_position(trainer: pl.Trainer, pl_module: pl.LightningModule) -> tuple[int, int]:
    """``(step, epoch)`` for an event: the module's own generator step counter when it has one
    (:class:`ganlab.engine.SRGANModule`), else Lightning's ``global_step``."""
    step = getattr(pl_module, "step_count", None)
    if not isinstance(step, int):
        step = trainer.global_step
    return step, trainer.current_epoch
