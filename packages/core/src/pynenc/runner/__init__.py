"""Runners execute invocations."""
