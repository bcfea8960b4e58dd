"""Policies, checks and verdicts: pure functions over the results document's JSON form, so
a fresh measurement, a saved result and a baseline are judged alike."""
