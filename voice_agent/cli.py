"""Command line entry point: `voice-agent <command>`; each command is a module in commands/."""

from __future__ import annotations

import argparse
import ctypes
import importlib
import logging
import sys

from .stages.base import StageError

# One line per subcommand module (voice_agent/commands/<name>.py with register()).
COMMANDS = ["bench", "respond", "doctor", "serve", "talk", "devices", "phone_sim"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="voice-agent", description="Real-time full-duplex voice agent.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's per-thread malloc arenas (default 8 per core).

    Model calls run on many worker threads; each would otherwise keep its own
    arena of freed buffers, and a process serving several sessions grows by
    tens of MB per extra session for nothing. No-op off glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    # The process's own symbols include libc's: no library search (find_library runs ldconfig).
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(ctypes.c_int(-8), ctypes.c_int(arenas))  # -8: M_ARENA_MAX


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `voice-agent` console script."""
    limit_malloc_arenas()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.run(args))
    except StageError as exc:
        print(f"voice-agent: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
