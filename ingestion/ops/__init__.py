"""Operator tools, layer 5: the command line (`python -m ingestion`), scaffold, the manifest the
deploy scripts read, and the progress display. Not shipped with the deployed function.

Imports: everything, and `local` (the local stack) for `--local`.
"""
