"""One generic test class (a mixin, not collected by itself) per component contract."""
