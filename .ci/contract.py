"""The contract checks against a running tillroll (CI): the OpenAPI document validates, /metrics
parses with the Prometheus 0.0.4 and the OpenMetrics parsers under the content type served
for each, and schemathesis finds no failure for a customer, a seller, an admin and an
auditor. Usage: contract.py BASE_URL ADMIN_EMAIL ADMIN_PASSWORD [SECONDS_PER_ROLE]

The validator and the metrics parsers must pass. Schemathesis's findings are printed per role;
they fail the run only with CONTRACT_STRICT=1 (not yet at 0: see the closing note of #15)."""

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
import uuid

from openapi_spec_validator import validate
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

base, admin_email, admin_password = sys.argv[1:4]
seconds = sys.argv[4] if len(sys.argv) > 4 else "45"


def call(method, path, body=None, token=None, accept=None):
    request = urllib.request.Request(base + path, method=method)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if accept:
        request.add_header("Accept", accept)
    with urllib.request.urlopen(request, data) as response:
        return response.headers.get("Content-Type"), response.read().decode()


def token(email, password):
    _, body = call("POST", "/auth/login", {"email": email, "password": password})
    return json.loads(body)


spec = json.loads(call("GET", "/openapi.json")[1])
validate(spec)
print("openapi-spec-validator: 0 errors")

for accept, parse, expected in [
    (None, text_parse, "text/plain; version=0.0.4"),
    ("application/openmetrics-text; version=1.0.0", om_parse, "application/openmetrics-text"),
]:
    content_type, text = call("GET", "/metrics", accept=accept)
    assert content_type.startswith(expected), content_type
    families = list(parse(text))
    untyped = [f.name for f in families if f.type == "unknown"]
    assert not untyped, f"{expected}: untyped families {untyped}"
    counters = {f.name for f in families if f.type == "counter"}
    assert "tillroll_payment_outcomes" in counters, (expected, sorted(counters))
    print(f"/metrics as {expected}: {len(families)} families, {len(counters)} counters")

admin = token(admin_email, admin_password)["access_token"]
tokens = {"admin": admin}
for role in ["customer", "seller", "auditor"]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@contract.test"
    _, body = call("POST", "/auth/register",
                   {"email": email, "password": "contract-pass-1", "name": role.title()})
    user_id = json.loads(body)["user"]["id"]
    if role != "customer":
        call("PATCH", f"/users/{user_id}", {"role": role}, token=admin)
    tokens[role] = token(email, "contract-pass-1")["access_token"]

failed = False
for role, access in tokens.items():
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f.name, "--url", base,
         "--checks", "all", "-H", f"Authorization: Bearer {access}",
         "--max-time", seconds, "--workers", "2", "--no-color",
         # Logging out or changing one's own role or password would end the run's session.
         "--exclude-path", "/auth/logout", "--exclude-path-regex", "^/users/\\{id\\}$",
         "--exclude-path", "/payments/mpesa/callback/{token}"],
    )
    print(f"schemathesis as {role}: exit {result.returncode}")
    failed |= result.returncode != 0
strict = os.environ.get("CONTRACT_STRICT") == "1"
sys.exit(1 if failed and strict else 0)
