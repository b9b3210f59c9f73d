"""Simulator and benchmark for the Marstek strategy (no Home Assistant needed)."""
