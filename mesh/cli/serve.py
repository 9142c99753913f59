"""`toolmesh registry` and `toolmesh sidecar`: the long-running processes, started from flags.

Each turns its flags into the process's options dataclass and hands over to the process's
entry point, imported only here so the client commands never load a server.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mesh.cli import values
from mesh.cli.errors import UsageError
from mesh.cli.options import Setting, find, lookup


def run_registry(args: argparse.Namespace) -> int:
    """Runs the registry until it is stopped; returns its exit status."""
    from registry.options import RegistryOptions

    def setting(dest: str) -> Setting:
        return lookup(args, find("registry", dest))

    db = setting("db")
    assert db.text is not None  # the flag has a default
    _parent_must_exist(db.text, db.source)
    metrics = values.optional_address(setting("metrics_listen"), listen=True)
    options = RegistryOptions(
        listen=str(values.address(setting("listen"), listen=True)),
        db=db.text,
        token=values.token(setting("token_file")),
        metrics_listen=None if metrics is None else str(metrics),
    )
    from registry import server  # only now: a bad flag is reported without loading a server

    return server.main(options)


def run_sidecar(args: argparse.Namespace) -> int:
    """Runs the sidecar until it is stopped; returns its exit status."""
    from sidecar.options import SidecarOptions

    def setting(dest: str) -> Setting:
        return lookup(args, find("sidecar", dest))

    metrics = values.optional_address(setting("metrics_listen"), listen=True)
    cache = setting("cache")
    assert cache.text is not None  # the flag's default is the sidecar's default cache path
    options = SidecarOptions(
        listen=str(values.address(setting("listen"), listen=True)),
        registry=str(values.address(setting("registry"))),
        metrics_listen=None if metrics is None else str(metrics),
        cache=cache.text,
        token=values.token(setting("token_file")),
        max_message_bytes=values.positive_int(setting("max_message_bytes")),
        grace_period_s=values.duration(setting("grace_period"), bare_unit="s").total_seconds(),
        registry_wait_s=values.duration(setting("registry_wait"), bare_unit="s").total_seconds(),
        upstream_connections=values.positive_int(setting("upstream_connections")),
        invocation_log=values.on_off(setting("invocation_log")),
        log_payloads_bytes=values.non_negative_int(setting("log_payloads")),
        redact_fields=tuple(
            name.strip() for name in (setting("redact").text or "").split(",") if name.strip()
        ),
    )
    from sidecar import app  # only now: a bad flag is reported without loading a server

    return app.main(options)


def _parent_must_exist(path_text: str, source: str) -> None:
    parent = Path(path_text).expanduser().parent
    if not parent.is_dir():
        raise UsageError(f"{source}: directory {str(parent)!r} of {path_text!r} does not exist")
