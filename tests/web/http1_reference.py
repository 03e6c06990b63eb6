#!/usr/bin/env python3
"""http1_reference.py: the reference side of weft's HTTP/1.1 parser differential test
(tests/web/test_http1_differential.c). Parses each byte stream as a server would with h11
(Debian's python3-h11) and prints the same transcript format as tests/web/h1_record.h's
differential mode:

    REQ <method> <target> HTTP/<version> cont=<0|1>
    H <lowercased name>: <value>
    BODY <body of the message>
    T <lowercased name>: <value>        (trailers)
    END ka=<0|1>
    SWITCH                              (the request asked to switch protocols; stop)
    ERROR                               (the stream was refused; stop)

Input (a file named on the command line): cases one after the other, each "<length>\\n" then
that many bytes. Output: "CASE <n>" before each transcript.

Keep-alive is computed by RFC 9112 §9.3 (HTTP/1.0 persists with "Connection: keep-alive"),
which h11 does not implement: h11 parses HTTP/1.0 keep-alive requests fine but always closes
after them, so for those the rest of the stream goes to a fresh h11 connection."""

import sys

import h11


def esc(b, lower=False):
    out = []
    for c in b:
        if c == 0x5C:
            out.append("\\\\")
        elif 0x20 <= c < 0x7F:
            ch = chr(c)
            out.append(ch.lower() if lower else ch)
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def tokens(headers, name):
    out = []
    for n, v in headers:
        if n == name:
            out += [t.strip().lower() for t in v.split(b",")]
    return out


def keep_alive(req):
    conn = tokens(req.headers, b"connection")
    if b"close" in conn:
        return False
    if req.http_version == b"1.0":
        return b"keep-alive" in conn
    return True


def transcript(data):
    out = []
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    req, body = None, b""
    while True:
        try:
            ev = conn.next_event()
        except h11.RemoteProtocolError:
            if body:  # body bytes received before the refusal were delivered
                out.append("BODY " + esc(body))
            out.append("ERROR")
            return out
        if ev is h11.NEED_DATA or ev is h11.PAUSED or isinstance(ev, h11.ConnectionClosed):
            if body:
                out.append("BODY " + esc(body))
            return out
        if isinstance(ev, h11.Request):
            req, body = ev, b""
            cont = 1 if conn.they_are_waiting_for_100_continue else 0
            out.append("REQ %s %s HTTP/%s cont=%d" % (esc(ev.method), esc(ev.target), ev.http_version.decode(), cont))
            # h11 gives names lowercased; raw_items keeps the order as sent
            for n, v in ev.headers.raw_items():
                out.append("H %s: %s" % (esc(n, True), esc(v)))
        elif isinstance(ev, h11.Data):
            body += ev.data
        elif isinstance(ev, h11.EndOfMessage):
            if body:
                out.append("BODY " + esc(body))
            body = b""
            for n, v in ev.headers.raw_items():
                out.append("T %s: %s" % (esc(n, True), esc(v)))
            ka = keep_alive(req)
            out.append("END ka=%d" % (1 if ka else 0))
            if conn.their_state is h11.MIGHT_SWITCH_PROTOCOL:
                out.append("SWITCH")
                return out
            if not ka:
                return out
            conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
            conn.send(h11.EndOfMessage())
            if conn.our_state is h11.MUST_CLOSE:  # HTTP/1.0 keep-alive: h11 would close here
                rest = conn.trailing_data[0]
                conn = h11.Connection(h11.SERVER)
                if rest:  # receive_data(b"") would mean end of stream
                    conn.receive_data(bytes(rest))
            else:
                conn.start_next_cycle()


def main():
    data = open(sys.argv[1], "rb").read()
    pos, n = 0, 0
    w = sys.stdout.write
    while pos < len(data):
        nl = data.index(b"\n", pos)
        size = int(data[pos:nl])
        case = data[nl + 1 : nl + 1 + size]
        pos = nl + 1 + size
        w("CASE %d\n" % n)
        for line in transcript(case):
            w(line + "\n")
        n += 1


if __name__ == "__main__":
    main()
