"""The judge benchmark: simulated SageMaker variant metrics, our judge against two baselines, a report.

    python -m mlrollout_bench.run [--seeds 200] [--quick]

simulate.py makes the per-period CloudWatch values of a baseline and a canary variant; judges.py holds the
decision rules compared on identical streams; run.py tunes, evaluates and writes bench/results/.
"""
