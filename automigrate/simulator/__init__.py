"""Simulated clusters: trace replay (traces, replay) and, later, the live simulator."""
