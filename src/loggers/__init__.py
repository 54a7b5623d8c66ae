"""Loggers Lightning almost provides."""
