package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/julienschmidt/httprouter"
)

// limitBodies bounds the time to read a request's body to BodyTimeout from
// when its headers are in. ReadHeaderTimeout cuts slow headers; without
// this a client sending a byte now and then would hold its connection, and
// a file descriptor, for ever. Streams have no body, so no deadline: one on
// the connection would end them. An answer that leaves the body unread (a
// 401 or 429 before reading it) closes an HTTP/1 connection instead of
// letting net/http read up to 256 KiB of the body first, from a client that
// may send it slowly or never.
func (s *Server) limitBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		b := &timedBody{ReadCloser: r.Body, rc: http.NewResponseController(w)}
		b.setTimeout(s.BodyTimeout)
		r = r.WithContext(r.Context()) // a copy: net/http keeps the original body
		r.Body = b
		next.ServeHTTP(&unreadBodyWriter{ResponseWriter: w, body: b, http1: r.ProtoMajor == 1}, r)
	})
}

// withBodyTimeout gives the body of h's requests d to arrive instead of
// BodyTimeout: imports are large.
func withBodyTimeout(d time.Duration, h httprouter.Handle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if b, ok := r.Body.(*timedBody); ok {
			b.setTimeout(d)
		}
		h(w, r, ps)
	}
}

// timedBody is a request body read under a deadline.
type timedBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration // 0: none
	done    bool          // read to its end: nothing is left for the connection to drain
}

// setTimeout sets the deadline d from now.
func (b *timedBody) setTimeout(d time.Duration) {
	b.timeout = d
	if d > 0 {
		b.rc.SetReadDeadline(time.Now().Add(d))
	} else {
		b.rc.SetReadDeadline(time.Time{})
	}
}

// Read lifts the deadline at the end of the body, so that a handler that
// works long after reading is not cut off by it, and turns a timeout into
// an answer.
func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		if !b.done && b.timeout > 0 {
			b.rc.SetReadDeadline(time.Time{})
		}
		b.done = true
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = errorf(http.StatusRequestTimeout, "the request body took longer than %s to arrive", shortDuration(b.timeout))
	}
	return n, err
}

// unreadBodyWriter closes an HTTP/1 connection after an error answered
// before the request's body was read, without reading the rest: net/http
// would otherwise read up to 256 KiB of it, after the answer, before
// letting the connection go. (HTTP/2 resets the stream alone; a
// "Connection: close" there would end the client's other streams too.)
type unreadBodyWriter struct {
	http.ResponseWriter
	body  *timedBody
	http1 bool
}

func (w *unreadBodyWriter) WriteHeader(code int) {
	if code >= 400 && w.http1 && !w.body.done {
		w.Header().Set("Connection", "close")
		// A deadline already passed ends that reading at once; the answer
		// is written all the same.
		w.body.rc.SetReadDeadline(time.Now())
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *unreadBodyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// readErr is the answer to a failure reading a request body: over its
// limit (413) or too slow to arrive (408) as they are, anything else 400.
func readErr(err error) error {
	var mbe *http.MaxBytesError
	var he *httpError
	if errors.As(err, &mbe) || errors.As(err, &he) {
		return err
	}
	return errorf(http.StatusBadRequest, "reading body: %v", err)
}
