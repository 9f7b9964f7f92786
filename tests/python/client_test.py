"""The official Feldera Python client against a running sluice.

Usage: client_test.py URL [API_KEY [WRONG_KEY]]
Exits non-zero (with a traceback) on any failure.
"""
import sys

from feldera import FelderaClient, Pipeline
from feldera.enums import PipelineStatus
from feldera.rest.errors import FelderaAPIError

url = sys.argv[1]
api_key = sys.argv[2] if len(sys.argv) > 2 else None
wrong_key = sys.argv[3] if len(sys.argv) > 3 else None

client = FelderaClient(url, api_key=api_key, timeout=30)


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

stats = client.http.get("/pipelines/p/stats")
t1 = [i for i in stats["inputs"] if i["endpoint_name"] == "t1"][0]
assert t1["applied_records"] == 11, t1

# A parse error is reported as the client's FelderaAPIError with the code.
try:
    client.push_to_pipeline("p", "t1", "csv", "x,y,z,w\n", wait=False)
    raise AssertionError("expected a 400")
except FelderaAPIError as e:
    assert e.status_code == 400, e
    assert e.error_code == "ParseErrors", e

if wrong_key is not None:
    try:
        FelderaClient(url, api_key=wrong_key, timeout=30)
        raise AssertionError("a wrong API key was accepted")
    except FelderaAPIError as e:
        assert e.status_code == 401, e

print("python client: all checks passed")
