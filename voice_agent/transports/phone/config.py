"""Settings of the phone bridge (the serve command fills them from its flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass
class PhoneConfig:
    """Public address, carrier credentials and pacing of phone calls."""

    public_url: str | None = None  # e.g. https://agent.example.com (the gateway as the carrier sees it)
    twilio_auth_token: str | None = field(default_factory=lambda: os.environ.get("TWILIO_AUTH_TOKEN") or None)
    webhook_host: str = "127.0.0.1"
    webhook_port: int | None = None  # the POST webhook listener (None: not started)
    max_carrier_lead_s: float = 0.2  # audio queued at the carrier beyond real time; less is crisper barge-in
    # Networks and handsets cancel line and acoustic echo; the session's echo guard
    # would time its reference by when audio is sent, a network delay too early,
    # and only hold back real barge-ins (measured: +0.5 s on a soft onset).
    echo_guard: bool | None = False  # None: as the gateway's session config says
    max_bad_messages: int = 50  # a stream this broken is ended
    greeting_params: dict[str, str] = field(default_factory=dict)  # extra <Parameter>s in the TwiML
