"""discrete/exact."""
