"""A fraud scorer in SageMaker's inference-toolkit layout: model_fn, input_fn, predict_fn, output_fn."""

import json
import math
import os


def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.json")) as handle:
        return json.load(handle)


def input_fn(body, content_type):
    if content_type != "application/json":
        raise ValueError(f"unsupported content type {content_type}")
    return json.loads(body)["features"]


def predict_fn(features, model):
    weights = model["weights"]
    # Unknown merchants get the average risk: new merchant categories appear all the time.
    risks = model["merchant_risk"]
    risk = risks.get(features["merchant"], sum(risks.values()) / len(risks))
    night = 1.0 if features["hour"] < 6 else 0.0
    z = model["bias"] + weights["amount_log"] * math.log1p(features["amount"]) + weights["night"] * night + risk
    return 1.0 / (1.0 + math.exp(-z))


def output_fn(score, accept):
    return json.dumps({"fraud_probability": round(score, 6), "flag": score > 0.5})
