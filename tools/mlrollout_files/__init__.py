"""The files users hand to mlrollout, made and checked on their machine: a model directory packaged as
`model.tar.gz` (package.py) and a sample of a model's input made into a baseline (samples.py). Shared by the CLI, the
sandbox and the benchmarks, so that none of them imports another for them; they import only the runtime library."""
