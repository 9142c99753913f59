"""`python -m registry --listen HOST:PORT --db PATH [--token-file FILE]`.

A minimal entry point; the full CLI (`toolmesh registry`) builds the same RegistryOptions.
"""

from __future__ import annotations

import argparse
import sys

from registry.options import DEFAULT_DB, DEFAULT_LISTEN, RegistryOptions
from registry.server import main


def _options(argv: list[str]) -> RegistryOptions:
    parser = argparse.ArgumentParser(
        prog="python -m registry", description="Runs the toolmesh registry."
    )
    parser.add_argument(
        "--listen", default=DEFAULT_LISTEN, help=f"gRPC address (default {DEFAULT_LISTEN})"
    )
    parser.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default {DEFAULT_DB})")
    parser.add_argument("--token-file", help="file holding the bearer token required on changes")
    arguments = parser.parse_args(argv)
    token = None
    if arguments.token_file is not None:
        where = f"toolmesh registry: error: --token-file {arguments.token_file}"
        try:
            with open(arguments.token_file, encoding="utf-8") as stream:
                token = stream.read().strip()
        except OSError as error:
            parser.exit(2, f"{where}: {error.strerror}\n")
        if not token:
            parser.exit(2, f"{where}: the file is empty\n")
    return RegistryOptions(listen=arguments.listen, db=arguments.db, token=token)


if __name__ == "__main__":
    sys.exit(main(_options(sys.argv[1:])))
