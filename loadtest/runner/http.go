package runner

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// httpSender is a minimal HTTP/1.1 keep-alive client over one connection.
// net/http's client costs several times the CPU per request (it allocates a
// request, a response, header maps and a goroutine pair per connection); on a
// 2-core machine shared with the server under test that cost would be
// measured as the server's. It speaks only what the runner needs: POST with
// Content-Length, answers with Content-Length, chunked or close-delimited
// bodies.
type httpSender struct {
	addr    string
	head    []byte // request line and fixed headers
	sign    func([]byte) http.Header
	timeout time.Duration
	jobID   bool

	conn net.Conn
	br   *bufio.Reader
	wbuf []byte
	body []byte
}

func newHTTPSender(target string, o *Options) (*httpSender, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("runner: target %q: %w", target, err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("runner: target %q: only http:// is supported", target)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	path := u.EscapedPath()
	if path == "" || path == "/" {
		path = "/webhooks/" + url.PathEscape(o.Provider)
	}
	var h bytes.Buffer
	fmt.Fprintf(&h, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: webhook-ingestor-loadtest\r\nContent-Type: application/json\r\n", path, u.Host)
	for k, vs := range o.Header {
		for _, v := range vs {
			fmt.Fprintf(&h, "%s: %s\r\n", k, v)
		}
	}
	return &httpSender{addr: host, head: h.Bytes(), sign: o.Sign, timeout: o.Timeout, jobID: o.Records}, nil
}

func (s *httpSender) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// Send posts ev. A keep-alive connection the server closed while idle fails
// before any byte of an answer: that attempt is repeated once on a new
// connection, as net/http does, and is not a failure of the server.
func (s *httpSender) Send(_ context.Context, ev Event) Response {
	reused := s.conn != nil
	resp, answered := s.roundTrip(ev)
	if resp.Err != nil && reused && !answered && !isTimeout(resp.Err) {
		resp, _ = s.roundTrip(ev)
	}
	return resp
}

func (s *httpSender) roundTrip(ev Event) (resp Response, answered bool) {
	deadline := time.Now().Add(s.timeout)
	if s.conn == nil {
		d := net.Dialer{Deadline: deadline}
		c, err := d.Dial("tcp", s.addr)
		if err != nil {
			return Response{Err: err}, false
		}
		s.conn = c
		if s.br == nil {
			s.br = bufio.NewReaderSize(c, 4096)
		} else {
			s.br.Reset(c)
		}
	}
	if err := s.conn.SetDeadline(deadline); err != nil {
		s.Close()
		return Response{Err: err}, false
	}
	b := append(s.wbuf[:0], s.head...)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(ev.Body)), 10)
	b = append(b, "\r\n"...)
	if s.sign != nil {
		for k, vs := range s.sign(ev.Body) {
			for _, v := range vs {
				b = append(b, k...)
				b = append(b, ": "...)
				b = append(b, v...)
				b = append(b, "\r\n"...)
			}
		}
	}
	b = append(b, "\r\n"...)
	b = append(b, ev.Body...)
	s.wbuf = b
	if _, err := s.conn.Write(b); err != nil {
		s.Close()
		return Response{Err: err}, false
	}
	resp, answered, keep := s.readResponse()
	if !keep || resp.Err != nil {
		s.Close()
	}
	return resp, answered
}

var (
	errMalformed = errors.New("malformed HTTP answer")
	dupMarker    = []byte(`"duplicate":true`)
	jobIDMarker  = []byte(`"jobId":"`)
)

func (s *httpSender) readResponse() (resp Response, answered, keep bool) {
	line, err := s.br.ReadSlice('\n')
	if err != nil {
		return Response{Err: err}, len(line) > 0, false
	}
	answered = true
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return Response{Err: errMalformed}, true, false
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return Response{Err: errMalformed}, true, false
	}
	resp.Status = status
	keep = line[7] == '1' // HTTP/1.1 keeps alive by default, 1.0 does not
	length, chunked := int64(-1), false
	for {
		line, err = s.br.ReadSlice('\n')
		if err != nil {
			return Response{Err: err}, true, false
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return Response{Err: errMalformed}, true, false
		}
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "content-length"):
			length, err = strconv.ParseInt(string(v), 10, 64)
			if err != nil || length < 0 {
				return Response{Err: errMalformed}, true, false
			}
		case asciiEqualFold(k, "transfer-encoding"):
			chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
		case asciiEqualFold(k, "connection"):
			switch {
			case bytes.EqualFold(v, []byte("close")):
				keep = false
			case bytes.EqualFold(v, []byte("keep-alive")):
				keep = true
			}
		case asciiEqualFold(k, "retry-after"):
			if secs, err := strconv.Atoi(string(v)); err == nil && secs >= 0 {
				resp.RetryAfter = time.Duration(secs) * time.Second
			}
		}
	}
	body := s.body[:0]
	switch {
	case status == 204 || status == 304 || status/100 == 1:
	case chunked:
		body, err = readChunked(s.br, body)
	case length >= 0:
		if int64(cap(body)) < length {
			body = make([]byte, length)
		}
		body = body[:length]
		_, err = io.ReadFull(s.br, body)
	default:
		body, err = readAll(s.br, body)
		keep = false
	}
	s.body = body
	if err != nil {
		return Response{Err: err}, true, false
	}
	resp.Duplicate = status == 202 && bytes.Contains(body, dupMarker)
	if s.jobID {
		if _, rest, ok := bytes.Cut(body, jobIDMarker); ok {
			if id, _, ok := bytes.Cut(rest, []byte(`"`)); ok {
				resp.JobID = string(id)
			}
		}
	}
	return resp, true, keep
}

func readChunked(br *bufio.Reader, body []byte) ([]byte, error) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return body, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || n < 0 {
			return body, errMalformed
		}
		if n == 0 {
			for { // trailers, then the empty line
				line, err := br.ReadSlice('\n')
				if err != nil {
					return body, err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return body, nil
				}
			}
		}
		start := len(body)
		body = append(body, make([]byte, n)...)
		if _, err := io.ReadFull(br, body[start:]); err != nil {
			return body, err
		}
		if _, err := br.Discard(2); err != nil { // CRLF after the chunk
			return body, err
		}
	}
}

func readAll(r io.Reader, body []byte) ([]byte, error) {
	for {
		if len(body) == cap(body) {
			body = append(body, 0)[:len(body)]
		}
		n, err := r.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if err == io.EOF {
			return body, nil
		}
		if err != nil {
			return body, err
		}
	}
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func classify(err error) string {
	switch {
	case isTimeout(err):
		return CauseTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return CauseConnRefused
	default:
		return CauseConn
	}
}
