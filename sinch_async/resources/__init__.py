"""Resource groups of the SMS API: thin wrappers that state path, body and response type."""
