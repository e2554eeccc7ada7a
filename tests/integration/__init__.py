"""Integration tests: the client against the SinchSimulator over real HTTP."""
