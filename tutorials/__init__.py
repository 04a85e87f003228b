"""This repository's tutorial networks registered as any project registers its own: their cases, findings,
bug catalogue and seed sweep.  Not part of the installed library."""
