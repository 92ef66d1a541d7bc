"""Model package metadata in the characters SageMaker accepts (its pattern is ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$)."""

import pytest

from mlrollout.adapters.registry import MAX_METADATA_VALUE, metadata_value


def sagemaker_accepts(value: str) -> bool:
    return all(c.isalpha() or c.isnumeric() or c.isspace() or c in "_.:/=+-@" for c in value)


@pytest.mark.parametrize(
    ("summary", "stored"),
    [
        (
            "Canary v3: 5XX error rate 14.33% is above the 5.00% cap (fail).",
            "Canary v3: 5XX error rate 14.33 percent is above the 5.00 percent cap fail .",
        ),
        ("p99 < 500 ms, mean > 40 ms; 'ok'!", "p99 below 500 ms mean above 40 ms ok"),
        ("s3://bucket/models/m/v1/model.tar.gz", "s3://bucket/models/m/v1/model.tar.gz"),
        ("ünïcödé lettérs stay", "ünïcödé lettérs stay"),
        ("tabs\tand\nnewlines #hash", "tabs and newlines hash"),
    ],
)
def test_summaries_are_spelled_in_the_characters_sagemaker_accepts(summary: str, stored: str) -> None:
    assert metadata_value(summary) == stored
    assert sagemaker_accepts(metadata_value(summary))


def test_long_values_are_clipped_to_the_limit() -> None:
    value = metadata_value("x, " * 400)
    assert len(value) == MAX_METADATA_VALUE
    assert sagemaker_accepts(value)
