"""Rule sources: one module per vendor turns its native files into `Rule`s of the IR."""
