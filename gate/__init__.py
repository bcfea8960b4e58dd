"""gate: may this build ship? Measures a built ELF binary and judges it against a policy."""

__version__ = "0.1.0"
