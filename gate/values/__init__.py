"""Pure value code below measuring, judging and rendering: units, statistics and their
comparisons, the envelope's description, escaping, the wording a check and a report
share. Nothing here reads a file, starts a process or imports a layer above it."""
