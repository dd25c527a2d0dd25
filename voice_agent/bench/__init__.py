"""The latency benchmark: recorded speech fed in real time, per-turn breakdowns."""
