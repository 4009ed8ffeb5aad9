"""test_auth owns the end-to-end proof of access control: HTTPS with a real TLS client (a self-signed
certificate made with openssl at test time; plain HTTP to the TLS port fails; a client trusting
another certificate refuses; a mismatched or missing cert/key stops the server at start with a
clear message), credentials (missing, wrong, expired -> 401 with challenges; the right credential
without the route's role -> 403; JSON errors on /api/ paths), and tenant isolation: tenants A and
B push distinct and same-named series, then every endpoint is asked as A and must show all of A's
data and nothing of B's (queries including count({__name__=~".+"}) and {__tenant__="B"}, range
queries, series, labels, label values, export, remote_read, metadata, status/tsdb, deletion), and
no client can write a __tenant__ label, in open mode either.

Token hashes for the auth file are computed here in Python ($sha256$: salted SHA-256, checked
independently of the C code); the basic-auth user uses a yescrypt hash from metricstor-cli."""
import base64
import hashlib
import json
import os
import secrets
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import promwire
from lib import WRITE_HEADERS, Server, TestFailure, check, cli_path, now_ms
from test_remote_read import decode_samples_response, encode_read_request


# ---------------------------------------------------------------- credentials and servers

def sha256_hash(secret):
    salt = secrets.token_bytes(16)
    return "$sha256$" + salt.hex() + "$" + hashlib.sha256(salt + secret.encode()).hexdigest()


TOKENS = {  # name -> (secret, tenant, role, expires)
    "a-admin": ("tok-a-admin-" + "1" * 40, "A", "admin", None),
    "a-read": ("tok-a-read-" + "2" * 40, "A", "read", None),
    "a-write": ("tok-a-write-" + "3" * 40, "A", "write", None),
    "b-admin": ("tok-b-admin-" + "4" * 40, "B", "admin", None),
    "b-read": ("tok-b-read-" + "5" * 40, "B", "read", None),
    "b-write": ("tok-b-write-" + "6" * 40, "B", "write", None),
    "old": ("tok-expired-" + "7" * 40, "A", "admin", "2001-01-01T00:00:00Z"),
}
BASIC_USER, BASIC_PW = "carol", "correct horse battery staple"


def write_auth_file(ctx, path):
    lines = ["# test credentials", ""]
    for name, (secret, tenant, role, expires) in TOKENS.items():
        line = f"bearer {name} {sha256_hash(secret)} {tenant} {role}"
        if expires:
            line += f" expires={expires}"
        lines.append(line)
    r = subprocess.run([cli_path(ctx), "hash-secret", "--kind", "basic", "--name", BASIC_USER, "--tenant", "B",
                        "--role", "read", "--secret-stdin"], input=BASIC_PW + "\n", capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0 and r.stdout.startswith(f"basic {BASIC_USER} $y$"), f"hash-secret: {r.stdout!r} {r.stderr!r}")
    lines.append(r.stdout.strip())
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def bearer(name):
    return {"Authorization": "Bearer " + TOKENS[name][0]}


def basic(user, pw):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


class TLSServer(Server):
    """A Server whose listener speaks HTTPS; requests trust the given CA file."""

    def __init__(self, binary, extra_args, cafile):
        super().__init__(binary, extra_args)
        self.base = f"https://127.0.0.1:{self.port}"
        self.ssl_ctx = ssl.create_default_context(cafile=cafile)


def auth_server(ctx, extra=()):
    srv = ctx.server(start=False)
    path = os.path.join(srv.tmp, "auth.txt")
    write_auth_file(ctx, path)
    srv.extra += ["--auth-file", path, "--web.enable-admin-api"] + list(extra)
    srv.start()
    return srv


def get(srv, path, who, params=None):
    st, body, hdrs = srv.request("GET", path, headers=who, params=params)
    return st, body, hdrs


def get_json(srv, path, who, params=None):
    st, body, _ = get(srv, path, who, params)
    try:
        doc = json.loads(body)
    except ValueError:
        raise TestFailure(f"{path}: not JSON ({st}): {body[:300]!r}")
    return st, doc


def ok_data(srv, path, who, params=None):
    st, doc = get_json(srv, path, who, params)
    check(st == 200 and doc.get("status") == "success", f"{path} {params}: {st} {doc}")
    return doc["data"]


def push(srv, who, series, metadata=()):
    body = promwire.compress(promwire.encode_write_request(series, metadata))
    st, data, _ = srv.request("POST", "/api/v1/write", body, dict(WRITE_HEADERS, **who))
    return st, data


def make_openssl_cert(d, name):
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"openssl failed: {r.stderr}")
    return cert, key


# ---------------------------------------------------------------- TLS

def test_tls(ctx):
    probe = ctx.server(start=False)  # only for its temp dir
    d = probe.tmp
    cert, key = make_openssl_cert(d, "one")
    cert2, key2 = make_openssl_cert(d, "two")
    authf = os.path.join(d, "auth.txt")
    write_auth_file(ctx, authf)
    srv = TLSServer(ctx.binary, ["--tls-cert-file", cert, "--tls-key-file", key, "--auth-file", authf], cert)
    ctx.servers.append(srv)
    srv.start()
    check("(https)" in srv.log_text(), "the log does not say the listener is HTTPS")
    # a real TLS client, verifying the certificate, with a credential
    st, body, _ = srv.request("GET", "/api/v1/query", headers=bearer("a-read"), params={"query": "vector(7)"})
    check(st == 200 and json.loads(body)["data"]["result"][0]["value"][1] == "7", f"query over TLS: {st} {body[:200]!r}")
    st, _, hdrs = srv.request("GET", "/api/v1/query", params={"query": "1"})
    check(st == 401 and "WWW-Authenticate" in hdrs, f"TLS without credentials: {st} {hdrs}")
    # plain HTTP to the TLS port gets no HTTP answer
    plain_ok = False
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/-/healthy", timeout=5) as r:
            plain_ok = r.status == 200
    except Exception:
        plain_ok = False
    check(not plain_ok, "plain HTTP to the TLS port was answered")
    # a client trusting another certificate refuses the server's
    other = ssl.create_default_context(cafile=cert2)
    refused = False
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
            with other.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass
    except ssl.SSLCertVerificationError:
        refused = True
    check(refused, "a client trusting a different certificate connected")
    # key of another certificate, a missing file, garbage: clear errors at start, exit non-zero
    garbage = os.path.join(d, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    for args, want in (
            ([cert, key2], "TLS: cannot use"),
            ([os.path.join(d, "missing.crt"), key], "cannot open --tls-cert-file"),
            ([cert, os.path.join(d, "missing.key")], "cannot open --tls-key-file"),
            ([garbage, key], "TLS: cannot use")):
        bad = ctx.server(["--tls-cert-file", args[0], "--tls-key-file", args[1]], start=False)
        bad.start_must_fail(f"TLS files {args}")
        check(want in bad.log_text(), f"TLS {args}: log lacks {want!r}:\n{bad.log_tail()}")
    only = ctx.server(["--tls-cert-file", cert], start=False)
    only.start_must_fail("--tls-cert-file alone")


# ---------------------------------------------------------------- credentials and roles

def test_credentials_and_roles(ctx):
    srv = auth_server(ctx)
    # open paths
    for p in ("/-/healthy", "/-/ready"):
        st, _, _ = get(srv, p, {})
        check(st == 200, f"{p} without credentials: {st}")
    # missing: 401 with both challenges, Prometheus error JSON on /api/
    st, body, hdrs = srv.request("GET", "/api/v1/query", params={"query": "1"})
    doc = json.loads(body)
    check(st == 401 and doc["status"] == "error" and doc["errorType"] == "unauthorized", f"missing: {st} {doc}")
    chal = " ".join(v for k, v in hdrs.items() if k.lower() == "www-authenticate")
    raw = subprocess.run(["curl", "-s", "-i", f"{srv.base}/api/v1/labels"], capture_output=True, text=True).stdout
    chals = [line for line in raw.splitlines() if line.lower().startswith("www-authenticate:")]
    check(len(chals) == 2 and any("Bearer" in c for c in chals) and any("Basic" in c for c in chals),
          f"challenges: {chals} ({chal})")
    # non-API path: plain text 401
    st, body, _ = get(srv, "/metrics", {})
    check(st == 401 and not body.startswith(b"{"), f"/metrics without credentials: {st} {body[:100]!r}")
    # wrong token, wrong scheme, malformed basic, wrong password, unknown user, expired
    for who, what in (({"Authorization": "Bearer nope"}, "wrong token"),
                      ({"Authorization": "Bearer " + TOKENS["a-read"][0] + "x"}, "token with a suffix"),
                      ({"Authorization": "Token " + TOKENS["a-read"][0]}, "unknown scheme"),
                      ({"Authorization": "Basic !!!"}, "bad base64"),
                      (basic(BASIC_USER, "wrong"), "wrong password"),
                      (basic("mallory", BASIC_PW), "unknown user"),
                      (bearer("old"), "expired")):
        st, doc = get_json(srv, "/api/v1/query", who, {"query": "1"})
        check(st == 401 and doc["errorType"] == "unauthorized", f"{what}: {st} {doc}")
        if what == "expired":
            check("expired" in doc["error"], f"expired: message {doc['error']!r}")
    # right credentials
    for who in (bearer("a-read"), bearer("a-admin"), basic(BASIC_USER, BASIC_PW), basic(BASIC_USER, BASIC_PW)):
        ok_data(srv, "/api/v1/query", who, {"query": "1"})
    # roles: 403 when the credential lacks the route's role
    t = now_ms()
    series = [({"__name__": "role_probe"}, [(t, 1.0)])]
    st, body = push(srv, bearer("a-read"), series)
    check(st == 403, f"read token on remote_write: {st} {body!r}")
    st, body = push(srv, basic(BASIC_USER, BASIC_PW), series)
    check(st == 403, f"read user on remote_write: {st} {body!r}")
    st, doc = get_json(srv, "/api/v1/query", bearer("a-write"), {"query": "1"})
    check(st == 403 and doc["errorType"] == "forbidden", f"write token on query: {st} {doc}")
    st, _, _ = srv.request("POST", "/api/v1/import/prometheus", b"x 1\n", bearer("a-read"))
    check(st == 403, f"read token on import: {st}")
    for p in ("/metrics", "/api/v1/status/flags"):
        st, _, _ = get(srv, p, bearer("a-read"))
        check(st == 403, f"read token on admin path {p}: {st}")
        st, _, _ = get(srv, p, bearer("a-admin"))
        check(st == 200, f"admin token on {p}: {st}")
    st, _, _ = srv.request("POST", "/api/v1/admin/tsdb/delete_series", b"", bearer("a-write"),
                           params={"match[]": "role_probe"})
    check(st in (403, 404), f"write token on an admin route: {st}")
    st, body = push(srv, bearer("a-write"), series)
    check(st == 204, f"write token on remote_write: {st} {body!r}")
    st, body = push(srv, bearer("a-admin"), series)
    check(st == 204, f"admin token on remote_write: {st} {body!r}")
    log = srv.log_text()
    check("lacks the write role" in log and TOKENS["a-read"][0] not in log, "auth log lines wrong or leak a token")


# ---------------------------------------------------------------- tenant isolation

def _dataset(t0):
    """A: 3 series of its own + 2 of shared_metric; B: 4 of its own + 2 of shared_metric."""
    pts = [(t0 + i * 15000, float(i)) for i in range(20)]
    a = [({"__name__": "a_only", "job": "ja", "ai": str(i)}, pts) for i in range(3)]
    a += [({"__name__": "shared_metric", "job": "ja", "host": f"h{i}"}, [(t, v + 100) for t, v in pts])
          for i in range(2)]
    b = [({"__name__": "b_only", "job": "jb", "b_secret": f"s{i}"}, pts) for i in range(4)]
    b += [({"__name__": "shared_metric", "job": "jb", "host": f"h{i}"}, [(t, v + 200) for t, v in pts])
          for i in range(2)]
    return a, b


def _sets(series_list):
    return sorted(tuple(sorted(m.items())) for m in series_list)


def _check_tenant_view(srv, who, mine, theirs, t0, t_end, md_names):
    """Everything `who` can see equals `mine` (md_names: its metrics with metadata), nothing of
    `theirs`."""
    mine_sets = _sets([lbls for lbls, _ in mine])
    mine_names = sorted({lbls["__name__"] for lbls, _ in mine})
    mine_label_names = sorted({k for lbls, _ in mine for k in lbls})
    their_only = {k for lbls, _ in theirs for k in lbls} - set(mine_label_names)
    their_names = {lbls["__name__"] for lbls, _ in theirs} - set(mine_names)
    ev = f"{t_end / 1000:.3f}"
    # instant queries
    res = ok_data(srv, "/api/v1/query", who, {"query": 'count({__name__=~".+"})', "time": ev})["result"]
    check(len(res) == 1 and res[0]["value"][1] == str(len(mine)), f"count all: {res}")
    res = ok_data(srv, "/api/v1/query", who, {"query": '{__name__=~".+"}', "time": ev})["result"]
    check(_sets([r["metric"] for r in res]) == mine_sets, f"all series by query: {res}")
    for other in ("A", "B"):
        res = ok_data(srv, "/api/v1/query", who, {"query": '{__tenant__="%s"}' % other, "time": ev})["result"]
        check(all("__tenant__" not in r["metric"] for r in res), f"__tenant__ label leaked: {res}")
        check(_sets([r["metric"] for r in res]) in ([], mine_sets), f"{{__tenant__={other}}}: {res}")
    res = ok_data(srv, "/api/v1/query", who, {"query": "sum(shared_metric)", "time": ev})["result"]
    want = sum(s[-1][1] for lbls, s in mine if lbls["__name__"] == "shared_metric")
    check(len(res) == 1 and float(res[0]["value"][1]) == want, f"sum(shared_metric) {res} want {want}")
    res = ok_data(srv, "/api/v1/query", who, {"query": 'count by (__tenant__) ({__name__=~".+"})', "time": ev})
    check(res["result"] == [{"metric": {}, "value": res["result"][0]["value"]}], f"count by tenant: {res}")
    # range query
    res = ok_data(srv, "/api/v1/query_range", who, {"query": 'count({__name__=~".+"})', "start": f"{t0 / 1000:.3f}",
                                                     "end": ev, "step": "15"})["result"]
    check(len(res) == 1 and res[0]["values"], f"range count: {res}")
    for t, v in res[0]["values"]:  # series alive at t: a first sample at or before t (all span to t_end)
        want = sum(1 for _, smp in mine if smp[0][0] <= round(t * 1000))
        check(v == str(want), f"range count at {t}: {v}, want {want}")
    # series, labels, label values
    data = ok_data(srv, "/api/v1/series", who, {"match[]": '{__name__=~".+"}'})
    check(_sets(data) == mine_sets, f"series: {data}")
    data = ok_data(srv, "/api/v1/series", who, {"match[]": '{__tenant__=~".+"}'})
    check(_sets(data) in ([], mine_sets), f"series by tenant: {data}")
    data = ok_data(srv, "/api/v1/labels", who)
    check(data == mine_label_names, f"labels: {data} want {mine_label_names}")
    data = ok_data(srv, "/api/v1/labels", who, {"match[]": "shared_metric"})
    check("__tenant__" not in data and not (set(data) & their_only), f"labels with match[]: {data}")
    data = ok_data(srv, "/api/v1/label/__name__/values", who)
    check(data == mine_names, f"__name__ values: {data}")
    data = ok_data(srv, "/api/v1/label/__tenant__/values", who)
    check(data == [], f"__tenant__ values: {data}")
    data = ok_data(srv, "/api/v1/label/job/values", who, {"match[]": '{__name__=~".+"}'})
    check(data == sorted({lbls["job"] for lbls, _ in mine}), f"job values with match[]: {data}")
    for name in their_only:
        data = ok_data(srv, f"/api/v1/label/{name}/values", who)
        check(data == [], f"values of the other tenant's label {name}: {data}")
    # export
    st, body, _ = srv.request("GET", "/api/v1/export", headers=who, params={"match[]": '{__name__=~".+"}'})
    check(st == 200, f"export: {st} {body[:200]!r}")
    lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
    check(_sets([ln["metric"] for ln in lines]) == mine_sets, f"export series: {[ln['metric'] for ln in lines]}")
    # remote_read
    rr = promwire.compress(encode_read_request([(t0 - 1000, t_end + 1000, [(2, "__name__", ".+")]),
                                                (t0 - 1000, t_end + 1000, [(0, "__tenant__", "B")])]))
    st, body, _ = srv.request("POST", "/api/v1/read", rr, dict(who, **{
        "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Read-Version": "0.1.0"}))
    check(st == 200, f"remote_read: {st} {body[:200]!r}")
    results = decode_samples_response(promwire_decompress(body))
    check(sorted(lbls for lbls, _ in results[0]) == mine_sets, f"remote_read series: {results[0]}")
    check(results[1] == [] or sorted(lbls for lbls, _ in results[1]) == mine_sets, f"remote_read tenant: {results[1]}")
    # metadata
    md = ok_data(srv, "/api/v1/metadata", who)
    check(sorted(md) == sorted(md_names), f"metadata: {md} want {md_names}")
    # status/tsdb
    ts = ok_data(srv, "/api/v1/status/tsdb", who)
    check(ts["headStats"]["numSeries"] == len(mine), f"status/tsdb numSeries: {ts['headStats']}")
    text = json.dumps(ts)
    leaks = [n for n in their_only | their_names | {"__tenant__"} if f'"{n}"' in text or f'"{n}=' in text]
    check(not leaks, f"status/tsdb shows {leaks}: {text[:600]}")


def promwire_decompress(body):
    from test_remote_read import snappy_decompress
    return snappy_decompress(body)


def test_tenant_isolation(ctx):
    srv = auth_server(ctx)
    t0 = now_ms() - 20 * 15000
    a, b = _dataset(t0)
    t_end = t0 + 19 * 15000
    md_a = [(1, "a_only", "A's help", ""), (1, "shared_metric", "shared help", "")]
    md_b = [(1, "b_only", "B's secret help", ""), (2, "shared_metric", "B's shared help", "")]
    st, body = push(srv, bearer("a-write"), a, md_a)
    check(st == 204, f"push A: {st} {body!r}")
    st, body = push(srv, bearer("b-write"), b, md_b)
    check(st == 204, f"push B: {st} {body!r}")
    # nobody can forge a tenant label: remote_write and both imports, as a writer of A
    forged = [({"__name__": "forged", "__tenant__": "B"}, [(t_end, 1.0)])]
    st, body = push(srv, bearer("a-write"), forged)
    check(st == 400 and b"__tenant__" in body, f"forged remote_write: {st} {body!r}")
    st, body, _ = srv.request("POST", "/api/v1/import/prometheus", b'forged{__tenant__="B"} 1\n', bearer("a-write"))
    check(st == 400 and b"reserved" in body, f"forged text import: {st} {body!r}")
    line = json.dumps({"metric": {"__name__": "forged", "__tenant__": "B"}, "values": [1], "timestamps": [t_end]})
    st, body, _ = srv.request("POST", "/api/v1/import", line.encode() + b"\n", bearer("a-write"))
    check(st == 400 and b"reserved" in body, f"forged JSON import: {st} {body!r}")
    # import as A lands in A
    st, body, _ = srv.request("POST", "/api/v1/import/prometheus",
                              f'a_imported{{job="ja"}} 5 {t_end}\n'.encode(), bearer("a-write"))
    check(st == 204, f"import as A: {st} {body!r}")
    a_all = a + [({"__name__": "a_imported", "job": "ja"}, [(t_end, 5.0)])]
    md_names_a, md_names_b = ["a_only", "shared_metric"], ["b_only", "shared_metric"]
    for who, mine, theirs, mdn in ((bearer("a-read"), a_all, b, md_names_a), (bearer("b-read"), b, a_all, md_names_b),
                                   (basic(BASIC_USER, BASIC_PW), b, a_all, md_names_b)):
        _check_tenant_view(srv, who, mine, theirs, t0, t_end, mdn)
    # metadata help text of A's shared_metric is not B's (stored per metric; last writer wins)
    # -- documented as not isolated; only the metric list is checked above.
    # restart: the tenant label is persisted in the WAL and the isolation holds after replay
    check(srv.stop() == 0, "clean stop")
    srv.start()
    _check_tenant_view(srv, bearer("a-read"), a_all, b, t0, t_end, md_names_a)
    # deletion as A's admin of everything A can match leaves B intact
    st, body, _ = srv.request("POST", "/api/v1/admin/tsdb/delete_series", b"", bearer("a-admin"),
                              params={"match[]": ['{__name__=~".+"}', "b_only", '{__tenant__="B"}']})
    if st == 404:
        ctx.note("delete_series route not present: deletion isolation not checked")
    else:
        check(st == 204, f"delete_series as A: {st} {body!r}")
        ev = f"{t_end / 1000:.3f}"
        res = ok_data(srv, "/api/v1/query", bearer("a-read"), {"query": 'count({__name__=~".+"})', "time": ev})
        check(res["result"] == [], f"A after deleting its series: {res}")
        _check_tenant_view(srv, bearer("b-read"), b, a_all, t0, t_end, md_names_b)


def test_open_mode_refuses_tenant_label(ctx):
    srv = ctx.server()
    check("server is OPEN" in srv.log_text(), "open mode is not logged")
    t = now_ms()
    st, body = srv.push([({"__name__": "forged", "__tenant__": "A"}, [(t, 1.0)])])
    check(st == 400 and b"__tenant__" in body, f"open mode forged remote_write: {st} {body!r}")
    st, body, _ = srv.request("POST", "/api/v1/import/prometheus", b'forged{__tenant__="A"} 1\n')
    check(st == 400, f"open mode forged import: {st} {body!r}")
    st, body = srv.push([({"__name__": "fine", "job": "x"}, [(t, 1.0)])])
    check(st == 204, f"open mode ordinary push: {st} {body!r}")
    data = srv.query("fine", t / 1000)
    check(len(data["result"]) == 1 and data["result"][0]["metric"] == {"__name__": "fine", "job": "x"},
          f"open mode query: {data}")
    st, _, _ = srv.request("GET", "/metrics")
    check(st == 200, f"open mode /metrics: {st}")


def test_self_scrape_tenant(ctx):
    """With --auth-file, the self-scrape's series belong to --self-scrape-tenant: that tenant reads
    them, the other does not."""
    srv = auth_server(ctx, ["--self-scrape-interval", "200ms", "--self-scrape-tenant", "A"])
    q = {"query": 'count(metricstor_samples_appended_total{job="metricstor"})'}
    deadline = time.time() + 15
    res = []
    while time.time() < deadline:
        res = ok_data(srv, "/api/v1/query", bearer("a-read"), q)["result"]
        if res:
            break
        time.sleep(0.2)
    check(len(res) == 1 and res[0]["value"][1] == "1", f"tenant A does not see the self-scrape: {res}")
    check("__tenant__" not in json.dumps(res), f"tenant label leaked: {res}")
    res_b = ok_data(srv, "/api/v1/query", bearer("b-read"), q)["result"]
    check(res_b == [], f"tenant B sees A's self-scrape: {res_b}")
    names_b = ok_data(srv, "/api/v1/label/job/values", bearer("b-read"))
    check("metricstor" not in names_b, f"tenant B sees job=metricstor: {names_b}")
    bad = ctx.server(["--self-scrape-tenant", "no/slash"], start=False)
    bad.start_must_fail("an invalid --self-scrape-tenant")


def test_cli_credentials(ctx):
    """metricstor-cli sends $METRICSTOR_TOKEN / $METRICSTOR_BASIC_AUTH and sees its tenant's data;
    without a credential it reports the 401."""
    srv = auth_server(ctx)
    t = now_ms()
    st, body = push(srv, bearer("a-write"), [({"__name__": "cli_seen", "who": "a"}, [(t, 7.0)])])
    check(st == 204, f"push as A: {st} {body!r}")
    st, body = push(srv, bearer("b-write"), [({"__name__": "cli_seen", "who": "b"}, [(t, 8.0)])])
    check(st == 204, f"push as B: {st} {body!r}")

    def cli(env_extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("METRICSTOR_")}
        env.update(env_extra)
        return subprocess.run([cli_path(ctx), "--url", f"http://127.0.0.1:{srv.port}", "query", "--time",
                               f"{t / 1000:.3f}", "cli_seen"], capture_output=True, text=True, timeout=60, env=env)

    r = cli({"METRICSTOR_TOKEN": TOKENS["a-read"][0]})
    check(r.returncode == 0 and 'cli_seen{who="a"}' in r.stdout and 'who="b"' not in r.stdout,
          f"cli as A: rc={r.returncode} {r.stdout!r} {r.stderr!r}")
    r = cli({"METRICSTOR_BASIC_AUTH": f"{BASIC_USER}:{BASIC_PW}"})
    check(r.returncode == 0 and 'cli_seen{who="b"}' in r.stdout and 'who="a"' not in r.stdout,
          f"cli as basic user of B: rc={r.returncode} {r.stdout!r} {r.stderr!r}")
    r = cli({})
    check(r.returncode != 0 and "unauthorized" in r.stderr, f"cli without credentials: rc={r.returncode} "
          f"{r.stdout!r} {r.stderr!r}")
    r = cli({"METRICSTOR_TOKEN": "not-a-token-" + "9" * 40})
    check(r.returncode != 0 and "unauthorized" in r.stderr, f"cli with a wrong token: rc={r.returncode} "
          f"{r.stdout!r} {r.stderr!r}")


def test_bad_auth_file(ctx):
    probe = ctx.server(start=False)
    good = sha256_hash("x" * 40)
    cases = (
        ("bearer t1 plaintext A read\n", "salted hash"),
        (f"bearer t1 {good} A superuser\n", "unknown role"),
        (f"bearer t1 {good} bad/tenant read\n", "invalid tenant"),
        (f"bearer t1 {good} A read expires=tomorrow\n", "bad expires"),
        (f"bearer t1 {good} A read\nbearer t1 {good} B read\n", "duplicate name"),
        ("# only a comment\n", "no credentials"),
    )
    for i, (text, want) in enumerate(cases):
        path = os.path.join(probe.tmp, f"auth{i}.txt")
        with open(path, "w") as f:
            f.write(text)
        bad = ctx.server(["--auth-file", path], start=False)
        bad.start_must_fail(f"a bad auth file: {text!r}")
        check(want in bad.log_text(), f"auth file {text!r}: log lacks {want!r}:\n{bad.log_tail()}")
    missing = ctx.server(["--auth-file", os.path.join(probe.tmp, "nope.txt")], start=False)
    missing.start_must_fail("a missing auth file")
    check("cannot open --auth-file" in missing.log_text(), missing.log_tail())
