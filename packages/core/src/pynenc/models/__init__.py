"""Plain data transfer objects stored by backends."""
