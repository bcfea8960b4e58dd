"""Reading ELF binaries: facts, Go build info, attribution. Nothing here executes them."""
