"""Orchestrators own invocation statuses and scheduling decisions."""
