#!/usr/bin/env python3
"""Prints a wrk Lua script that replays one SigV4-signed Bedrock request.

The signature is made by botocore, exactly as a real client would, and stays valid for the
emulator's 15-minute clock-skew window, which is longer than any benchmark run.
Usage: sign_request.py URL ACCESS_KEY SECRET REGION MODEL_ID [converse|converse-stream]
"""
import json
import sys
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

url, akid, secret, region, model = sys.argv[1:6]
action = sys.argv[6] if len(sys.argv) > 6 else "converse"
body = json.dumps({
    "messages": [{"role": "user", "content": [{"text": "benchmark request"}]}],
    "inferenceConfig": {"maxTokens": 64},
})
path = f"/model/{quote(model, safe='')}/{action}"
req = AWSRequest(method="POST", url=url + path, data=body, headers={"Content-Type": "application/json"})
SigV4Auth(Credentials(akid, secret), "bedrock", region).add_auth(req)

def lua(s):
    return json.dumps(s)

print("wrk.method = \"POST\"")
print(f"wrk.path = {lua(path)}")
print(f"wrk.body = {lua(body)}")
for k, v in req.headers.items():
    print(f"wrk.headers[{lua(k)}] = {lua(v)}")
print("""
local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
""")
