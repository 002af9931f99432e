"""Brokers queue invocation ids for runners."""
