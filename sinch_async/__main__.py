"""``python -m sinch_async`` / ``sinch-async``: the command-line entry point."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: python -m sinch_async COMMAND [options]

commands:
  demo     run a demo campaign against the embedded simulator (no credentials needed)
  serve    run the local Sinch simulator (same as python -m sinch_async.testing serve)
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "demo":
        from sinch_async._demo import main_demo

        return main_demo(rest)
    if command == "serve":
        from sinch_async.testing.__main__ import main as serve_main

        return serve_main(["serve", *rest])
    sys.stderr.write(f"unknown command {command!r}\n\n{USAGE}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
