"""The pure detector core: numpy (and river) only, no torch, no I/O, no event loop."""
