"""Alerts: events reach a real webhook and a real command; a failing or slow sink never holds
training up, and the flush at the end is bounded; events, rank zero and JSON format."""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import torch

from ganlab._lightning import Callback, pl
from ganlab.callbacks.alerts import (
    AlertDispatcher,
    CommandSink,
    LogSink,
    WebhookSink,
    encode_event,
    make_event,
)
from ganlab.callbacks.monitoring import Alerts
from ganlab.engine.module import NonFiniteTrainingError
from ganlab.errors import ConfigError
from tests.helpers import NaNContentLoss, RecordingSink, fit, one_epoch

EVENT_KEYS = {"event", "message", "run_dir", "step", "epoch", "time", "details"}


# ------------------------------------------------------------------------------- helpers


@dataclass
class Webhook:
    url: str
    events: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]


@contextmanager
def webhook_server(answer_when: threading.Event | None = None) -> Iterator[Webhook]:
    """An HTTP server on 127.0.0.1 that records each POSTed JSON body and answers at once, or
    once ``answer_when`` is set."""
    stop = threading.Event()
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.events.append(json.loads(body))
            hook.headers.append(dict(self.headers))
            while answer_when is not None and not answer_when.wait(0.1):
                if stop.is_set():
                    return
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_port}/alerts"
    try:
        yield hook
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def refused_url() -> str:
    """A local URL where nothing listens (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/alerts"


def _dispatcher(trainer: pl.Trainer) -> AlertDispatcher:
    (alerts,) = [cb for cb in trainer.callbacks if isinstance(cb, Alerts)]
    return alerts.dispatcher


# ------------------------------------------------------------------- end to end: webhook


def test_webhook_receives_nonfinite_and_early_stop(make_config, tmp_path: Path) -> None:
    with webhook_server() as hook:
        config = make_config(
            "Training.g_pretrain_steps=100",
            "Callbacks.alerts.log=false",
            f"Callbacks.alerts.webhook.url={hook.url}",
            "Callbacks.alerts.webhook.headers={X-Token: secret}",
            # the bicubic PSNR never changes: the second validation stops training
            "Callbacks.early_stopping.monitor=val/psnr_bicubic",
            "Callbacks.early_stopping.patience=1",
        )
        module, trainer = fit(
            config,
            tmp_path,
            callbacks=[NaNContentLoss({1})],
            max_epochs=5,
            limit_train_batches=2,
            limit_val_batches=1,
        )
        events = list(hook.events)

    assert trainer.current_epoch < 4 and module.nonfinite_total == 1
    assert [e["event"] for e in events] == ["nonfinite", "early_stop"]
    for event in events:
        assert set(event) == EVENT_KEYS
        assert event["run_dir"] == str(tmp_path.absolute())
        stamp = datetime.fromisoformat(event["time"])
        assert stamp.utcoffset() == timedelta(0)
    nonfinite, early_stop = events
    assert nonfinite["step"] == 2 and nonfinite["epoch"] == 0
    assert nonfinite["details"] == {"skipped_step": 1, "new": 1, "nonfinite_total": 1}
    assert early_stop["step"] == module.step_count and early_stop["epoch"] == 1
    details = early_stop["details"]
    assert details["monitor"] == "val/psnr_bicubic" and details["patience"] == 1
    assert details["best"] == pytest.approx(float(trainer.callback_metrics["val/psnr_bicubic"]))
    assert "val/psnr_bicubic did not improve" in early_stop["message"]
    assert all(h["X-Token"] == "secret" for h in hook.headers)
    assert all(h["Content-Type"] == "application/json" for h in hook.headers)


def test_failing_webhook_is_retried_and_logged_while_training_completes(
    make_config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # connection refused at once; the event is retried twice, then logged as not delivered
    config = make_config(
        "Training.g_pretrain_steps=100",
        "Callbacks.alerts.log=false",
        f"Callbacks.alerts.webhook.url={refused_url()}",
        "Callbacks.alerts.webhook.retries=2",
        "Callbacks.alerts.webhook.timeout_s=1",
    )
    with caplog.at_level(logging.WARNING, logger="ganlab.callbacks.alerts"):
        module, trainer = fit(config, tmp_path, callbacks=[NaNContentLoss({1})], **one_epoch(5))
    assert module.step_count == 5
    # close() waits at most for every attempt's timeout, the pauses and margins
    assert _dispatcher(trainer).close_timeout_s == pytest.approx(3 * 1 + 0.5 + 1.0 + 0.5 + 0.5)
    failures = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert len(failures) == 1 and "after 3 attempt(s)" in failures[0]
    assert "Connection refused" in failures[0]


class SendProbe(Callback):
    """At the end of training, whether the webhook sink's send of the alert was still running."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.started = threading.Event()
        self.finished = threading.Event()
        self.running_at_train_end: bool | None = None

    def on_train_end(self, trainer, pl_module) -> None:
        self.running_at_train_end = not self.finished.is_set()
        self.release.set()  # let the webhook answer now


def test_slow_webhook_does_not_stall_training(
    make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook answers only once training has ended. A send that blocked training would
    have to end (by its 30 s timeout) before the next batch; here it is still running when
    training ends, on any machine speed: no wall-clock bounds."""
    release = threading.Event()
    probe = SendProbe(release)
    original = WebhookSink.send

    def send(self: WebhookSink, event: dict[str, Any]) -> None:
        probe.started.set()
        try:
            original(self, event)
        finally:
            probe.finished.set()

    monkeypatch.setattr(WebhookSink, "send", send)
    with webhook_server(answer_when=release) as hook:
        config = make_config(
            "Training.g_pretrain_steps=100",
            "Callbacks.alerts.log=false",
            f"Callbacks.alerts.webhook.url={hook.url}",
            "Callbacks.alerts.webhook.retries=0",
            "Callbacks.alerts.webhook.timeout_s=30",
        )
        module, _ = fit(config, tmp_path, callbacks=[NaNContentLoss({1}), probe], **one_epoch(5))
        assert probe.finished.wait(60)  # the dispatcher delivered it once released
    assert module.step_count == 5 and probe.started.is_set()
    assert probe.running_at_train_end is True
    assert [event["event"] for event in hook.events] == ["nonfinite"]


# ------------------------------------------------------------------- end to end: command


def _writer_command(path: Path) -> list[str]:
    """A real program that writes its arguments and its standard input to ``path``."""
    script = (
        "import json, sys; "
        "open(sys.argv[1], 'a').write(json.dumps({'argv': sys.argv[2:], "
        "'stdin': sys.stdin.read()}) + '\\n')"
    )
    return [sys.executable, "-c", script, str(path), "{event}", "msg={message}", "{other}"]


def test_exception_event_reaches_command(make_config, tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    command = json.dumps(_writer_command(out))
    config = make_config(f"Callbacks.alerts.command={command}", "Callbacks.alerts.log=false")

    class Boom(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if pl_module.step_count == 2:
                raise RuntimeError("boom at step 2")

    with pytest.raises(RuntimeError, match="boom"):
        fit(config, tmp_path, callbacks=[Boom()], **one_epoch(4))
    # delivered before the exception left fit(): on_exception flushes the dispatcher
    (line,) = out.read_text().splitlines()
    record = json.loads(line)
    event = json.loads(record["stdin"])
    assert record["argv"] == ["exception", f"msg={event['message']}", "{other}"]
    assert event["event"] == "exception" and event["step"] == 2
    assert event["message"] == "training stopped by RuntimeError: boom at step 2"
    assert event["details"]["type"] == "builtins.RuntimeError"
    assert "boom at step 2" in event["details"]["traceback"]


def test_nonfinite_failure_alerts_only_selected_events(make_config, tmp_path: Path) -> None:
    with webhook_server() as hook:
        config = make_config(
            "Training.max_nonfinite_steps=2",
            "Callbacks.alerts.events=[exception]",  # nonfinite steps are not sent
            f"Callbacks.alerts.webhook.url={hook.url}",
        )
        with pytest.raises(NonFiniteTrainingError):
            fit(config, tmp_path, callbacks=[NaNContentLoss(None)], **one_epoch(5))
        events = list(hook.events)
    (event,) = events
    assert event["event"] == "exception"
    error = NonFiniteTrainingError
    assert event["details"]["type"] == f"{error.__module__}.{error.__qualname__}"
    assert "2 consecutive steps" in event["message"]


def test_no_improvement_after_n_validations(make_config, tmp_path: Path) -> None:
    with webhook_server() as hook:
        config = make_config(
            "Callbacks.checkpoint.monitor=val/psnr_bicubic",  # never improves after the first
            "Callbacks.alerts.no_improvement_validations=2",
            f"Callbacks.alerts.webhook.url={hook.url}",
            "Trainer.num_sanity_val_steps=1",  # the sanity check does not count
        )
        fit(config, tmp_path, max_epochs=5, limit_train_batches=1, limit_val_batches=1)
        events = list(hook.events)
    assert [(e["event"], e["epoch"]) for e in events] == [
        ("no_improvement", 2),
        ("no_improvement", 4),
    ]
    assert events[0]["details"]["monitor"] == "val/psnr_bicubic"
    assert events[0]["details"]["validations"] == 2


# ------------------------------------------------------------------------ the dispatcher


def test_alert_returns_at_once_while_a_sink_blocks_and_close_is_bounded() -> None:
    release = threading.Event()
    blocked, fast = RecordingSink(block=release), RecordingSink()
    dispatcher = AlertDispatcher([blocked, fast], run_dir="run")
    # the blocked sink is released only at the end, so a blocking alert() never returns
    for index in range(20):
        assert dispatcher.alert("nonfinite", f"event {index}", step=index, epoch=0)
    assert not release.is_set()
    start = time.perf_counter()
    assert dispatcher.close(timeout_s=0.3) is False  # the blocked sink is given up on
    assert time.perf_counter() - start >= 0.25  # it waited (about) its timeout first
    assert [e["step"] for e in fast.events] == list(range(20))  # one slow sink delays no other
    release.set()
    # usable again after close: new threads start with the next alert
    assert dispatcher.alert("exception", "again")
    assert dispatcher.close(timeout_s=5)
    assert blocked.events[-1]["message"] == "again"


def test_command_sink_substitutes_arguments_and_passes_json(tmp_path: Path) -> None:
    out = tmp_path / "command.jsonl"
    with AlertDispatcher([CommandSink(_writer_command(out), timeout_s=20)], run_dir=tmp_path) as d:
        d.alert("early_stop", "val/psnr stalled", step=7, epoch=3, details={"best": 31.5})
    record = json.loads(out.read_text())
    assert record["argv"] == ["early_stop", "msg=val/psnr stalled", "{other}"]
    event = json.loads(record["stdin"])
    assert event["details"] == {"best": 31.5} and (event["step"], event["epoch"]) == (7, 3)
    assert event["run_dir"] == str(tmp_path.absolute())


def test_command_sink_timeout_and_failure_are_logged(tmp_path: Path, caplog) -> None:
    slow = CommandSink([sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.5)
    failing = CommandSink([sys.executable, "-c", "import sys; print('nope'); sys.exit(3)"])
    dispatcher = AlertDispatcher([slow, failing])
    with caplog.at_level(logging.WARNING, logger="ganlab.callbacks.alerts"):
        dispatcher.alert("exception", "x")
        assert dispatcher.close()  # the slow command is killed at its timeout, so close ends
    messages = caplog.text
    assert "killed after 0.5 s" in messages
    assert "exited with status 3: nope" in messages


def test_event_selection_and_rank_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = RecordingSink()
    dispatcher = AlertDispatcher([sink], events=["exception"])
    assert not dispatcher.alert("nonfinite", "not selected")
    monkeypatch.setattr(pl.utilities.rank_zero_only, "rank", 1)
    assert not dispatcher.alert("exception", "not rank zero")
    monkeypatch.setattr(pl.utilities.rank_zero_only, "rank", 0)
    assert dispatcher.alert("exception", "sent")
    dispatcher.close()
    assert [e["message"] for e in sink.events] == ["sent"]


def test_log_sink_writes_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    level = caplog.at_level(logging.WARNING, logger="ganlab.callbacks.alerts")
    with level, AlertDispatcher([LogSink()]) as dispatcher:
        dispatcher.alert("no_improvement", "val/psnr flat", step=3)
    assert "ALERT no_improvement (step 3): val/psnr flat" in caplog.text


def test_event_json_is_strict() -> None:
    event = make_event(
        "gradient_threshold",
        "big",
        run_dir=Path("runs/x"),
        step=1,
        epoch=0,
        details={"norm": float("inf"), "value": torch.tensor(2.5), "path": Path("a")},
    )
    decoded = json.loads(encode_event(event))
    assert decoded["details"] == {"norm": "inf", "value": 2.5, "path": "a"}
    assert set(decoded) == EVENT_KEYS


# ------------------------------------------------------------------------------- secrets


def test_webhook_secrets_come_from_the_environment_and_are_never_saved(
    make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ganlab.callbacks.monitoring import build_alert_dispatcher
    from ganlab.config.load import dump_config

    with webhook_server() as hook:
        secret_url = f"{hook.url}?token=s3cret-url"
        monkeypatch.setenv("GANLAB_TEST_HOOK", secret_url)
        monkeypatch.setenv("GANLAB_TEST_TOKEN", "s3cret-header")
        config = make_config(
            "Callbacks.alerts.log=false",
            "Callbacks.alerts.webhook.url_env=GANLAB_TEST_HOOK",
            "Callbacks.alerts.webhook.headers_env={X-Token: GANLAB_TEST_TOKEN}",
        )
        dispatcher = build_alert_dispatcher(config.Callbacks.alerts, tmp_path)
        dispatcher.alert("nonfinite", "test", step=1, epoch=0, details={})
        dispatcher.close(10.0)
        assert [e["event"] for e in hook.events] == ["nonfinite"]
        assert hook.headers[0]["X-Token"] == "s3cret-header"
    saved = dump_config(config)
    assert "GANLAB_TEST_HOOK" in saved and "s3cret" not in saved

    monkeypatch.delenv("GANLAB_TEST_TOKEN")
    with pytest.raises(ConfigError, match=r"headers_env\.X-Token: environment variable "):
        build_alert_dispatcher(config.Callbacks.alerts, tmp_path)


def test_a_webhook_url_written_in_the_config_is_saved_and_reported_redacted(
    make_config, tmp_path: Path
) -> None:
    from ganlab.callbacks.alert_events import AlertDeliveryError
    from ganlab.callbacks.alert_sinks import WebhookSink
    from ganlab.config.load import dump_config

    url = f"{refused_url()}/services/T0/B0/s3cret?key=s3cret"
    config = make_config(
        f"Callbacks.alerts.webhook.url={url}", "Callbacks.alerts.webhook.headers={X-Key: s3cret}"
    )
    saved = dump_config(config)
    assert "s3cret" not in saved and "/<redacted>" in saved
    assert "s3cret" not in str(config.model_dump(mode="json"))  # hyperparameters, loggers
    with pytest.raises(AlertDeliveryError) as failure:
        WebhookSink(url, timeout_s=1.0, retries=0).send({"event": "nonfinite"})
    assert "s3cret" not in str(failure.value) and "<redacted>" in str(failure.value)


def test_redacted_webhook_values_from_a_saved_config_are_refused(make_config) -> None:
    with pytest.raises(ConfigError, match="holds a redacted URL"):
        make_config("Callbacks.alerts.webhook.url=https://hooks.example.com/<redacted>")
    with pytest.raises(ConfigError, match="X-Key: redacted values"):
        make_config(
            "Callbacks.alerts.webhook.url_env=HOOK",
            "Callbacks.alerts.webhook.headers={X-Key: <redacted>}",
        )
