"""voice_agent: a real-time, full-duplex voice agent on local models."""

import os

# OpenMP (llama.cpp's and CTranslate2's libgomp) reads this once, when first loaded.
# Its default lets an idle thread spin ~20 ms after each parallel region: a reply
# decoding on 2 threads then took that core from the first clause's synthesis
# (first-clause TTS 73 -> 94 ms median, bench turns). 1,000 spins keep the
# barriers inside a token as fast (18.4 ms/token on 1 thread, 10.8 on 2; 0 spins:
# 32.7 on 2) and Whisper's decode unchanged (78 ms on a 2.3 s clip).
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

__version__ = "0.1.0"
