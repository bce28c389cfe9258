"""The HTTP edge (issue 10): TLS and HTTP/2 with real clients (boto3 with a Bedrock API key and
the demo's CA, the openai client over HTTP/2 with TLS and over h2c), certificate reload, and
hardened reads: stalled bodies closed by the body deadline while valid requests are answered,
413 before `100 Continue`, idle keep-alive connections closed, a request in flight finishing
through a drain."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import threading
import time
from pathlib import Path

import boto3
import pytest
import requests
import trustme
from botocore.config import Config
from openai import OpenAI

try:  # openai >= 3 ships httpx as `httpx2`
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older openai
    import httpx

from gatewaylib import Demo, Gateway
from simlib import NO_RETRIES, find_binary, free_port
from test_gateway_bedrock import config as gateway_config

KEY = "sk-test-us-000001"
BODY_TIMEOUT_S = 1.0
IDLE_TIMEOUT_S = 1.5

EDGE = """
server:
  tls_listen: 127.0.0.1:{tls_port}
  tls: {{cert_file: {cert}, key_file: {key}}}
  body_timeout_ms: {body_ms}
  idle_timeout_ms: {idle_ms}
  header_timeout_ms: 3000
  shutdown_grace_seconds: 10
"""


def write_cert(ca: trustme.CA, cert_path: Path, key_path: Path) -> bytes:
    """Issues a certificate for 127.0.0.1 and localhost, writes it and its key; returns its DER."""
    issued = ca.issue_cert("127.0.0.1", "localhost")
    key_path.write_bytes(issued.private_key_pem.bytes())
    cert_path.write_bytes(b"".join(p.bytes() for p in issued.cert_chain_pems))
    return ssl.PEM_cert_to_DER_cert(issued.cert_chain_pems[0].bytes().decode())


@pytest.fixture
def edge(sim, tmp_path):
    ca = trustme.CA()
    cert, key, ca_file = tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.pem"
    der = write_cert(ca, cert, key)
    ca.cert_pem.write_to_path(str(ca_file))
    tls_port = free_port()
    text = gateway_config(sim) + EDGE.format(tls_port=tls_port, cert=cert, key=key,
                                             body_ms=int(BODY_TIMEOUT_S * 1000), idle_ms=int(IDLE_TIMEOUT_S * 1000))
    g = Gateway(find_binary(), text, tmp_path)
    g.tls_port, g.ca_file, g.cert_file, g.key_file, g.served_der = tls_port, ca_file, cert, key, der
    g.tls_endpoint = f"https://127.0.0.1:{tls_port}"
    yield g
    alive = g.proc.poll() is None or getattr(g, "stopped_by_test", False)
    g.stop()
    assert alive, g.stderr()


def client_sockets(pid: int, port: int) -> int:
    """Descriptors process `pid` holds for TCP connections on its local `port` (its listener
    excluded): from /proc, so the gateway's own pool to the emulator does not count."""
    on_port = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if local_port == port and state != "0A":  # 0A: LISTEN
                on_port.add(inode)
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:[") and target[8:-1] in on_port:
            count += 1
    return count


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Everything the peer sends until it closes (True) or `timeout` passes (False)."""
    sock.settimeout(0.2)
    got = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return got, True
        if not chunk:
            return got, True
        got += chunk
    return got, False


def read_response(sock: socket.socket, timeout: float = 10) -> bytes:
    """One response with a Content-Length body."""
    sock.settimeout(timeout)
    got = b""
    while True:
        head, sep, rest = got.partition(b"\r\n\r\n")
        if sep:
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if len(rest) >= (int(m.group(1)) if m else 0):
                return got
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole response: {got!r}"
        got += chunk


def metric(endpoint: str, reason: str) -> float:
    text = requests.get(endpoint + "/metrics", timeout=10).text
    m = re.search(r'^strata_http_refused_total\{reason="%s"\} (\S+)$' % reason, text, re.M)
    return float(m.group(1)) if m else 0.0


def chat(endpoint: str, **kw) -> requests.Response:
    return requests.post(endpoint + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                         json={"model": "claude", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
                         timeout=10, **kw)


def test_stalled_bodies_are_closed_by_the_body_deadline_while_valid_requests_are_answered(edge):
    held = lambda: client_sockets(edge.proc.pid, edge.port)  # noqa: E731
    answered, failures, stop = [], [], threading.Event()

    def traffic():
        while not stop.is_set():
            try:
                r = chat(edge.endpoint)
                (answered if r.status_code == 200 else failures).append((time.monotonic(), r.status_code))
            except requests.RequestException as e:
                failures.append((time.monotonic(), repr(e)))

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        stalled = []
        head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\": ").encode()
        opened = time.monotonic()
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", edge.port), timeout=10)
            s.sendall(head)
            stalled.append(s)
        all_open = time.monotonic()
        # At most one descriptor per stalled client (plus the valid traffic's one or two; the
        # first stalled clients may already be answered).
        assert held() <= 305, held()
        outcomes = [read_until_closed(s, timeout=15) for s in stalled]
        closed_at = time.monotonic()
        # The valid traffic stops first: its own connection would be counted too.
        stop.set()
        worker.join(timeout=30)
        # The gateway lets go of the sockets itself (the clients still hold theirs open).
        released_by = time.monotonic() + 5
        while held() and time.monotonic() < released_by:
            time.sleep(0.05)
        still_held = held()
        time.sleep(0.3)
    finally:
        stop.set()
        worker.join(timeout=30)
        for s in stalled:
            s.close()
    assert not failures, failures[:5]
    during = [t for t, _ in answered if opened <= t <= closed_at]
    assert during, "valid requests were answered while stalled bodies held their connections"
    for got, closed in outcomes:
        assert closed, f"a stalled-body connection was still open: {got[:200]!r}"
        status, _, rest = got.partition(b"\r\n")
        assert status == b"HTTP/1.1 408 Request Timeout", got[:300]
        body = json.loads(rest.partition(b"\r\n\r\n")[2])
        assert body["error"]["type"] == "invalid_request_error" and "ms" in body["error"]["message"], body
    # Closed by the deadline, not before it.
    assert closed_at - all_open >= BODY_TIMEOUT_S * 0.9
    assert still_held == 0, f"{still_held} stalled-body sockets still held by the gateway"
    assert metric(edge.endpoint, "body_timeout") >= 300
    assert chat(edge.endpoint).status_code == 200


def test_an_oversize_content_length_is_refused_with_413_before_any_100_continue(edge):
    converse = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
                           "inferenceConfig": {"maxTokens": 5}}).encode()
    for path, dialect in [("/model/claude/converse", "bedrock"), ("/v1/chat/completions", "openai")]:
        with socket.create_connection(("127.0.0.1", edge.port), timeout=10) as s:
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {30 * 1024 * 1024}\r\n"
                      "Expect: 100-continue\r\n\r\n".encode())
            got, closed = read_until_closed(s, timeout=10)
        assert got.startswith(b"HTTP/1.1 413 "), got[:300]
        assert b"100 Continue" not in got
        assert closed, "the connection is closed after the refusal"
        head, _, body = got.partition(b"\r\n\r\n")
        if dialect == "bedrock":
            assert re.search(rb"(?im)^x-amzn-errortype: ValidationException", head), head
            assert b"maximum" in json.loads(body)["message"].encode()
        else:
            assert json.loads(body)["error"]["code"] == "request_too_large"
    assert metric(edge.endpoint, "body_too_large") >= 2
    # A body within the limit does get its `100 Continue` (the check above can see one).
    with socket.create_connection(("127.0.0.1", edge.port), timeout=10) as s:
        s.sendall(f"POST /model/claude/converse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(converse)}\r\n"
                  "Expect: 100-continue\r\n\r\n".encode())
        s.settimeout(10)
        interim = s.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        s.sendall(converse)
        assert read_response(s).startswith(b"HTTP/1.1 200 ")


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(edge):
    before = metric(edge.endpoint, "idle_timeout")
    with socket.create_connection(("127.0.0.1", edge.port), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(s).startswith(b"HTTP/1.1 200 ")
        time.sleep(IDLE_TIMEOUT_S / 2)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(s).startswith(b"HTTP/1.1 200 "), "still open within the idle timeout"
        idle_since = time.monotonic()
        got, closed = read_until_closed(s, timeout=10)
        idle = time.monotonic() - idle_since
    assert closed and got == b"", got
    assert IDLE_TIMEOUT_S * 0.9 <= idle < IDLE_TIMEOUT_S + 3, idle
    assert metric(edge.endpoint, "idle_timeout") >= before + 1


def tls_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


def test_tls_serves_boto3_and_openai_over_http2_and_the_plain_port_speaks_h2c(edge, monkeypatch):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", KEY)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(edge.ca_file))
    rt = boto3.session.Session().client("bedrock-runtime", region_name="us-east-1", endpoint_url=edge.tls_endpoint,
                                        config=Config(retries=NO_RETRIES))
    r = rt.converse(modelId="claude", messages=[{"role": "user", "content": [{"text": "hi"}]}],
                    inferenceConfig={"maxTokens": 5})
    assert r["output"]["message"]["content"][0]["text"]

    with httpx.Client(http2=True, verify=tls_context(edge.ca_file)) as h2:
        c = OpenAI(base_url=edge.tls_endpoint + "/v1", api_key=KEY, max_retries=0, http_client=h2)
        raw = c.chat.completions.with_raw_response.create(model="claude", messages=[{"role": "user", "content": "hi"}],
                                                          max_tokens=5)
        assert raw.http_response.http_version == "HTTP/2"
        assert raw.parse().choices[0].message.content
        chunks = list(c.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}],
                                                max_tokens=5, stream=True))
        assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    with httpx.Client(http1=False, http2=True) as h2c:
        c = OpenAI(base_url=edge.endpoint + "/v1", api_key=KEY, max_retries=0, http_client=h2c)
        raw = c.chat.completions.with_raw_response.create(model="claude", messages=[{"role": "user", "content": "hi"}],
                                                          max_tokens=5)
        assert raw.http_response.http_version == "HTTP/2"
    with httpx.Client(verify=tls_context(edge.ca_file)) as h1:
        assert h1.get(edge.tls_endpoint + "/health").http_version == "HTTP/1.1"


def served_der(port: int) -> bytes:
    return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port), timeout=5))


def test_new_handshakes_get_a_replaced_certificate_and_a_bad_file_keeps_the_current_one(edge):
    assert served_der(edge.tls_port) == edge.served_der
    new_ca = trustme.CA()
    new_ca_file = edge.cert_file.with_name("new-ca.pem")
    new_ca.cert_pem.write_to_path(str(new_ca_file))
    new_der = write_cert(new_ca, edge.cert_file, edge.key_file)
    deadline = time.monotonic() + 20
    while served_der(edge.tls_port) != new_der:
        assert time.monotonic() < deadline, f"the new certificate was never served:\n{edge.stderr()}"
        time.sleep(0.2)
    edge.key_file.write_text("not a key\n")
    deadline = time.monotonic() + 20
    while "cannot be used" not in edge.stderr():
        assert time.monotonic() < deadline, f"the bad file was not reported:\n{edge.stderr()}"
        time.sleep(0.2)
    assert served_der(edge.tls_port) == new_der, "a bad file keeps the current certificate"
    assert requests.get(edge.tls_endpoint + "/health", verify=str(new_ca_file), timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(edge.tls_endpoint + "/health", verify=str(edge.ca_file), timeout=10)
    metrics = requests.get(edge.endpoint + "/metrics", timeout=10).text
    assert re.search(r'^strata_http_tls_reloads_total\{outcome="ok"\} [1-9]', metrics, re.M), metrics
    assert re.search(r'^strata_http_tls_reloads_total\{outcome="error"\} [1-9]', metrics, re.M), metrics


def test_a_request_in_flight_at_sigterm_finishes_and_the_process_exits_0(edge):
    body = json.dumps({"model": "claude", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}).encode()
    with socket.create_connection(("127.0.0.1", edge.port), timeout=10) as s:
        s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body[:10])
        time.sleep(0.2)
        edge.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the port closes when the drain begins
            try:
                socket.create_connection(("127.0.0.1", edge.port), timeout=1).close()
                time.sleep(0.05)
            except OSError:
                break
        else:
            pytest.fail("the listener was still accepting after SIGTERM")
        s.sendall(body[10:])
        answer = read_response(s)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["choices"][0]["message"]["content"]
    assert edge.proc.wait(timeout=15) == 0
    edge.stopped_by_test = True


# ---- the demo ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = Demo(tmp_path_factory.mktemp("demo-edge"))
    yield {"gateway": f"http://127.0.0.1:{d.gw}", "tls_port": d.tls, "printed": d.printed}
    assert d.stop() == 0


def test_the_demo_serves_https_with_a_ca_it_prints(demo, monkeypatch):
    line = next(l for l in demo["printed"].splitlines() if l.startswith("tls:"))
    m = re.fullmatch(r"tls:       (https://127\.0\.0\.1:(\d+))  \(AWS_CA_BUNDLE=(.+/ca\.pem)\)", line)
    assert m and int(m.group(2)) == demo["tls_port"], line
    url, ca_file = m.group(1), Path(m.group(3))
    assert ca_file.is_file()

    # boto3 unchanged: a Bedrock API key and the printed CA bundle, https endpoint.
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "sk-demo-us")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca_file))
    rt = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=url, config=Config(retries=NO_RETRIES))
    r = rt.converse(modelId="claude-sonnet-4", messages=[{"role": "user", "content": [{"text": "hello"}]}],
                    inferenceConfig={"maxTokens": 5})
    assert r["output"]["message"]["content"][0]["text"] and r["stopReason"]

    # The openai client over HTTP/2 with TLS, and with prior knowledge on the plain port.
    with httpx.Client(http2=True, verify=tls_context(ca_file)) as h2:
        c = OpenAI(base_url=url + "/v1", api_key="sk-demo-us", max_retries=0, http_client=h2)
        raw = c.chat.completions.with_raw_response.create(model="claude-sonnet-4", max_tokens=5,
                                                          messages=[{"role": "user", "content": "hi"}])
        assert raw.http_response.http_version == "HTTP/2" and raw.parse().choices[0].message.content
    with httpx.Client(http1=False, http2=True) as h2c:
        c = OpenAI(base_url=demo["gateway"] + "/v1", api_key="sk-demo-us", max_retries=0, http_client=h2c)
        raw = c.chat.completions.with_raw_response.create(model="claude-sonnet-4", max_tokens=5,
                                                          messages=[{"role": "user", "content": "hi"}])
        assert raw.http_response.http_version == "HTTP/2"
