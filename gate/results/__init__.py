"""The results document, gate/results/v1: its format (schema.py, checked with spec.py),
built from measurements (build.py), read back (validate.py); and gate size's document,
gate/size/v1 (size.py). One owner per document, so a key is added in one place.
"""
