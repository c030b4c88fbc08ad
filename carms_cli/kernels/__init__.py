"""Numba kernels. ``trial`` holds the per-trial logic (scalar, allocation-free, shared by every
target); ``cpu`` drives it over trials in parallel chunks."""
