"""PCM frames, resampling and WAV I/O."""
