"""Every flag of every `toolmesh` command, with its environment twin and documented default.

This table is the one place flags are declared: `main` builds the argument parsers from it,
`--help` prints each flag's environment variable and default from it, and the README's table
is written from it. The defaults of the long-running processes are not repeated here: they
are read from `registry.options` and `sidecar.options`, their one home.

A flag's value comes from, in order: the command line, its environment variable (when set and
not empty), its default. `lookup` reports which one it was, so an error can name the source.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from mesh.cli.durations import format_duration


class Kind(Enum):
    """How a flag appears on the command line."""

    VALUE = "value"  # --flag VALUE, once
    REPEAT = "repeat"  # --flag VALUE, any number of times, in order
    SWITCH = "switch"  # --flag, no value
    POSITIONAL = "positional"  # VALUE, required
    OPTIONAL_POSITIONAL = "optional positional"  # VALUE, may be left out


@dataclass(frozen=True, slots=True)
class Flag:
    """One command-line flag.

    `default` is the text used when neither the flag nor its environment variable is set;
    None means "not set", and `unset` then says what that means for the command.
    """

    name: str  # `--listen`, or the metavar of a positional (`NAME`)
    dest: str  # attribute of the parsed namespace
    help: str
    env: str | None = None
    default: str | None = None
    unset: str = ""  # what an unset flag means, e.g. "not served"; shown as its default
    shown_default: str | None = None  # how to document a computed default (e.g. a home path)
    kind: Kind = Kind.VALUE
    short: str | None = None  # e.g. `-I`
    metavar: str | None = None

    @property
    def default_text(self) -> str:
        """The default as `--help` and the README show it; empty when there is nothing to say."""
        if self.shown_default is not None:
            return self.shown_default
        if self.default is not None:
            return self.default
        return self.unset


@dataclass(frozen=True, slots=True)
class Command:
    """One `toolmesh` subcommand: its name, a one-line summary and its flags.

    A name of two words (`policy set`) is an action of the group named by the first word
    (see GROUPS): `toolmesh policy set TOOL FILE.yaml`.
    """

    name: str
    summary: str
    flags: tuple[Flag, ...]


@dataclass(frozen=True, slots=True)
class Setting:
    """A flag's raw text and where it came from (`--listen`, `TOOLMESH_DB` or `default`)."""

    text: str | None
    source: str


DEFAULT_CLIENT_TIMEOUT = "5s"
# Distinct twins: a registry and a sidecar started from one environment must not collide.
REGISTRY_METRICS_ENV = "TOOLMESH_REGISTRY_METRICS_LISTEN"
SIDECAR_METRICS_ENV = "TOOLMESH_SIDECAR_METRICS_LISTEN"


# Commands named `GROUP ACTION` (`policy set`) are the actions of a group; its summary:
GROUPS = {"policy": "read, write or check a tool's policy (set, get, check)"}


def commands() -> tuple[Command, ...]:
    """Every subcommand in the order `toolmesh --help` lists them."""
    # Imported here, not at module level: these option modules are deliberately light
    # (dataclasses and constants), and `mesh.cli` is the one place allowed to reach them.
    from registry import options as registry_options
    from sidecar import options as sidecar_options

    registry_defaults = registry_options.RegistryOptions()
    sidecar_defaults = sidecar_options.SidecarOptions()
    registry_address = Flag(
        "--registry",
        "registry",
        "the registry's gRPC address (HOST:PORT, [IPv6]:PORT or unix:/PATH)",
        env="TOOLMESH_REGISTRY",
        default=sidecar_options.DEFAULT_REGISTRY,
        metavar="HOST:PORT",
    )
    sidecar_address = Flag(
        "--sidecar",
        "sidecar",
        "the sidecar's address",
        env="TOOLMESH_SIDECAR",
        default=sidecar_options.DEFAULT_LISTEN,
        metavar="HOST:PORT",
    )
    token_file = Flag(
        "--token-file",
        "token_file",
        "file holding the registry's bearer token (surrounding whitespace ignored)",
        env="TOOLMESH_TOKEN_FILE",
        unset="no token",
        metavar="FILE",
    )
    timeout = Flag(
        "--timeout",
        "timeout",
        "deadline of each call to the mesh (a duration: 250ms, 5s, 1m)",
        env="TOOLMESH_TIMEOUT",
        default=DEFAULT_CLIENT_TIMEOUT,
        metavar="DURATION",
    )

    def metrics(env: str) -> Flag:
        return Flag(
            "--metrics-listen",
            "metrics_listen",
            "address of the Prometheus /metrics HTTP endpoint",
            env=env,
            unset="not served",
            metavar="HOST:PORT",
        )

    return (
        Command(
            "registry",
            "run the registry (tools, schemas, instances, policies; SQLite store)",
            (
                Flag(
                    "--listen",
                    "listen",
                    "gRPC listen address; port 0 picks a free port",
                    env="TOOLMESH_REGISTRY_LISTEN",
                    default=registry_defaults.listen,
                    metavar="HOST:PORT",
                ),
                Flag(
                    "--db",
                    "db",
                    "SQLite file, created when missing",
                    env="TOOLMESH_DB",
                    default=registry_defaults.db,
                    metavar="PATH",
                ),
                Flag(
                    "--token-file",
                    "token_file",
                    "file holding the bearer token that mutations must present",
                    env="TOOLMESH_TOKEN_FILE",
                    unset="no authentication",
                    metavar="FILE",
                ),
                metrics(REGISTRY_METRICS_ENV),
            ),
        ),
        Command(
            "sidecar",
            "run the sidecar: the agent's local endpoint relaying to registered tools",
            (
                Flag(
                    "--listen",
                    "listen",
                    "the agent-facing listen address; port 0 picks a free port",
                    env="TOOLMESH_SIDECAR_LISTEN",
                    default=sidecar_defaults.listen,
                    metavar="HOST:PORT",
                ),
                Flag(
                    "--registry",
                    "registry",
                    "the registry's gRPC address",
                    env="TOOLMESH_REGISTRY",
                    default=sidecar_defaults.registry,
                    metavar="HOST:PORT",
                ),
                metrics(SIDECAR_METRICS_ENV),
                Flag(
                    "--cache",
                    "cache",
                    "file keeping the last registry snapshot, used while the registry is down",
                    env="TOOLMESH_CACHE",
                    default=sidecar_defaults.cache,
                    shown_default="$XDG_CACHE_HOME/toolmesh/sidecar-snapshot.pb "
                    "($XDG_CACHE_HOME unset: ~/.cache)",
                    metavar="PATH",
                ),
                token_file,
                Flag(
                    "--max-message-bytes",
                    "max_message_bytes",
                    "largest gRPC message relayed, each way, in bytes",
                    env="TOOLMESH_MAX_MESSAGE_BYTES",
                    default=str(sidecar_defaults.max_message_bytes),
                    metavar="N",
                ),
                Flag(
                    "--grace-period",
                    "grace_period",
                    "how long SIGTERM waits for calls in flight (seconds, or a duration)",
                    env="TOOLMESH_GRACE_PERIOD",
                    default=_seconds(sidecar_defaults.grace_period_s),
                    metavar="SECONDS",
                ),
                Flag(
                    "--registry-wait",
                    "registry_wait",
                    "how long start-up waits for the registry before serving from the cache "
                    "(seconds, or a duration)",
                    env="TOOLMESH_REGISTRY_WAIT",
                    default=_seconds(sidecar_defaults.registry_wait_s),
                    metavar="SECONDS",
                ),
                Flag(
                    "--upstream-connections",
                    "upstream_connections",
                    "pooled HTTP/2 connections per tool endpoint",
                    env="TOOLMESH_UPSTREAM_CONNECTIONS",
                    default=str(sidecar_defaults.upstream_connections),
                    metavar="N",
                ),
                Flag(
                    "--invocation-log",
                    "invocation_log",
                    "one JSON line per tool call on stderr (trace id, tool, method, attempts,"
                    " status, duration): on or off",
                    env="TOOLMESH_INVOCATION_LOG",
                    default="on" if sidecar_defaults.invocation_log else "off",
                    metavar="on|off",
                ),
                Flag(
                    "--log-payloads",
                    "log_payloads",
                    "with --invocation-log on: also log each call's first request and response"
                    " message as JSON, cut at this many bytes (0: not logged)",
                    env="TOOLMESH_LOG_PAYLOADS",
                    default=str(sidecar_defaults.log_payloads_bytes),
                    metavar="BYTES",
                ),
                Flag(
                    "--redact",
                    "redact",
                    "comma-separated field names hidden in logged payloads, besides password,"
                    " secret, token, api_key, authorization...",
                    env="TOOLMESH_REDACT",
                    unset="only the built-in names",
                    metavar="FIELDS",
                ),
            ),
        ),
        Command(
            "register",
            "register a tool from its .proto files or a manifest",
            (
                Flag(
                    "--file",
                    "manifest",
                    "a tool manifest (YAML); flags given as well override its fields",
                    short="-f",
                    unset="none (then --name and --proto are required)",
                    metavar="TOOL.yaml",
                ),
                Flag("--name", "name", "the tool's name", metavar="NAME"),
                Flag(
                    "--proto",
                    "protos",
                    "a .proto file describing the tool's services (repeatable; replaces "
                    "the manifest's list)",
                    kind=Kind.REPEAT,
                    metavar="FILE",
                ),
                Flag(
                    "--include-dir",
                    "include_dirs",
                    "an import directory for protoc (repeatable; replaces the manifest's "
                    "list); each proto file's own directory is always searched too",
                    kind=Kind.REPEAT,
                    short="-I",
                    metavar="DIR",
                ),
                Flag(
                    "--endpoint",
                    "endpoints",
                    "a static endpoint of the tool (repeatable; replaces the manifest's list)",
                    kind=Kind.REPEAT,
                    metavar="HOST:PORT",
                ),
                Flag(
                    "--version", "version", "the tool's version label", unset="empty", metavar="V"
                ),
                Flag(
                    "--description",
                    "description",
                    "what the tool does, for people and agents",
                    unset="empty",
                    metavar="TEXT",
                ),
                Flag(
                    "--annotation",
                    "annotations",
                    "a key=value annotation (repeatable; sets that key over the manifest's)",
                    kind=Kind.REPEAT,
                    metavar="K=V",
                ),
                Flag(
                    "--policy",
                    "policy",
                    "the tool's policy as YAML (schema: README, Policies); replaces the "
                    "manifest's policy",
                    unset="the registry keeps the tool's current policy",
                    metavar="FILE.yaml",
                ),
                registry_address,
                token_file,
                timeout,
            ),
        ),
        Command(
            "deregister",
            "remove a tool with its endpoints, instances and policy",
            (
                Flag("NAME", "name", "the tool's name", kind=Kind.POSITIONAL),
                registry_address,
                token_file,
                timeout,
            ),
        ),
        Command(
            "policy set",
            "replace a tool's policy with the one in a YAML file (validated first)",
            (
                Flag("TOOL", "tool", "the tool's name", kind=Kind.POSITIONAL),
                Flag("FILE.yaml", "file", "the policy as YAML", kind=Kind.POSITIONAL),
                registry_address,
                token_file,
                timeout,
            ),
        ),
        Command(
            "policy get",
            "print a tool's policy as YAML (a comment line when the defaults apply)",
            (
                Flag("TOOL", "tool", "the tool's name", kind=Kind.POSITIONAL),
                registry_address,
                timeout,
            ),
        ),
        Command(
            "policy check",
            "validate a policy file offline: every problem, or `ok`",
            (
                Flag("FILE.yaml", "file", "the policy as YAML", kind=Kind.POSITIONAL),
                Flag(
                    "--tool",
                    "tool",
                    "the tool the policy is for (a fallback to the tool itself is then refused)",
                    unset="not checked",
                    metavar="NAME",
                ),
            ),
        ),
        Command(
            "tools",
            "list the tools a sidecar can call, with their methods",
            (
                sidecar_address,
                Flag(
                    "--json",
                    "json",
                    "print the full listing as JSON, with each method's input/output JSON Schema",
                    kind=Kind.SWITCH,
                    unset="a table",
                ),
                timeout,
            ),
        ),
        Command(
            "call",
            "call a tool method through the sidecar with JSON in, JSON out",
            (
                Flag(
                    "TARGET",
                    "target",
                    "TOOL/METHOD, SERVICE/METHOD (fully qualified service) or /SERVICE/METHOD",
                    kind=Kind.POSITIONAL,
                ),
                Flag(
                    "JSON",
                    "request",
                    "the request message as JSON; `-` reads it from standard input",
                    kind=Kind.OPTIONAL_POSITIONAL,
                    default="{}",
                ),
                sidecar_address,
                Flag(
                    "--header",
                    "headers",
                    "metadata sent to the tool, key:value (repeatable)",
                    kind=Kind.REPEAT,
                    short="-H",
                    metavar="KEY:VALUE",
                ),
                Flag(
                    "--timeout",
                    "timeout",
                    "deadline of the tool call (a duration: 250ms, 5s, 1m)",
                    env="TOOLMESH_TIMEOUT",
                    default=DEFAULT_CLIENT_TIMEOUT,
                    metavar="DURATION",
                ),
            ),
        ),
        Command(
            "demo",
            "run a whole local mesh (registry, sidecar, example tools) and call through it",
            (
                Flag(
                    "--dir",
                    "dir",
                    "directory for the registry's database, the sidecar's cache and the logs",
                    env="TOOLMESH_DEMO_DIR",
                    unset="a new temporary directory, removed at the end unless a step failed",
                    metavar="DIR",
                ),
                Flag(
                    "--serve",
                    "serve",
                    "keep the mesh running after the calls, until Ctrl-C",
                    kind=Kind.SWITCH,
                    unset="stop after the calls",
                ),
            ),
        ),
    )


def add_flags(parser: argparse.ArgumentParser, command: Command) -> None:
    """Declares `command`'s flags on `parser`, with env twin and default in each help line."""
    for flag in command.flags:
        help_text = flag.help + _where(flag)
        if flag.kind is Kind.POSITIONAL:
            parser.add_argument(flag.dest, metavar=flag.name, help=help_text)
            continue
        if flag.kind is Kind.OPTIONAL_POSITIONAL:
            parser.add_argument(
                flag.dest, metavar=flag.name, nargs="?", default=None, help=help_text
            )
            continue
        names = [flag.short, flag.name] if flag.short else [flag.name]
        if flag.kind is Kind.SWITCH:
            parser.add_argument(*names, dest=flag.dest, action="store_true", help=help_text)
        elif flag.kind is Kind.REPEAT:
            parser.add_argument(
                *names,
                dest=flag.dest,
                action="append",
                default=[],
                metavar=flag.metavar,
                help=help_text,
            )
        else:
            parser.add_argument(
                *names, dest=flag.dest, default=None, metavar=flag.metavar, help=help_text
            )


def lookup(args: argparse.Namespace, flag: Flag) -> Setting:
    """The text of a single-valued flag or positional: from the command line, else its
    environment variable, else its default (`text` None when it has none)."""
    given = getattr(args, flag.dest, None)
    if given is not None:
        return Setting(str(given), flag.name)
    if flag.env:
        from_env = os.environ.get(flag.env, "")
        if from_env.strip():
            return Setting(from_env, flag.env)
    return Setting(flag.default, "default")


def find(command: str, dest: str) -> Flag:
    """The flag `dest` of `command`; a KeyError here is a bug in the caller."""
    for candidate in commands():
        if candidate.name == command:
            for flag in candidate.flags:
                if flag.dest == dest:
                    return flag
    raise KeyError(f"toolmesh {command} has no flag {dest!r}")


def _where(flag: Flag) -> str:
    parts = [f"env: {flag.env}"] if flag.env else []
    if flag.default_text:
        parts.append(f"default: {flag.default_text}")
    return f" [{'; '.join(parts)}]" if parts else ""


def _seconds(value: float) -> str:
    return format_duration(timedelta(seconds=value))


def markdown_table() -> str:
    """Every command's flags as the README's Markdown table (kept in sync by a test)."""
    rows = ["| command | flag | environment | default | meaning |", "|---|---|---|---|---|"]
    for command in commands():
        for flag in command.flags:
            name = f"`{flag.short}`, `{flag.name}`" if flag.short else f"`{flag.name}`"
            if flag.kind is Kind.REPEAT:
                name += " (repeatable)"
            env = f"`{flag.env}`" if flag.env else "-"
            default = flag.default_text.replace("|", "\\|") or "-"
            rows.append(f"| {command.name} | {name} | {env} | {default} | {flag.help} |")
    return "\n".join(rows) + "\n"
