"""core/kernels."""
