"""The operator's side: the `mlrollout` command line (against AWS or the sandbox)."""
