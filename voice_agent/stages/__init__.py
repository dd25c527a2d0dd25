"""Stage protocols and their backends, one file per backend."""
