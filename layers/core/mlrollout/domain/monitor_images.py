"""SageMaker Model Monitor's analyzer image (sagemaker-model-monitor-analyzer): its registry per region.

Source: the registries the SageMaker Python SDK resolves for "model-monitor" (image_uri_config), 2020 onward.
A region missing here needs the stack parameter ModelMonitorImageUri.
"""

from __future__ import annotations

from mlrollout.domain.errors import ConfigInvalid

REGISTRIES = {
    "ap-east-1": "001633400207",
    "ap-northeast-1": "574779866223",
    "ap-northeast-2": "709848358524",
    "ap-south-1": "126357580389",
    "ap-southeast-1": "245545462676",
    "ap-southeast-2": "563025443158",
    "ca-central-1": "536280801234",
    "cn-north-1": "453000072557",
    "cn-northwest-1": "453252182341",
    "eu-central-1": "048819808253",
    "eu-north-1": "895015795356",
    "eu-west-1": "468650794304",
    "eu-west-2": "749857270468",
    "eu-west-3": "680080141114",
    "me-south-1": "607024016150",
    "sa-east-1": "539772159869",
    "us-east-1": "156813124566",
    "us-east-2": "777275614652",
    "us-west-1": "890145073186",
    "us-west-2": "159807026194",
}


def analyzer_image(region: str) -> str:
    registry = REGISTRIES.get(region)
    if registry is None:
        raise ConfigInvalid(
            f"mlrollout does not know Model Monitor's analyzer image for region {region}",
            fix="set the stack parameter ModelMonitorImageUri to the analyzer image of your region",
        )
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{registry}.dkr.ecr.{region}.{suffix}/sagemaker-model-monitor-analyzer"
