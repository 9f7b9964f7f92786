"""The official Feldera Python client against a running sluice.

Usage: client_test.py URL [API_KEY [WRONG_KEY]]
Exits non-zero (with a traceback) on any failure.
"""
import decimal
import os
import sys

import pandas as pd

from feldera import FelderaClient, Pipeline
from feldera.enums import PipelineStatus
from feldera.rest.errors import FelderaAPIError

url = sys.argv[1]
api_key = sys.argv[2] if len(sys.argv) > 2 else None
wrong_key = sys.argv[3] if len(sys.argv) > 3 else None

# HTTPS: SLUICE_CA names the CA file that signed the server's certificate.
ca = os.environ.get("SLUICE_CA")
client = FelderaClient(url, api_key=api_key, timeout=30, requests_verify=ca)


def push(table, fmt, data, **kw):
    token = client.push_to_pipeline("p", table, fmt, data, wait=True, wait_timeout_s=30, **kw)
    assert isinstance(token, str) and token, token
    assert client.completion_token_processed("p", token), token
    return token


# JSON, raw and insert_delete, array true and false.
push("t1", "json", {"id": 1, "name": "a", "score": 1.5, "ok": True}, update_format="raw")
push("t1", "json", [{"id": 2, "name": "b"}, {"id": 3}], update_format="raw", array=True)
push("t1", "json", {"insert": {"id": 4, "name": "c"}}, update_format="insert_delete")
push(
    "t1",
    "json",
    [{"insert": {"id": 5}}, {"delete": {"id": 4}}],
    update_format="insert_delete",
    array=True,
)
# CSV.
push("t1", "csv", "6,d,2.5,false\n7,e,,true\n")
# Table names: unquoted names in any case.
push("T1", "csv", "8,f,0,true\n")

# The SDK's pipeline path: Pipeline.get reads GET /v0/pipelines/p.
pipeline = Pipeline.get("p", client)
assert pipeline.status() == PipelineStatus.RUNNING, pipeline.status()
token = pipeline.input_json("t1", [{"id": 9}, {"id": 10, "name": "j"}], wait=False)
pipeline.wait_for_token(token)
assert client.completion_token_processed("p", token), token

# input_pandas: json_flavor=pandas, dates and timestamps as epoch milliseconds,
# decimals as numbers, NaT as null.
df = pd.DataFrame(
    {
        "id": [1, 2],
        "amount": [decimal.Decimal("12.50"), decimal.Decimal("0.01")],
        "day": [pd.Timestamp("2026-01-02"), pd.Timestamp("2026-01-03")],
        "at": [pd.Timestamp("2026-01-02 10:11:12.345"), pd.NaT],
    }
)
# Listen to t2's changes (POST .../egress/t2) before sending them.
handle = pipeline.listen("t2")
token = pipeline.input_pandas("t2", df)
pipeline.wait_for_token(token)
# The handle has received every change the token covers.
handle.wait_for_token(token, timeout_s=30)
out = handle.to_pandas()
assert len(out) == 2, out
assert sorted(out["id"].tolist()) == [1, 2], out
assert (out["insert_delete"] == 1).all(), out
assert decimal.Decimal("12.50") in out["amount"].tolist(), out
# The raw stream: Feldera's chunks, with the changes as json_data.
gen = client.listen_to_pipeline("p", "t2", "json", timeout=30)()
first = next(gen)
assert first["sequence_number"] == 0, first
token = pipeline.input_json("t2", {"id": 3, "amount": "1.5"}, wait=False)
chunk = next(c for c in gen if c.get("json_data"))
assert chunk["json_data"] == [
    {"insert": {"id": 3, "amount": decimal.Decimal("1.50"), "day": None, "at": None}}
], chunk
pipeline.wait_for_token(token)

# Update formats the client sends: debezium, and insert_delete's partial update.
push("t3", "json", {"payload": {"op": "c", "after": {"id": 1, "v": "a"}}}, update_format="debezium")
push(
    "t3",
    "json",
    [{"op": "u", "before": {"id": 1, "v": "a"}, "after": {"id": 1, "v": "b"}}],
    update_format="debezium",
    array=True,
)
push("t3", "json", {"update": {"id": 1, "v": "c"}}, update_format="insert_delete")

# Lifecycle through the SDK: pause, ingest with force, resume.
pipeline.pause()
assert pipeline.status() == PipelineStatus.PAUSED, pipeline.status()
push("t3", "json", {"id": 9, "v": "forced"}, update_format="raw", force=True)
pipeline.resume()
assert pipeline.status() == PipelineStatus.RUNNING, pipeline.status()

stats = client.http.get("/pipelines/p/stats")
inputs = {i["endpoint_name"]: i for i in stats["inputs"]}
assert inputs["t1"]["applied_records"] == 11, inputs["t1"]
assert inputs["t2"]["applied_records"] == 3, inputs["t2"]
assert inputs["t2"]["num_parse_errors"] == 0, inputs["t2"]
# c: one row; u: a delete and an insert; update: one row.
assert inputs["t3"]["applied_records"] == 5, inputs["t3"]

# A parse error is reported as the client's FelderaAPIError with the code.
try:
    client.push_to_pipeline("p", "t1", "csv", "x,y,z,w\n", wait=False)
    raise AssertionError("expected a 400")
except FelderaAPIError as e:
    assert e.status_code == 400, e
    assert e.error_code == "ParseErrors", e

if wrong_key is not None:
    try:
        FelderaClient(url, api_key=wrong_key, timeout=30, requests_verify=ca)
        raise AssertionError("a wrong API key was accepted")
    except FelderaAPIError as e:
        assert e.status_code == 401, e

print("python client: all checks passed")
