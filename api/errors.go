package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/stream"
)

// httpError is an error the API answers with a given status and message.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// writeError is the one place an error becomes a response: a status from the
// error's kind and a JSON body {"error": "..."}. Unexpected errors are logged
// and answered with a generic 500, never their text.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		he     *httpError
		ve     *store.ValidationError
		ie     *store.ImportError
		nfe    *store.NotFoundError
		ce     *store.ConflictError
		ue     *store.UnavailableError
		mbe    *http.MaxBytesError
		status = http.StatusInternalServerError
		msg    = "internal error"
	)
	switch {
	case errors.Is(err, errLimited):
		return // answered already
	case errors.As(err, &he):
		status, msg = he.status, he.msg
	case errors.As(err, &ve):
		status, msg = http.StatusBadRequest, ve.Error()
	case errors.As(err, &ie):
		status, msg = http.StatusBadRequest, ie.Error()
	case errors.Is(err, store.ErrQuota):
		status, msg = http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, store.ErrTooLarge):
		status, msg = http.StatusRequestEntityTooLarge, err.Error()
	case errors.As(err, &mbe):
		status, msg = http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)
	case errors.As(err, &nfe):
		status, msg = http.StatusNotFound, nfe.Error()
	case errors.Is(err, store.ErrNotFound):
		// Not a lie about what: handlers that know name it (errorf).
		status, msg = http.StatusNotFound, "not found"
	case errors.Is(err, store.ErrForbidden):
		status, msg = http.StatusForbidden, store.ErrForbidden.Error()
	case errors.As(err, &ce):
		status, msg = http.StatusConflict, ce.Error()
	case errors.Is(err, store.ErrConflict):
		status, msg = http.StatusConflict, "conflict with the current state"
	case errors.Is(err, stream.ErrGone):
		status, msg = http.StatusNotFound, err.Error()
	case errors.Is(err, stream.ErrNotYours):
		status, msg = http.StatusForbidden, err.Error()
	case errors.As(err, &ue):
		status, msg = http.StatusServiceUnavailable, ue.Error()
	case errors.Is(err, store.ErrClosed), errors.Is(err, stream.ErrClosed):
		status, msg = http.StatusServiceUnavailable, "server is shutting down"
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client has gone; nobody to answer
	default:
		s.Logger.Error("request failed", "method", r.Method, "path", loggedPath(r), "err", err)
	}
	switch status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
	}
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	writeRawJSON(w, status, b)
}

// contentTypeJSON is shared by every JSON answer: net/http only reads it,
// and assigning it saves two allocations a request over Header.Set.
var contentTypeJSON = []string{"application/json; charset=utf-8"}

func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// loggedPath is a request's path fit for logs: invite codes in it, which
// are secrets, are cut out.
func loggedPath(r *http.Request) string {
	for _, prefix := range []string{"/api/join/", "/join/"} {
		if strings.HasPrefix(r.URL.Path, prefix) {
			return prefix + "…"
		}
	}
	return r.URL.Path
}
