"""Invocations: execution requests of calls, with ids, statuses and histories."""
