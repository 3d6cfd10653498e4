"""Integrity checks for scheduled runs: package fixity (`archiver verify`) and watch over the
original sources (`archiver check-sources`). Both read only the archive folder (and, for
sources, the network); neither needs the fetch or package stages to run first."""
