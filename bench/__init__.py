"""tallrec-bench: the harness (data -> samples -> few-shot splits -> runner -> store -> report)."""
