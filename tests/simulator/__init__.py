"""Tests of the local Sinch SMS API simulator (sinch_async.testing)."""
