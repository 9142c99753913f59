"""What the figures were measured on: the machine and the versions of everything involved."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from collections.abc import Collection
from dataclasses import dataclass
from importlib import metadata


@dataclass(frozen=True, slots=True)
class Machine:
    """Facts printed beside the figures; every field is a display string."""

    date: str
    cpus: str
    cpu_model: str
    kernel: str
    python: str
    grpcio: str
    nginx: str
    h2load: str

    def lines(self) -> list[tuple[str, str]]:
        return [
            ("date", self.date),
            ("CPUs (nproc)", self.cpus),
            ("CPU model", self.cpu_model),
            ("kernel", self.kernel),
            ("Python", self.python),
            ("grpcio", self.grpcio),
            ("nginx", self.nginx),
            ("h2load", self.h2load),
        ]

    def facts(self, leave_out: Collection[str] = ()) -> str:
        """`key: value` for every line but those keyed in `leave_out`, comma-separated."""
        return ", ".join(f"{key}: {value}" for key, value in self.lines() if key not in leave_out)


def describe(nginx_binary: str | None, h2load_binary: str) -> Machine:
    """Reads the facts of this machine (nothing here may fail the benchmark)."""
    return Machine(
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cpus=str(len(os.sched_getaffinity(0))),
        cpu_model=_cpu_model(),
        kernel=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        grpcio=metadata.version("grpcio"),
        nginx=_version([nginx_binary, "-v"], "nginx version: ")
        if nginx_binary
        else "not installed",
        h2load=_version([h2load_binary, "--version"], "h2load "),
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    except OSError as error:
        return f"unknown ({error.strerror})"
    return "unknown"


def _version(argv: list[str], prefix: str) -> str:
    """The first line a `--version`-style command prints (nginx prints it on stderr)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    text = (done.stdout + done.stderr).strip()
    first = text.splitlines()[0] if text else "unknown"
    return first.removeprefix(prefix)
