"""nginx as a peer reference: a `grpc_pass` proxy in front of the same echo tool.

It runs as the benchmark's own subprocess from a generated configuration in a temporary
directory: one process (`master_process off`, so the process the benchmark started is the
worker whose CPU time it reads), an h2c listener on 127.0.0.1, keepalive connections to the
tool, logs in the temporary directory. It is stopped by its PID.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.processes import RunningProcess, StartError, running

READY_TIMEOUT_S = 10.0
READY_POLL_S = 0.02


def render_config(prefix: Path, listen_port: int, upstream: str) -> str:
    """nginx.conf text: h2c on 127.0.0.1:`listen_port`, every path passed to `upstream`.

    `keepalive_requests` is raised on both sides because nginx closes a connection after
    1000 requests by default, which h2load would count as errors mid-run.
    """
    return f"""\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream tool {{
        server {upstream};
        keepalive 32;
        keepalive_requests 100000000;
    }}
    server {{
        listen 127.0.0.1:{listen_port} http2;
        http2_max_concurrent_streams 1024;
        location / {{
            grpc_pass grpc://tool;
        }}
    }}
}}
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (nginx cannot be told to pick one itself,
    so this is the one place where a port is chosen; it is bound straight after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def nginx(binary: str, upstream: str, prefix: Path) -> Iterator[RunningProcess]:
    """Runs nginx proxying to `upstream` (HOST:PORT); yields it once it accepts connections,
    with `.address` set to its HOST:PORT."""
    port = free_port()
    config = prefix / "nginx.conf"
    config.write_text(render_config(prefix, port, upstream), encoding="utf-8")
    argv = [binary, "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")]
    with running("nginx", argv, log_dir=prefix) as process:
        _wait_accepting(process, port)
        process.address = f"127.0.0.1:{port}"
        yield process


def _wait_accepting(process: RunningProcess, port: int) -> None:
    """Returns once 127.0.0.1:`port` accepts a connection; nginx prints nothing when ready."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        process.ensure_alive()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError as error:
            if time.monotonic() > deadline:
                raise StartError(
                    f"nginx did not accept connections on 127.0.0.1:{port} within "
                    f"{READY_TIMEOUT_S:.0f}s ({error.strerror}): {process.stderr_tail()}"
                ) from None
        time.sleep(READY_POLL_S)  # nginx gives no readiness signal to wait on
