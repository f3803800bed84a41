"""Measures of what a generator learned."""
