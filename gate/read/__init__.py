"""Reading binaries: facts, Go build info, toolchain, where the bytes are. Nothing here
executes them, and nothing here judges or renders: the layers above take what it returns."""
