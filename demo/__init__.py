"""The demo and the end-to-end harness: the sandbox, the inbox and `meltano run` together."""
