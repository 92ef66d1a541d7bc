"""Rollout policy, the canary judge, naming, validation rules and messages: pure Python, no AWS SDK."""
