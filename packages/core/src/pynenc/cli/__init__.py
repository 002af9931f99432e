"""The ``pynenc`` command line: runners, configuration, invocations and the conformance suite.

Entry point :func:`pynenc.cli.main.main`. Commands import what they need when they run, so
``pynenc --help`` stays fast.
"""
