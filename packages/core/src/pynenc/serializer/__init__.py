"""Serializers turn arguments, results and exceptions into strings and back."""

from pynenc.serializer.base_serializer import BaseSerializer
from pynenc.serializer.json_serializer import JsonSerializer
from pynenc.serializer.pickle_serializer import PickleSerializer

__all__ = ["BaseSerializer", "JsonSerializer", "PickleSerializer"]
