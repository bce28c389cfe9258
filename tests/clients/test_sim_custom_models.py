"""Custom Model Import in the emulator with real boto3 clients (bedrock + bedrock-runtime):
the control plane's shapes and job lifecycle, each architecture's native InvokeModel body and its
stream, Converse where AWS allows it, cold start (429 ModelNotReadyException until loaded), and
copies that scale out under concurrent load and back in when idle.

Seeded models (default fleet): apexguru-qwen (Qwen 13B) in prod-us us-east-1 (warm) and us-west-2
(cold); eu-support-llama-8b in prod-eu eu-central-1 (warm). Time is scaled down through
`POST /_sim/custom-models`."""

from __future__ import annotations

import json
import threading
import time

import botocore.exceptions
import pytest

from simlib import error_code, status_of, user, wait_until

QWEN_EAST = "arn:aws:bedrock:us-east-1:111111111111:imported-model/apxqwenuse01"
QWEN_WEST = "arn:aws:bedrock:us-west-2:111111111111:imported-model/apxqwenusw02"
LLAMA_EU = "arn:aws:bedrock:eu-central-1:222222222222:imported-model/llama8beuc01"
ROLE = "arn:aws:iam::111111111111:role/BedrockImport"


def account(sim, name: str) -> dict:
    return next(a for a in sim.fleet.accounts if a["name"] == name)


def settings(sim, **changes) -> dict:
    r = sim.post("/_sim/custom-models", changes)
    assert r.status_code == 200, r.text
    return r.json()


def model_row(sim, arn: str) -> dict:
    return next(m for m in sim.stats()["imported_models"] if m["arn"] == arn)


def import_model(sim, bedrock, name: str, uri: str, region="us-east-1") -> str:
    """Creates an import job, waits for it to complete, returns the model ARN."""
    settings(sim, time_scale=0.001)
    client = bedrock(account(sim, "prod-us"), region)
    job = client.create_model_import_job(
        jobName=f"job-{name}", importedModelName=name, roleArn=ROLE,
        modelDataSource={"s3DataSource": {"s3Uri": uri}},
    )
    done = wait_until(lambda: (j := client.get_model_import_job(jobIdentifier=job["jobArn"]))["status"] == "Completed" and j)
    return done["importedModelArn"]


def invoke(runtime_client, arn: str, body: dict) -> dict:
    out = runtime_client.invoke_model(modelId=arn, body=json.dumps(body))
    return json.loads(out["body"].read())


def stream_chunks(runtime_client, arn: str, body: dict) -> list[dict]:
    out = runtime_client.invoke_model_with_response_stream(modelId=arn, body=json.dumps(body))
    return [json.loads(e["chunk"]["bytes"]) for e in out["body"] if "chunk" in e]


# ---- control plane ---------------------------------------------------------------------------


def test_seeded_models_are_listed_with_fixed_arns(sim, bedrock):
    east = bedrock(account(sim, "prod-us"), "us-east-1")
    summaries = east.list_imported_models()["modelSummaries"]
    assert [m["modelArn"] for m in summaries] == [QWEN_EAST]
    assert summaries[0]["modelName"] == "apexguru-qwen"
    assert summaries[0]["modelArchitecture"] == "qwen"
    assert summaries[0]["instructSupported"] is False
    got = east.get_imported_model(modelIdentifier="apexguru-qwen")
    assert got["modelArn"] == QWEN_EAST
    assert got["customModelUnits"] == {"customModelUnitsPerModelCopy": 1, "customModelUnitsVersion": "v1.0"}
    assert got["modelDataSource"]["s3DataSource"]["s3Uri"].startswith("s3://")
    # Same name, its own ID in us-west-2; nothing of prod-us's in eu-central-1.
    west = bedrock(account(sim, "prod-us"), "us-west-2")
    assert west.get_imported_model(modelIdentifier=QWEN_WEST)["modelName"] == "apexguru-qwen"
    assert bedrock(account(sim, "prod-us"), "eu-central-1").list_imported_models()["modelSummaries"] == []
    eu = bedrock(account(sim, "prod-eu"), "eu-central-1")
    assert eu.get_imported_model(modelIdentifier=LLAMA_EU)["instructSupported"] is True


def test_import_job_lifecycle(sim, bedrock):
    client = bedrock(account(sim, "prod-us"), "us-east-1")
    settings(sim, time_scale=0.05)  # a 13B import (370 s) takes 18.5 s: still running below
    job = client.create_model_import_job(
        jobName="apexguru-v2", importedModelName="apexguru-v2", roleArn=ROLE,
        modelDataSource={"s3DataSource": {"s3Uri": "s3://salesforce-models/apexguru-qwen2.5-13b/"}},
        clientRequestToken="token-1",
    )
    assert job["ResponseMetadata"]["HTTPStatusCode"] == 201
    arn = job["jobArn"]
    assert arn.startswith("arn:aws:bedrock:us-east-1:111111111111:model-import-job/") and len(arn.rsplit("/", 1)[1]) == 12
    # The same client token returns the same job.
    again = client.create_model_import_job(
        jobName="apexguru-v2", importedModelName="apexguru-v2", roleArn=ROLE,
        modelDataSource={"s3DataSource": {"s3Uri": "s3://salesforce-models/apexguru-qwen2.5-13b/"}},
        clientRequestToken="token-1",
    )
    assert again["jobArn"] == arn
    got = client.get_model_import_job(jobIdentifier=arn)
    assert got["status"] == "InProgress" and "importedModelArn" not in got and "endTime" not in got
    assert got["roleArn"] == ROLE and got["importedModelName"] == "apexguru-v2"
    running = client.list_model_import_jobs(statusEquals="InProgress")["modelImportJobSummaries"]
    assert [j["jobArn"] for j in running] == [arn]
    assert "apexguru-v2" not in [m["modelName"] for m in client.list_imported_models()["modelSummaries"]]

    settings(sim, time_scale=0.001)  # jobs keep the duration they started with
    done = wait_until(lambda: (j := client.get_model_import_job(jobIdentifier="apexguru-v2"))["status"] == "Completed" and j, timeout=30)
    model_arn = done["importedModelArn"]
    assert done["endTime"] >= done["creationTime"]
    model = client.get_imported_model(modelIdentifier=model_arn)
    assert (model["modelName"], model["jobArn"], model["modelArchitecture"]) == ("apexguru-v2", arn, "qwen")
    assert client.list_imported_models(nameContains="v2")["modelSummaries"][0]["modelArn"] == model_arn
    assert client.list_model_import_jobs(statusEquals="Completed")["modelImportJobSummaries"][0]["importedModelArn"] == model_arn

    client.delete_imported_model(modelIdentifier="apexguru-v2")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client.get_imported_model(modelIdentifier=model_arn)
    assert error_code(e.value) == "ResourceNotFoundException" and status_of(e.value) == 404


def test_control_plane_errors(sim, bedrock):
    client = bedrock(account(sim, "prod-us"), "us-east-1")
    source = {"s3DataSource": {"s3Uri": "s3://bucket/llama-8b/"}}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client.create_model_import_job(jobName="j1", importedModelName="apexguru-qwen", roleArn=ROLE, modelDataSource=source)
    assert error_code(e.value) == "ConflictException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client.create_model_import_job(jobName="j1", importedModelName="m1", roleArn="not-a-role", modelDataSource=source)
    assert error_code(e.value) == "ValidationException" and "roleArn" in str(e.value)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client.get_model_import_job(jobIdentifier="nosuchjob")
    assert error_code(e.value) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client.delete_imported_model(modelIdentifier="nosuchmodel")
    assert error_code(e.value) == "ResourceNotFoundException"
    # A job whose weights are of an unsupported architecture fails.
    settings(sim, time_scale=0.001)
    job = client.create_model_import_job(
        jobName="j-bad", importedModelName="bad", roleArn=ROLE,
        modelDataSource={"s3DataSource": {"s3Uri": "s3://bucket/unsupported-arch/"}},
    )
    failed = wait_until(lambda: (j := client.get_model_import_job(jobIdentifier=job["jobArn"]))["status"] != "InProgress" and j)
    assert failed["status"] == "Failed" and failed["failureMessage"]


def test_jobs_paginate(sim, bedrock):
    client = bedrock(account(sim, "prod-us"), "us-east-1")
    for i in range(3):
        client.create_model_import_job(
            jobName=f"page-{i}", importedModelName=f"page-{i}", roleArn=ROLE,
            modelDataSource={"s3DataSource": {"s3Uri": f"s3://bucket/llama-{i + 1}b/"}},
        )
    first = client.list_model_import_jobs(maxResults=2, sortOrder="Ascending")
    assert [j["jobName"] for j in first["modelImportJobSummaries"]] == ["page-0", "page-1"]
    rest = client.list_model_import_jobs(maxResults=2, sortOrder="Ascending", nextToken=first["nextToken"])
    assert [j["jobName"] for j in rest["modelImportJobSummaries"]] == ["page-2"] and "nextToken" not in rest
    pages = client.get_paginator("list_model_import_jobs").paginate(PaginationConfig={"PageSize": 1})
    assert sum(len(p["modelImportJobSummaries"]) for p in pages) == 3


# ---- runtime: native bodies, streams, Converse ----------------------------------------------


def test_qwen_completion_and_chat_bodies(sim, runtime):
    rt = runtime(account(sim, "prod-us"), "us-east-1")
    out = invoke(rt, QWEN_EAST, {"prompt": "Review this Apex trigger.", "max_gen_len": 5, "temperature": 0.2})
    assert set(out) == {"generation", "prompt_token_count", "generation_token_count", "stop_reason"}
    assert out["generation_token_count"] == 5 and out["stop_reason"] == "length"
    chat = invoke(rt, QWEN_EAST, {"messages": [{"role": "user", "content": "Review this Apex trigger."}], "max_tokens": 64})
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"]["role"] == "assistant" and chat["choices"][0]["message"]["content"]
    assert chat["usage"]["total_tokens"] == chat["usage"]["prompt_tokens"] + chat["usage"]["completion_tokens"]
    chunks = stream_chunks(rt, QWEN_EAST, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 12})
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert len(text.split()) == 12
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(rt, QWEN_EAST, {"max_gen_len": 5})
    assert error_code(e.value) == "ValidationException"


def test_qwen_refuses_converse_as_aws_does(sim, runtime):
    rt = runtime(account(sim, "prod-us"), "us-east-1")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        rt.converse(modelId=QWEN_EAST, messages=[user("hi")])
    assert error_code(e.value) == "ValidationException"


def test_llama_native_body_stream_and_converse(sim, runtime):
    rt = runtime(account(sim, "prod-eu"), "eu-central-1")
    out = invoke(rt, LLAMA_EU, {"prompt": "Bonjour", "max_gen_len": 7})
    assert out["generation_token_count"] == 7 and out["stop_reason"] == "length"
    chunks = stream_chunks(rt, LLAMA_EU, {"prompt": "Bonjour", "max_gen_len": 9})
    assert chunks[-1]["generation_token_count"] == 9 and chunks[-1]["stop_reason"] == "length"
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 9
    answer = rt.converse(modelId=LLAMA_EU, messages=[user("Bonjour")], inferenceConfig={"maxTokens": 4})
    assert answer["stopReason"] == "max_tokens" and answer["usage"]["outputTokens"] == 4
    events = list(rt.converse_stream(modelId=LLAMA_EU, messages=[user("Bonjour")])["stream"])
    assert any("messageStop" in e for e in events) and any("metadata" in e for e in events)


def test_mistral_import_serves_its_native_body(sim, bedrock, runtime):
    arn = import_model(sim, bedrock, "support-mistral", "s3://bucket/mistral-7b-instruct/")
    rt = runtime(account(sim, "prod-us"), "us-east-1")
    out = invoke(rt, arn, {"prompt": "<s>[INST] hi [/INST]", "max_tokens": 6})
    assert out["outputs"][0]["stop_reason"] == "length" and len(out["outputs"][0]["text"].split()) == 6
    chunks = stream_chunks(rt, arn, {"prompt": "<s>[INST] hi [/INST]", "max_tokens": 6})
    assert chunks[-1]["outputs"][0]["stop_reason"] == "length"
    assert rt.converse(modelId=arn, messages=[user("hi")])["output"]["message"]["content"][0]["text"]


def test_residency_and_ownership(sim, runtime):
    # The EU model's ARN names eu-central-1: calling it from another region is an invalid ID.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(runtime(account(sim, "prod-eu"), "eu-west-1"), LLAMA_EU, {"prompt": "x"})
    assert error_code(e.value) == "ValidationException"
    # Another account's imported model is not yours.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(runtime(account(sim, "prod-us"), "eu-central-1"), LLAMA_EU, {"prompt": "x"})
    assert error_code(e.value) == "AccessDeniedException"
    # An ID that does not exist.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(runtime(account(sim, "prod-us"), "us-east-1"), QWEN_EAST[:-12] + "doesnotexist", {"prompt": "x"})
    assert error_code(e.value) == "ResourceNotFoundException" and status_of(e.value) == 404


# ---- cold start ------------------------------------------------------------------------------


def test_cold_start_refuses_then_serves_after_the_load_time(sim, runtime):
    # Load: 20 s + 4 s × 13 = 72 emulated seconds; at 0.01 that is 0.72 s.
    settings(sim, time_scale=0.01)
    rt = runtime(account(sim, "prod-us"), "us-west-2")
    body = {"prompt": "warm up", "max_gen_len": 4}
    assert model_row(sim, QWEN_WEST)["state"] == "cold"
    time.sleep(0.8)  # waiting alone loads nothing: the first call starts the load
    started = time.monotonic()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(rt, QWEN_WEST, body)
    assert error_code(e.value) == "ModelNotReadyException" and status_of(e.value) == 429
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ModelNotReadyException"
    assert model_row(sim, QWEN_WEST)["state"] == "loading"
    while True:
        try:
            invoke(rt, QWEN_WEST, body)
            break
        except botocore.exceptions.ClientError as err:
            assert error_code(err) == "ModelNotReadyException"
            assert time.monotonic() - started < 20, "never loaded"
            time.sleep(0.05)
    assert time.monotonic() - started >= 0.7
    row = model_row(sim, QWEN_WEST)
    assert (row["state"], row["copies"], row["invocations"]) == ("warm", 1, 1)
    assert row["cold_start_refusals"] >= 1 and row["last_invocation"]


def test_evict_now_and_idle_eviction(sim, runtime):
    rt = runtime(account(sim, "prod-us"), "us-east-1")
    assert invoke(rt, QWEN_EAST, {"prompt": "x", "max_gen_len": 2})
    r = sim.post("/_sim/custom-models/evict", {"model": QWEN_EAST})
    assert r.status_code == 200 and r.json() == {"evicted": 1}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(rt, QWEN_EAST, {"prompt": "x"})
    assert error_code(e.value) == "ModelNotReadyException"
    assert sim.post("/_sim/custom-models/warm", {"model": "apexguru-qwen"}).json()["warmed"] == 2
    assert invoke(rt, QWEN_EAST, {"prompt": "x", "max_gen_len": 2})
    # Idle past the eviction window (900 s × 0.0005 = 0.45 s) → cold.
    settings(sim, time_scale=0.0005)
    wait_until(lambda: model_row(sim, QWEN_EAST)["state"] == "cold", timeout=10)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(rt, QWEN_EAST, {"prompt": "x"})
    assert error_code(e.value) == "ModelNotReadyException"


def test_settings_are_checked(sim):
    assert sim.post("/_sim/custom-models", {"time_scale": 0}).status_code == 400
    assert sim.post("/_sim/custom-models", {"timescale": 1}).status_code == 400
    assert sim.post("/_sim/custom-models", [1]).status_code == 400
    assert sim.post("/_sim/custom-models/evict", {"model": "nope"}).status_code == 400
    shown = sim.get("/_sim/custom-models").json()
    assert shown["settings"]["eviction_idle_seconds"] == 900
    assert {m["arn"] for m in shown["models"]} == {QWEN_EAST, QWEN_WEST, LLAMA_EU}


# ---- copies under load -----------------------------------------------------------------------


def test_copies_scale_out_under_concurrent_load_and_back_in(sim, runtime):
    # Real per-request latency (the session emulator runs --zero-latency), scaled by 0.02, with a
    # long first token: a 13B request of ~20 tokens takes ~120 ms, so 32 threads keep ~32 calls
    # in flight even where boto3 itself is slow (at ~25 ms a slow machine's client kept only 6–13);
    # a copy loads in 13 × 0.02 = 0.26 s.
    settings(sim, time_scale=0.02, first_token_ms=5000, ms_per_token_per_billion=3.5,
             load_base_seconds=0, load_seconds_per_billion=1, scale_in_idle_seconds=50)
    rt = runtime(account(sim, "prod-us"), "us-east-1")
    body = {"prompt": "Find SOQL inside loops in this Apex class.", "max_gen_len": 20}
    errors: list[Exception] = []
    stop = time.monotonic() + 3.0

    def worker():
        while time.monotonic() < stop:
            try:
                invoke(rt, QWEN_EAST, body)
            except Exception as e:  # noqa: BLE001 — counted below
                errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    peak = 0
    while any(t.is_alive() for t in threads):
        peak = max(peak, model_row(sim, QWEN_EAST)["copies"])
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    row = model_row(sim, QWEN_EAST)
    # 32 in flight at 12 per copy: 3 copies (1 → 3, as in the Salesforce report).
    assert peak == 3 and row["peak_copies"] == 3, (peak, row)
    assert row["model_units_per_copy"] == 1
    # Idle for scale_in_idle (50 × 0.02 = 1 s): back to one copy, still warm.
    wait_until(lambda: model_row(sim, QWEN_EAST)["copies"] == 1, timeout=10)
    assert model_row(sim, QWEN_EAST)["state"] == "warm"


def test_runtime_faults_name_an_imported_model_by_arn(sim, runtime):
    sim.add_fault(kind="error_rate", error="ServiceUnavailableException", model=QWEN_EAST, count=1)
    rt = runtime(account(sim, "prod-us"), "us-east-1")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(rt, QWEN_EAST, {"prompt": "x", "max_gen_len": 2})
    assert error_code(e.value) == "ServiceUnavailableException"
    assert invoke(rt, QWEN_EAST, {"prompt": "x", "max_gen_len": 2})["generation"]
