"""Notebook 08 (every negative, side by side) sets no exercise: it trains nothing and reads the
runs of notebooks 01-07. This module is here so that every notebook has its solutions module."""
