"""Developer tools for the sandbox (not used at run time)."""
