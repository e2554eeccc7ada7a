"""Internals of the ``sinch-async`` command line (see :mod:`sinch_async.cli`).

Nothing here imports ``rich`` at module level: the progress bar imports it lazily and
falls back to plain text when it is not installed.
"""
