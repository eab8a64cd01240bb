"""Inspect AI entry point: importing this module registers the polistance tasks."""
