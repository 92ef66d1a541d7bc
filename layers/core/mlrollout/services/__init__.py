"""Use cases, one module per state of the rollout; each takes its ports explicitly."""
