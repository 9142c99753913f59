"""The one error of configuration: a policy (or policy file) that cannot be used."""

from __future__ import annotations

from collections.abc import Sequence


class ConfigError(ValueError):
    """Every problem found in a configuration, each naming its field and the bad value.

    `problems` lists them all (validation never stops at the first); `str()` joins them
    with "; " for one-line reports.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        if not problems:
            raise ValueError("a ConfigError needs at least one problem")
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("; ".join(self.problems))
