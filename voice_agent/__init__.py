"""voice_agent: a real-time, full-duplex voice agent on local models."""

__version__ = "0.1.0"
