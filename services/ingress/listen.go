package main

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Bounded connections on the public address. Every open connection, idle
// keep-alive ones included, costs a goroutine and its buffers (about 10 KiB
// in all, README "Security"), so their number is capped: past
// MAX_CONNECTIONS a new connection is answered with a fixed 503 problem and
// closed, instead of being served or left waiting in the kernel's backlog
// (golang.org/x/net/netutil.LimitListener blocks Accept instead, so a sender
// past the cap would hang with no answer; a clear, retryable status is
// better for webhook senders, whose retry logic keys on the status).

// busyResponse is what a connection past the cap gets, before its request is
// read. Connection: close, so clients do not try to reuse it.
var busyResponse = "HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: application/problem+json\r\n" +
	"Retry-After: 1\r\n" +
	"Cache-Control: no-store\r\n" +
	"X-Content-Type-Options: nosniff\r\n" +
	"Connection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(busyBody)) + "\r\n" +
	"\r\n" + busyBody

const busyBody = `{"type":"` + typeBusy + `","title":"Server busy","status":503,` +
	`"detail":"too many open connections; retry after the time in Retry-After"}` + "\n"

// maxRejecting bounds the goroutines answering connections past the cap; past
// it they are closed without an answer (a flood must not turn the refusals
// into the resource it exhausts).
const maxRejecting = 64

// rejectTimeout bounds the time spent answering one refused connection.
const rejectTimeout = 2 * time.Second

// connLimiter wraps a listener so at most max connections are open.
type connLimiter struct {
	net.Listener
	slots     chan struct{}
	rejecting chan struct{}
	rejected  atomic.Int64
}

func limitConnections(ln net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: ln, slots: make(chan struct{}, max), rejecting: make(chan struct{}, maxRejecting)}
}

// Accept returns the next connection under the cap, refusing those past it.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			l.rejected.Add(1)
			l.reject(c)
		}
	}
}

// open is the number of connections being served.
func (l *connLimiter) open() int { return len(l.slots) }

// reject answers c with busyResponse and closes it. The answer waits for the
// request's head (or 4 KiB of it): clients such as Go's treat an answer that
// arrives before they sent anything as a broken connection. The rest is
// drained for a moment after the answer: closing a socket with unread bytes
// sends a reset, which can destroy the answer before the client reads it.
func (l *connLimiter) reject(c net.Conn) {
	select {
	case l.rejecting <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	go func() {
		defer func() { <-l.rejecting }()
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(rejectTimeout))
		var buf [4 << 10]byte
		for n := 0; n < len(buf); {
			k, err := c.Read(buf[n:])
			n += k
			if err != nil || bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
				break
			}
		}
		if _, err := io.WriteString(c, busyResponse); err != nil {
			return
		}
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}()
}

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
