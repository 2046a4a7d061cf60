"""Where alert events go: the log, a command (without a shell), a webhook (with a timeout and
retries). :class:`ganlab.callbacks.alerts.AlertDispatcher` calls them from background threads.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

from ganlab.callbacks.alert_events import AlertDeliveryError, Event, encode_event
from ganlab.redact import redact_url

log = logging.getLogger(__name__)


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
            raise ValueError(f"webhook url {redact_url(url)}: expected an http:// or https:// URL")
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
            f"POST {redact_url(self.url)} failed after {attempt + 1} attempt(s): {failure}"
        )
