"""Small .proto files the CLI tests compile and register."""

from __future__ import annotations

from pathlib import Path

COMMON = """\
syntax = "proto3";
package demo.v1;

// A greeting's language.
enum Language {
  LANGUAGE_UNSPECIFIED = 0;
  LANGUAGE_EN = 1;
}
"""

GREETER = """\
syntax = "proto3";
package demo.v1;

import "demo/v1/common.proto";
import "google/protobuf/timestamp.proto";

// Says hello.
service Greeter {
  // Greets one person.
  rpc Greet(GreetRequest) returns (GreetResponse);
}

message GreetRequest {
  string name = 1;
  Language language = 2;
}

message GreetResponse {
  string text = 1;
  google.protobuf.Timestamp at = 2;
}
"""

# Line 3, column 31: the field lacks its `;`.
MALFORMED = """\
syntax = "proto3";
package demo.v1;
message Broken { string a = 1 }
"""

NO_SERVICE = """\
syntax = "proto3";
package demo.v1;
message Lonely { string a = 1; }
"""


def write_greeter(root: Path) -> tuple[Path, Path]:
    """Writes `root/demo/v1/{common,greeter}.proto`; returns (include dir, greeter.proto)."""
    package = root / "demo" / "v1"
    package.mkdir(parents=True, exist_ok=True)
    (package / "common.proto").write_text(COMMON)
    greeter = package / "greeter.proto"
    greeter.write_text(GREETER)
    return root, greeter


# A stand-in for Greeter (same message types), and the same tool changed to take another
# request type: a fallback the first fits and the second does not.
BACKUP = """\
syntax = "proto3";
package demo.v1;

import "demo/v1/greeter.proto";

// Greets when Greeter cannot.
service BackupGreeter {
  // Greets one person.
  rpc Greet(GreetRequest) returns (GreetResponse);
}
"""

CHANGED_BACKUP = """\
syntax = "proto3";
package demo.v1;

import "demo/v1/greeter.proto";

// Greets when Greeter cannot, from a request of its own.
service BackupGreeter {
  // Greets one person.
  rpc Greet(BackupRequest) returns (GreetResponse);
}

message BackupRequest {
  string name = 1;
}
"""


def write_backup(root: Path, text: str = BACKUP) -> Path:
    """Writes `root/demo/v1/backup.proto` (beside `write_greeter`'s files, which it imports)."""
    backup = root / "demo" / "v1" / "backup.proto"
    backup.parent.mkdir(parents=True, exist_ok=True)
    backup.write_text(text)
    return backup
