"""discrete/kernels."""
