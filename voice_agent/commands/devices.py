"""`voice-agent devices`: the microphones and speakers PortAudio can see."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..transports.local_audio import AudioDeviceError, format_devices, list_devices, load_sounddevice


def register(sub: Any) -> None:
    """Add the `devices` parser."""
    p = sub.add_parser("devices", help="list sound devices with their default rates (for `talk`)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per device; '>' marks the default input, '<' the default output."""
    try:
        sd = load_sounddevice()
        devices = list_devices(sd)
    except AudioDeviceError as exc:
        print(f"voice-agent devices: {exc}", file=sys.stderr)
        return 2
    if not devices:
        print("no sound devices found (is a sound server such as PulseAudio or PipeWire running?)")
        return 1
    print(format_devices(devices))
    print("\n'>' default input, '<' default output; pick others with `talk --input-device N --output-device N`")
    return 0
