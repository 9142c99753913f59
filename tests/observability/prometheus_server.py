"""A real Prometheus (Debian's `prometheus` package) run by the tests on loopback.

It scrapes the given targets every second, evaluates the rule files every second, stores
exemplars, and answers queries through its HTTP API. Every wait is a bounded poll; the
process is stopped by its PID.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

PROMETHEUS = "/usr/bin/prometheus"
SCRAPE_INTERVAL = "1s"
POLL_S = 0.05


class PrometheusError(Exception):
    """Prometheus did not start, answer, or reach the awaited state in time."""


def binary() -> str:
    """The prometheus executable; the error says how to get it."""
    path = shutil.which("prometheus") or (PROMETHEUS if Path(PROMETHEUS).exists() else None)
    if path is None:
        raise PrometheusError(
            "prometheus is not installed: `make apt` installs Debian's prometheus package"
        )
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def poll(what: str, check: Callable[[], T | None], timeout_s: float) -> T:
    """Calls `check` every POLL_S until it returns something other than None."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while True:
        try:
            result = check()
        except (OSError, PrometheusError) as error:  # not up yet, or not answering yet
            last, result = error, None
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise PrometheusError(f"waited {timeout_s:g}s for {what}; last error: {last}")
        time.sleep(POLL_S)


class Prometheus:
    """One Prometheus process scraping `targets` (job -> HOST:PORT) with `rule_files`."""

    def __init__(
        self, directory: Path, targets: Mapping[str, str], rule_files: Sequence[Path]
    ) -> None:
        self.directory = directory
        self.targets = dict(targets)
        self.rule_files = list(rule_files)
        self.address = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "prometheus.log"

    def config(self) -> dict[str, Any]:
        return {
            "global": {
                "scrape_interval": SCRAPE_INTERVAL,
                "scrape_timeout": "900ms",
                "evaluation_interval": SCRAPE_INTERVAL,
            },
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [address]}]}
                for job, address in self.targets.items()
            ],
        }

    def start(self, timeout_s: float = 20.0) -> None:
        """Starts it and waits until it is ready (`/-/ready`)."""
        config = self.directory / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config()))
        # A free port can be taken between the probe and Prometheus' bind: try a few.
        for _ in range(3):
            self.address = f"127.0.0.1:{_free_port()}"
            with self.log.open("wb") as log:
                self.process = subprocess.Popen(
                    [
                        binary(),
                        f"--config.file={config}",
                        f"--storage.tsdb.path={self.directory / 'data'}",
                        f"--web.listen-address={self.address}",
                        "--enable-feature=exemplar-storage",
                        "--log.level=warn",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                poll("Prometheus to be ready", self._ready, timeout_s)
                return
            except PrometheusError:
                exited = self.process.poll() is not None
                self.stop()
                if not exited or b"address already in use" not in self.log.read_bytes():
                    raise PrometheusError(
                        f"prometheus did not start: {self.log.read_text()[-2000:]}"
                    ) from None
        raise PrometheusError("prometheus found no free port in three tries")

    def _ready(self) -> bool | None:
        if self.process is not None and self.process.poll() is not None:
            raise PrometheusError(f"prometheus exited with {self.process.returncode}")
        try:
            with urllib.request.urlopen(f"http://{self.address}/-/ready", timeout=1) as answer:
                return True if answer.status == 200 else None
        except urllib.error.HTTPError:
            return None  # 503 while starting

    def stop(self) -> None:
        """Stops the process by its PID (SIGTERM, then SIGKILL after 5 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    # ------------------------------------------------------------------ the HTTP API

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/PATH?params; returns `data`, or raises PrometheusError with the error."""
        query = urllib.parse.urlencode(params)
        url = f"http://{self.address}/api/v1/{path}?{query}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                body = json.load(answer)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query at now: the vector's samples (`metric` labels and `value`)."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            raise PrometheusError(f"{expr}: expected a vector, got {data['resultType']}")
        return list(data["result"])

    def scraped_since(self, since: float) -> bool | None:
        """True once every target has been scraped, healthy, after `since` (unix seconds)."""
        # timestamp(up) is each target's last scrape time; `and up == 1` keeps healthy ones.
        scrapes = self.query("timestamp(up) and on (job, instance) up == 1")
        if len(scrapes) != len(self.targets):
            return None
        if any(float(sample["value"][1]) <= since for sample in scrapes):
            return None
        return True
