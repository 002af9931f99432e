"""Triggers start tasks on conditions: cron, events, other tasks' statuses, results, errors."""
