"""discrete/sampling."""
