"""The judge benchmark: simulated SageMaker variant metrics, whole rollouts under the product's policy against an
SPRT and a static rule, and a per-step comparison, in one report.

    python -m mlrollout_bench.run [--rollout-seeds 1000] [--seeds 300] [--quick]

simulate.py makes the per-period CloudWatch values of a baseline and a canary variant; judges.py holds the
decision rules compared on identical streams; run.py runs them, checks issue 11's targets and writes
bench/results/.
"""
