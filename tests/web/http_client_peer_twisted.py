"""A twisted.web server for tests/web/test_http_client_interop.c: weft's HTTP client against a
server it did not write.

Usage: http_client_peer_twisted.py PORTS_FILE CERT KEY
Listens on 127.0.0.1 port 0 in HTTP and HTTPS (twisted.internet.ssl with CERT and KEY, signed by
the test's CA), then writes "HTTP_PORT HTTPS_PORT" to PORTS_FILE (atomically) and serves until
SIGTERM. Every response carries X-Conn, an identifier of its connection (keep-alive is counted
with it).
  /hello     a fixed body with Content-Length
  /stream    a body written in 5 pieces over time, no length: chunked
  /redirect  302 to /hello (relative Location)
  /echo      "METHOD BODY"
Exit status 3 when Twisted cannot be imported (scripts/deps installs python3-twisted)."""
import os
import sys

try:
    from twisted.internet import reactor, ssl
    from twisted.web import resource, server
except ImportError as e:
    print("cannot import twisted (%s): install python3-twisted (scripts/deps)" % e)
    sys.exit(3)


class Root(resource.Resource):
    isLeaf = True

    def render(self, request):
        request.setHeader(b"x-conn", b"%d" % id(request.channel))
        path = request.path
        if path == b"/hello":
            return b"hello from twisted"
        if path == b"/redirect":
            request.redirect(b"/hello")
            return b""
        if path == b"/echo":
            return request.method + b" " + request.content.read()
        if path == b"/stream":
            gone = []
            request.notifyFinish().addErrback(lambda _: gone.append(True))

            def part(i):
                if gone:
                    return
                if i == 5:
                    request.finish()
                    return
                request.write(b"part%d;" % i)
                reactor.callLater(0.02, part, i + 1)

            part(0)
            return server.NOT_DONE_YET
        request.setResponseCode(404)
        return b"no"


def main():
    ports_file, cert, key = sys.argv[1:4]
    site = server.Site(Root())
    plain = reactor.listenTCP(0, site, interface="127.0.0.1")
    tls = reactor.listenSSL(0, site, ssl.DefaultOpenSSLContextFactory(key, cert), interface="127.0.0.1")
    with open(ports_file + ".tmp", "w") as f:
        f.write("%d %d\n" % (plain.getHost().port, tls.getHost().port))
    os.rename(ports_file + ".tmp", ports_file)
    reactor.run()


if __name__ == "__main__":
    main()
