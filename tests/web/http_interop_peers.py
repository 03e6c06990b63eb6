"""HTTP clients we did not write, run against a weft server by tests/web/test_http_interop.c.

Usage: http_interop_peers.py httpclient|twisted PORT

The server serves the app of tests/web/http_live.h: /hello, /echo (the body back), /stream?N,S
(N chunks of S bytes of the pattern 'a' + j % 26). Each mode prints one "<mode> ok ..." line
and exits 0 when every check held; on a failed check it prints why and exits 1 (exit 3 when
Twisted cannot be imported: scripts/deps installs python3-twisted)."""
import sys


def pattern(n):
    return bytes(97 + j % 26 for j in range(n))


def fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)


def httpclient(port):
    import http.client

    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    first = None
    # Keep-alive: several requests on one connection, the socket never replaced.
    for i in range(5):
        c.request("GET", "/hello")
        r = c.getresponse()
        body = r.read()
        if r.status != 200 or body != b"hello\n":
            fail("GET /hello %d: %d %r" % (i, r.status, body[:80]))
        if r.will_close:
            fail("the server closes a keep-alive connection")
        if first is None:
            first = c.sock
        elif c.sock is not first:
            fail("a new connection for request %d" % i)
    # A chunked request body (an iterable, Transfer-Encoding: chunked), on the same connection.
    parts = [b"abc", b"0123456789" * 300, b"", b"xyz"]
    c.request("POST", "/echo", body=iter([p for p in parts if p]), encode_chunked=True,
              headers={"Transfer-Encoding": "chunked"})
    r = c.getresponse()
    body = r.read()
    if r.status != 200 or body != b"".join(parts) or r.getheader("X-Method") != "POST":
        fail("chunked POST: %d %r" % (r.status, body[:80]))
    # A chunked response, read whole.
    c.request("GET", "/stream?20,3000")
    r = c.getresponse()
    body = r.read()
    if r.status != 200 or r.getheader("Transfer-Encoding") != "chunked" or body != pattern(60000):
        fail("chunked GET: %d %s %d bytes" % (r.status, r.getheader("Transfer-Encoding"), len(body)))
    if c.sock is not first:
        fail("the connection was not kept")
    c.close()
    print("httpclient ok: 7 requests on one connection")


def twisted(port):
    try:
        from io import BytesIO

        from twisted.internet import defer, task
        from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool, readBody
        from twisted.web.http_headers import Headers
        from twisted.web.iweb import UNKNOWN_LENGTH
    except ImportError as e:
        print("cannot import twisted (%s): install python3-twisted (scripts/deps)" % e)
        sys.exit(3)
    base = b"http://127.0.0.1:%d" % port
    checks = []

    @defer.inlineCallbacks
    def main(reactor):
        pool = HTTPConnectionPool(reactor, persistent=True)
        agent = Agent(reactor, pool=pool)
        try:
            r = yield agent.request(b"GET", base + b"/hello")
            body = yield readBody(r)
            if r.code != 200 or body != b"hello\n":
                checks.append("GET /hello: %d %r" % (r.code, body[:80]))
            payload = bytes(range(256)) * 40
            r = yield agent.request(b"POST", base + b"/echo", Headers({b"Content-Type": [b"x/y"]}),
                                    FileBodyProducer(BytesIO(payload)))
            body = yield readBody(r)
            if r.code != 200 or body != payload or r.headers.getRawHeaders(b"x-method") != [b"POST"]:
                checks.append("POST /echo: %d, %d bytes back" % (r.code, len(body)))
            r = yield agent.request(b"GET", base + b"/stream?50,4000")
            body = yield readBody(r)
            if r.code != 200 or r.length is not UNKNOWN_LENGTH or body != pattern(200000):
                checks.append("chunked GET: %d, length %r, %d bytes" % (r.code, r.length, len(body)))
        finally:
            yield pool.closeCachedConnections()

    try:
        task.react(lambda reactor: main(reactor))
    except SystemExit as e:
        if e.code not in (0, None):
            fail("the Twisted run failed (exit %r)" % e.code)
    if checks:
        fail("; ".join(checks))
    print("twisted ok: GET, POST with a body, a chunked stream")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("httpclient", "twisted"):
        print(__doc__)
        sys.exit(2)
    {"httpclient": httpclient, "twisted": twisted}[sys.argv[1]](int(sys.argv[2]))
