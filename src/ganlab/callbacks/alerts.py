"""Operator alerts: event records, sinks (log, command, webhook) and a dispatcher that sends
them from background threads. The callbacks that raise events during training are in
:mod:`ganlab.callbacks.monitoring` (and :mod:`ganlab.callbacks.gradients`).

An event is one JSON object::

    {"event": "nonfinite", "message": "...", "run_dir": "/abs/run", "step": 1200,
     "epoch": 3, "time": "2025-01-31T12:00:00+00:00", "details": {...}}

``step`` is the run's own generator step counter (``SRGANModule.step_count``). Training never
waits for a sink: :meth:`AlertDispatcher.alert` only puts the event on a queue, each sink has
its own daemon thread, and a failing sink is logged, never raised.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ganlab._lightning import pl

log = logging.getLogger(__name__)

Event = dict[str, Any]


# ----------------------------------------------------------------------------------- events


def make_event(
    event: str,
    message: str,
    *,
    run_dir: str | Path | None = None,
    step: int | None = None,
    epoch: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> Event:
    """An alert record with the time of the call (ISO 8601, UTC, seconds)."""
    return {
        "event": event,
        "message": message,
        "run_dir": None if run_dir is None else str(run_dir),
        "step": step,
        "epoch": epoch,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "details": _jsonable(dict(details or {})),
    }


def encode_event(event: Event) -> bytes:
    """The event as UTF-8 JSON (strict: non-finite numbers become strings such as ``"nan"``)."""
    return json.dumps(_jsonable(event), ensure_ascii=False).encode("utf-8")


def _jsonable(value: Any) -> Any:
    """``value`` with tensors as numbers, non-finite floats as strings, paths as strings."""
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


class AlertDeliveryError(RuntimeError):
    """A sink could not deliver an event (logged by the dispatcher, never raised into training)."""


# ------------------------------------------------------------------------------------ sinks


class AlertSink:
    """Where alert events go.

    :meth:`send` runs on a background thread of the :class:`AlertDispatcher`, may block for up
    to :attr:`max_duration_s` and raises (any exception) when delivery fails.
    """

    name: str = "sink"

    @property
    def max_duration_s(self) -> float:
        """Longest time one :meth:`send` can take (bounds the flush at the end of training)."""
        return 1.0

    def send(self, event: Event) -> None:
        """Deliver one event; raise on failure."""
        raise NotImplementedError


class LogSink(AlertSink):
    """Writes each alert as a warning to ``logger`` (default: this module's logger)."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or log

    def send(self, event: Event) -> None:
        self.logger.warning(
            "ALERT %s (step %s): %s", event["event"], event["step"], event["message"]
        )


class CommandSink(AlertSink):
    """Runs a program for each alert, without a shell.

    ``{event}`` and ``{message}`` in the arguments are replaced by the event's name and message;
    the event's JSON is written to the program's standard input. The program (and, on POSIX,
    everything it started) is killed after ``timeout_s``; a non-zero exit status is a failure
    whose output is logged.

    Args:
        command: Program and arguments, e.g. ``["notify-send", "ganlab {event}", "{message}"]``.
        timeout_s: Seconds before the program is killed.
    """

    name = "command"

    def __init__(self, command: Sequence[str], timeout_s: float = 10.0) -> None:
        if not command:
            raise ValueError("CommandSink needs a program to run (an empty command was given)")
        self.command = [str(part) for part in command]
        self.timeout_s = float(timeout_s)

    @property
    def max_duration_s(self) -> float:
        return self.timeout_s + 1.0

    def arguments(self, event: Event) -> list[str]:
        """The command line for ``event`` (plain replacement: other braces stay as they are)."""
        return [
            part.replace("{event}", str(event["event"])).replace("{message}", str(event["message"]))
            for part in self.command
        ]

    def send(self, event: Event) -> None:
        # Output goes to a file, not a pipe: a killed program's children could otherwise keep
        # the pipe open and make the wait hang past the timeout.
        with tempfile.TemporaryFile() as output:
            process = subprocess.Popen(
                self.arguments(event),
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=os.name == "posix",
            )
            try:
                process.communicate(encode_event(event), timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                _kill(process)
                raise AlertDeliveryError(
                    f"{self.command[0]} was killed after {self.timeout_s:g} s "
                    "(Callbacks.alerts.command_timeout_s)"
                ) from None
            if process.returncode != 0:
                output.seek(0)
                tail = output.read()[-2000:].decode("utf-8", "replace").strip()
                raise AlertDeliveryError(
                    f"{self.command[0]} exited with status {process.returncode}: {tail}"
                )


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` and, where it leads a process group of its own, that group."""
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.wait()


class WebhookSink(AlertSink):
    """HTTP POST of each event's JSON (``Content-Type: application/json``) with ``urllib``.

    A failed attempt (connection error, timeout, HTTP 408/429/5xx) is retried ``retries`` times
    after a pause of ``backoff_s``, doubled each time; other HTTP errors (e.g. 400, 401, 404)
    are not retried, since sending the same request again cannot help.

    Args:
        url: ``http://`` or ``https://`` address.
        timeout_s: Seconds per attempt (per connection and per read).
        retries: Further attempts after a failed one.
        headers: Extra request headers (e.g. ``Authorization``).
        backoff_s: Pause before the first retry.
    """

    name = "webhook"
    RETRIED_STATUS = frozenset({408, 429, 500, 502, 503, 504})

    def __init__(
        self,
        url: str,
        timeout_s: float = 5.0,
        retries: int = 2,
        headers: Mapping[str, str] | None = None,
        backoff_s: float = 0.5,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url {url!r}: expected an http:// or https:// URL")
        self.url = url
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.headers = dict(headers or {})
        self.backoff_s = float(backoff_s)

    def _pause(self, attempt: int) -> float:
        return self.backoff_s * 2**attempt

    @property
    def max_duration_s(self) -> float:
        pauses = sum(self._pause(attempt) for attempt in range(self.retries))
        return (self.retries + 1) * self.timeout_s + pauses + 0.5

    def send(self, event: Event) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "ganlab-alerts"}
        headers.update(self.headers)
        request = urllib.request.Request(
            self.url, data=encode_event(event), headers=headers, method="POST"
        )
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    response.read()
                return
            except urllib.error.HTTPError as error:
                failure = f"HTTP {error.code} {error.reason}"
                if error.code not in self.RETRIED_STATUS:
                    break
            except (OSError, ValueError) as error:  # URLError, timeouts, refused connections
                failure = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
            if attempt < self.retries:
                time.sleep(self._pause(attempt))
        raise AlertDeliveryError(
            f"POST {self.url} failed after {attempt + 1} attempt(s): {failure}"
        )


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
    return int(getattr(pl.utilities.rank_zero_only, "rank", 0) or 0)


def training_position(trainer: pl.Trainer, pl_module: pl.LightningModule) -> tuple[int, int]:
    """``(step, epoch)`` for an event: the module's own generator step counter when it has one
    (:class:`ganlab.engine.SRGANModule`), else Lightning's ``global_step``."""
    step = getattr(pl_module, "step_count", None)
    if not isinstance(step, int):
        step = trainer.global_step
    return step, trainer.current_epoch
