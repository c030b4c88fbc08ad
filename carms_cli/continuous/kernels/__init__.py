"""Compiled kernels of the continuous family (CPU and CUDA from one trial source) and its NumPy backend."""
