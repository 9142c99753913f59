"""Flag text turned into typed values; every error names where the bad text came from.

A message reads `--listen: address '1.2.3.4' has no port (expected HOST:PORT)` or
`TOOLMESH_DB: ...`, so a value set in the environment is as easy to find as one on the line.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from mesh.addresses import Address, AddressError, parse_address
from mesh.cli.durations import DurationError, parse_duration
from mesh.cli.errors import UsageError
from mesh.cli.options import Setting


def address(setting: Setting, *, listen: bool = False) -> Address:
    """A network address; `listen` admits port 0 (any free port)."""
    try:
        return parse_address(_required(setting), allow_port_zero=listen)
    except AddressError as error:
        raise UsageError(f"{setting.source}: {error}") from None


def optional_address(setting: Setting, *, listen: bool = False) -> Address | None:
    """Like `address`, None when the flag is unset."""
    return None if setting.text is None else address(setting, listen=listen)


def duration(setting: Setting, *, bare_unit: str | None = None) -> timedelta:
    """A positive duration such as `250ms`; `bare_unit` gives a bare number a unit."""
    try:
        return parse_duration(_required(setting), bare_unit=bare_unit)
    except DurationError as error:
        raise UsageError(f"{setting.source}: {error}") from None


def positive_int(setting: Setting) -> int:
    """A whole number >= 1."""
    text = _required(setting).strip()
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{setting.source}: {text!r} is not a whole number >= 1")
    return int(text)


def existing_file(text: str, source: str) -> Path:
    """A path that must name a readable regular file."""
    path = Path(text).expanduser()
    if not path.exists():
        raise UsageError(f"{source}: file {text!r} does not exist")
    if not path.is_file():
        raise UsageError(f"{source}: {text!r} is not a file")
    return path


def existing_dir(text: str, source: str) -> Path:
    """A path that must name a directory."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise UsageError(f"{source}: directory {text!r} does not exist")
    return path


def token(setting: Setting) -> str | None:
    """The bearer token in the file the setting names, None when unset."""
    if setting.text is None:
        return None
    path = existing_file(setting.text, setting.source)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(
            f"{setting.source}: cannot read token file {setting.text!r}: {error}"
        ) from None
    if not text:
        raise UsageError(f"{setting.source}: token file {setting.text!r} is empty")
    return text


def _required(setting: Setting) -> str:
    if setting.text is None:
        raise UsageError(f"{setting.source}: a value is required")
    return setting.text


def on_off(setting: Setting) -> bool:
    """`on`/`off` (also true/false, yes/no, 1/0); raises UsageError naming the source."""
    text = (setting.text or "").strip().lower()
    if text in ("on", "true", "yes", "1"):
        return True
    if text in ("off", "false", "no", "0"):
        return False
    raise UsageError(f"{setting.source}: expected on or off, got {setting.text!r}")


def non_negative_int(setting: Setting) -> int:
    """A whole number >= 0; raises UsageError naming the flag or variable."""
    text = _required(setting)
    if not text.strip().isdigit():
        raise UsageError(f"{setting.source}: expected a whole number >= 0, got {text!r}")
    return int(text)
