"""Developer tooling: template and state-machine checks, cold-start and size measurements."""
