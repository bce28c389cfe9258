"""Embeddings end to end: the emulator's embedding models checked with boto3 (InvokeModel in
Titan's and Cohere's native bodies), and `POST /v1/embeddings` on `strata demo` with the real
openai SDK — formats, sizes, batching, usage and cost, clear errors, and residency."""

from __future__ import annotations

import json
import math
import time

import boto3
import openai
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from openai import OpenAI

from gatewaylib import Demo
from simlib import NO_RETRIES

EU = {"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3"}
EMBEDDERS = {"amazon.titan-embed-text-v2:0", "cohere.embed-english-v3", "cohere.embed-multilingual-v3"}
PROD_US = ("AKIAPRODUS0000000001", "prod-us-secret-key-0000000000000000000001")
ADMIN = {"Authorization": "Bearer sk-demo-admin"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = Demo(tmp_path_factory.mktemp("demo"))
    yield {"gateway": f"http://127.0.0.1:{d.gw}", "sim": f"http://127.0.0.1:{d.sim}"}
    d.stop()


def aws(demo, service: str, region: str = "us-east-1"):
    return boto3.client(service, region_name=region, endpoint_url=demo["sim"], aws_access_key_id=PROD_US[0],
                        aws_secret_access_key=PROD_US[1], config=Config(retries=NO_RETRIES))


def client(demo, key: str = "sk-demo-us") -> OpenAI:
    return OpenAI(base_url=demo["gateway"] + "/v1", api_key=key, max_retries=0)


def tokens(text: str) -> int:
    """The emulator's count: a quarter of the characters, at least one a text."""
    return max(1, math.ceil(len(text) / 4))


def norm(v) -> float:
    return math.sqrt(sum(x * x for x in v))


def stats(demo) -> list[dict]:
    return requests.get(demo["sim"] + "/_sim/stats", timeout=10).json()["invocations"]


# ---- the emulator, with boto3 -------------------------------------------------------------------


def test_the_emulator_lists_embedding_models_by_output_modality(demo):
    bedrock = aws(demo, "bedrock")
    listed = bedrock.list_foundation_models(byOutputModality="EMBEDDING")["modelSummaries"]
    assert {m["modelId"] for m in listed} == EMBEDDERS
    for m in listed:
        assert m["outputModalities"] == ["EMBEDDING"] and m["inputModalities"] == ["TEXT"]
        assert m["responseStreamingSupported"] is False
        assert m["inferenceTypesSupported"] == ["ON_DEMAND"]
    text = {m["modelId"] for m in bedrock.list_foundation_models(byOutputModality="TEXT")["modelSummaries"]}
    assert not text & EMBEDDERS


def test_titan_invoke_model_answers_in_its_native_body(demo):
    rt = aws(demo, "bedrock-runtime", "eu-west-2")
    body = {"inputText": "The quick brown fox", "dimensions": 256, "normalize": True, "embeddingTypes": ["float", "binary"]}
    r = rt.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps(body))
    answer = json.loads(r["body"].read())
    assert len(answer["embedding"]) == 256 and abs(norm(answer["embedding"]) - 1) < 1e-3
    assert answer["inputTextTokenCount"] == tokens(body["inputText"])
    assert answer["embeddingsByType"]["float"] == answer["embedding"]
    assert set(answer["embeddingsByType"]["binary"]) <= {0, 1}
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"] == str(answer["inputTextTokenCount"])
    again = json.loads(rt.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps(body))["body"].read())
    assert again["embedding"] == answer["embedding"]
    default = json.loads(rt.invoke_model(modelId="amazon.titan-embed-text-v2:0",
                                         body=json.dumps({"inputText": "x"}))["body"].read())
    assert len(default["embedding"]) == 1024
    for bad in [{"inputText": "x", "dimensions": 300}, {"inputText": ""}, {"texts": ["x"]}]:
        with pytest.raises(ClientError) as e:
            rt.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps(bad))
        assert e.value.response["Error"]["Code"] == "ValidationException", bad


def test_cohere_invoke_model_answers_in_its_native_body(demo):
    rt = aws(demo, "bedrock-runtime", "us-east-1")
    texts = ["alpha", "beta gamma"]
    r = rt.invoke_model(modelId="cohere.embed-english-v3",
                        body=json.dumps({"texts": texts, "input_type": "search_document"}))
    answer = json.loads(r["body"].read())
    assert answer["response_type"] == "embeddings_floats" and answer["texts"] == texts
    assert [len(v) for v in answer["embeddings"]] == [1024, 1024]
    assert int(r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"]) == sum(map(tokens, texts))
    typed = json.loads(rt.invoke_model(
        modelId="cohere.embed-english-v3",
        body=json.dumps({"texts": texts, "input_type": "search_query", "embedding_types": ["float", "int8"]}))["body"].read())
    assert typed["response_type"] == "embeddings_by_type"
    assert typed["embeddings"]["float"] == answer["embeddings"]
    assert len(typed["embeddings"]["int8"][1]) == 1024
    with pytest.raises(ClientError) as e:
        rt.invoke_model(modelId="cohere.embed-english-v3", body=json.dumps({"texts": ["x"] * 97, "input_type": "clustering"}))
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_embedding_models_refuse_converse_and_streaming(demo):
    requests.post(demo["sim"] + "/_sim/reset", timeout=10)
    rt = aws(demo, "bedrock-runtime", "us-east-1")
    with pytest.raises(ClientError) as e:
        rt.converse(modelId="amazon.titan-embed-text-v2:0", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "doesn't support the model" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        rt.invoke_model_with_response_stream(modelId="cohere.embed-english-v3",
                                             body=json.dumps({"texts": ["x"], "input_type": "clustering"}))
    assert e.value.response["Error"]["Code"] == "ValidationException"
    rows = stats(demo)
    assert {(r["operation"], r["status"]) for r in rows} == {("Converse", 400), ("InvokeModelWithResponseStream", 400)}


# ---- the gateway, with the openai SDK -----------------------------------------------------------


def test_string_and_list_input_in_float_and_base64(demo):
    c = client(demo)
    one = c.embeddings.create(model="titan-embed", input="hello world", encoding_format="float")
    assert one.object == "list" and one.model == "titan-embed"
    assert len(one.data) == 1 and one.data[0].index == 0 and len(one.data[0].embedding) == 1024
    assert abs(norm(one.data[0].embedding) - 1) < 1e-3
    assert one.usage.prompt_tokens == one.usage.total_tokens == tokens("hello world")
    # The SDK's default asks for base64 and decodes it: the same vectors.
    many = c.embeddings.create(model="titan-embed", input=["hello world", "goodbye"])
    assert [d.index for d in many.data] == [0, 1]
    assert many.data[0].embedding == pytest.approx(one.data[0].embedding, abs=1e-6)
    assert many.data[1].embedding != many.data[0].embedding
    assert many.usage.prompt_tokens == tokens("hello world") + tokens("goodbye")
    raw = requests.post(demo["gateway"] + "/v1/embeddings", headers={"Authorization": "Bearer sk-demo-us"},
                        json={"model": "titan-embed", "input": "hello world", "encoding_format": "base64"}, timeout=30)
    assert raw.status_code == 200 and isinstance(raw.json()["data"][0]["embedding"], str)


@pytest.mark.parametrize("size", [256, 512])
def test_titan_dimensions(demo, size):
    r = client(demo).embeddings.create(model="titan-embed", input=["a", "b"], dimensions=size)
    assert [len(d.embedding) for d in r.data] == [size, size]


def test_cohere_list_input_is_batched_in_order(demo):
    requests.post(demo["sim"] + "/_sim/reset", timeout=10)
    c = client(demo)
    texts = [f"document number {i}" for i in range(100)]
    r = c.embeddings.create(model="cohere-embed", input=texts, encoding_format="float")
    assert len(r.data) == 100 and all(len(d.embedding) == 1024 for d in r.data)
    assert r.usage.prompt_tokens == sum(map(tokens, texts))
    # 96 texts a call: two InvokeModel calls for one request.
    rows = [x for x in stats(demo) if x["foundation_model"] == "cohere.embed-multilingual-v3"]
    assert sum(x["count"] for x in rows) == 2, rows
    alone = c.embeddings.create(model="cohere-embed", input=texts[97], encoding_format="float")
    assert alone.data[0].embedding == r.data[97].embedding


def test_bad_requests_get_clear_openai_errors(demo):
    c = client(demo)
    cases = [
        (dict(model="titan-embed", input=[[1, 2, 3]]), openai.BadRequestError, "input"),
        (dict(model="titan-embed", input=[1, 2, 3]), openai.BadRequestError, "input"),
        (dict(model="titan-embed", input=""), openai.BadRequestError, "input"),
        (dict(model="titan-embed", input="x", dimensions=300), openai.BadRequestError, "dimensions"),
        (dict(model="cohere-embed", input="x", dimensions=256), openai.BadRequestError, "dimensions"),
        (dict(model="no-such-model", input="x"), openai.NotFoundError, "model"),
        (dict(model="claude-haiku", input="x"), openai.BadRequestError, "model"),
    ]
    for kwargs, error, param in cases:
        with pytest.raises(error) as e:
            c.embeddings.create(encoding_format="float", **kwargs)
        body = e.value.body
        assert body["param"] == param, (kwargs, body)
        assert body["message"], kwargs
    with pytest.raises(openai.BadRequestError) as e:
        c.embeddings.create(model="titan-embed", input="x", dimensions=300, encoding_format="float")
    assert "256" in e.value.body["message"] and "300" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        c.embeddings.create(model="claude-haiku", input="x")
    assert "not an embedding model" in e.value.body["message"]
    # A chat call to an embedding model is refused before anything is sent upstream.
    requests.post(demo["sim"] + "/_sim/reset", timeout=10)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="titan-embed", messages=[{"role": "user", "content": "hi"}])
    assert "embedding model" in e.value.body["message"]
    assert stats(demo) == []


def test_usage_and_cost_are_recorded(demo):
    c = client(demo, "sk-demo-global")
    text = "x" * 400
    for _ in range(3):
        c.embeddings.create(model="titan-embed", input=text)
    # The Bedrock-native API passes Titan's own body through, and is accounted the same way.
    rt = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=demo["gateway"],
                      aws_access_key_id="AKIASTRATADEMOGL0001",
                      aws_secret_access_key="strata-demo-lab-secret-00000000000000001", config=Config(retries=NO_RETRIES))
    native = json.loads(rt.invoke_model(modelId="titan-embed", body=json.dumps({"inputText": "y" * 40}))["body"].read())
    assert len(native["embedding"]) == 1024
    deadline = time.monotonic() + 15
    while True:
        rows = requests.get(demo["gateway"] + "/admin/usage", headers=ADMIN, timeout=10,
                            params={"tenant": "lab", "model": "titan-embed", "group_by": "tenant_model"}).json()["rows"]
        if rows and rows[0]["requests"] >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    row = rows[0]
    assert row["requests"] == 4 and row["errors"] == 0, row
    assert row["input_tokens"] == 310 and row["output_tokens"] == 0, row
    # Titan Text Embeddings V2: $0.02 per million input tokens.
    assert row["cost_usd"] == pytest.approx(310 * 0.02 / 1e6), row


def test_eu_embeddings_run_only_in_eu_regions(demo):
    requests.post(demo["sim"] + "/_sim/reset", timeout=10)
    eu = client(demo, "sk-demo-eu")
    for model in ["titan-embed", "cohere-embed"]:
        for i in range(4):
            r = eu.embeddings.create(model=model, input=[f"eu text {i}", "more"])
            assert len(r.data) == 2
    rows = stats(demo)
    assert rows and {r["region"] for r in rows} <= EU, rows
    assert {r["foundation_model"] for r in rows} == {"amazon.titan-embed-text-v2:0", "cohere.embed-multilingual-v3"}
    assert all(r["operation"] == "InvokeModel" and r["status"] == 200 for r in rows), rows

    requests.post(demo["sim"] + "/_sim/reset", timeout=10)
    us = client(demo, "sk-demo-us")
    us.embeddings.create(model="titan-embed", input="us text")
    rows = stats(demo)
    assert rows and all(r["region"].startswith("us-") for r in rows), rows
    assert "titan-embed" in {m.id for m in eu.models.list().data}
