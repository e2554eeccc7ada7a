"""``python -m sinch_async`` / ``sinch-async``: the command-line entry point.

``demo`` and ``serve`` are dispatched here as before (they need neither argparse setup
nor rich); every other command goes to :mod:`sinch_async.cli`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # The command is the first word that is not an option (global options are flags only).
    position = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    command = None if position is None else args[position]
    rest = [] if position is None else args[position + 1 :]
    if command == "demo":
        from sinch_async._demo import main_demo

        return main_demo(rest)
    if command == "serve":
        from sinch_async.testing.__main__ import main as serve_main

        return serve_main(["serve", *rest])

    from sinch_async.cli import COMMANDS, build_parser
    from sinch_async.cli import main as cli_main

    if command is not None and command not in COMMANDS:
        sys.stderr.write(f"unknown command {command!r}\n\n{build_parser().format_usage()}")
        return 2
    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
