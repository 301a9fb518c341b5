"""The Python API: warehouse-backed operations, typed in and out, under the CLI and the batch."""
