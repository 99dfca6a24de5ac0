"""Wire formats: pure codecs and validation, no I/O."""
