"""Small shared utilities: the clock, bounded caches, import helpers."""
