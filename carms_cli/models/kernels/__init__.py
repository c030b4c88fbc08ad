"""Compiled kernels of the models: all of a minibatch's variables at once."""
