"""Replay benchmarks: the NAB corpus and its scoring rules, and baselines beside us."""
