"""Pure core: turn-taking, endpointing, chunking. No asyncio, no clock, no I/O."""
