"""CI systems, forges and baselines: artifacts, comments, matrices, history. Networks and
tokens live here, at the edge; what they fetch is read through gate.fetch."""
