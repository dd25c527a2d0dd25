"""Subcommands of `voice-agent`, one module each, each with `register(subparsers)`.

A module registers its parser with `set_defaults(run=...)`; `run(args)` returns
the exit code. Keep heavy imports inside `run` so `voice-agent --help` is fast.
"""
