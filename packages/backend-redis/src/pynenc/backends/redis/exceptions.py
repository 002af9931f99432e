"""Errors of the Redis backend; each message says what to do and never shows a password."""

from __future__ import annotations

from pynenc.exceptions import BackendAccessError, BackendError, ConfigError


class RedisConfigError(ConfigError):
    """The connection settings cannot be turned into a Redis connection (a malformed URL)."""


class RedisUnavailableError(BackendAccessError):
    """The server could not be reached within the retries a client is allowed."""


class RedisAuthenticationError(BackendAccessError):
    """The server refused the configured user name or password."""


class RedisKeyTypeError(BackendError):
    """A key under the app's prefix holds a value of another type than pynenc writes there."""


class RedisValueTooLargeError(BackendError):
    """A value is larger than the server accepts in one command; nothing was written."""


class RedisCommandError(BackendError):
    """The server refused a command for another reason (out of memory, read-only replica...)."""


class RedisRegistrationError(BackendError):
    """Calls queued for registration in the background (:mod:`pynenc.backends.redis.outbox`)
    could not be stored: the server stayed unreachable, or refused them."""
