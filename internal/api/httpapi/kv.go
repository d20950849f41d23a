package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
)

// Headers of a key's answers.
const (
	HeaderVersion = "X-Cairn-Version" // the key's version (the index of the entry that last wrote it)
	HeaderTTL     = "X-Cairn-TTL-Ms"  // milliseconds left before the key's deadline; absent without one
)

// keyOf is the key ServeHTTP took from the path.
func keyOf(r *http.Request) []byte {
	if k, ok := r.Context().Value(keyCtx{}).(string); ok {
		return []byte(k)
	}
	return []byte(r.PathValue("key"))
}

// checkKey answers 400 for an empty key and 413 for one over --max-key-size.
func (s *Server) checkKey(w http.ResponseWriter, key []byte) bool {
	err := s.b.Limits().CheckKey(key)
	switch {
	case err == nil:
		return true
	case errors.Is(err, api.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", err.Error())
	default:
		writeError(w, http.StatusBadRequest, "invalid_argument",
			err.Error()+" (the key is the path after /v1/kv/; list keys with GET /v1/kv?prefix=)")
	}
	return false
}

// readMode parses ?consistency=, default linearizable.
func readMode(w http.ResponseWriter, q map[string]string) (replica.ReadMode, bool) {
	switch v, ok := q["consistency"]; {
	case !ok, v == "linearizable":
		return replica.Linearizable, true
	case v == "follower":
		return replica.Follower, true
	case v == "stale":
		return replica.Stale, true
	default:
		badParam(w, "consistency", "%q is not one of linearizable (the default), follower, stale", v)
		return 0, false
	}
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	q, ok := query(w, r, "consistency")
	if !ok {
		return
	}
	mode, ok := readMode(w, q)
	if !ok || !s.checkKey(w, key) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	rep, err := s.b.Read(ctx, s.b.Partition(key), mode, kv.GetQuery(key))
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	if len(rep.Responses) != 1 {
		writeError(w, http.StatusInternalServerError, "internal", "the read answered no response")
		return
	}
	item := rep.Responses[0]
	if item.Code != kv.CodeOK {
		writeError(w, http.StatusNotFound, "not_found", "key not found")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(item.Value)))
	h.Set(HeaderVersion, strconv.FormatUint(item.Version, 10))
	if item.Deadline != 0 {
		h.Set(HeaderTTL, strconv.FormatInt(s.ttlMillis(item.Deadline), 10))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(item.Value)
}

// ttlMillis is deadline minus the node's clock, never negative: a key past
// its deadline exists until the leader's expiry applies (DESIGN.md, Expiry).
func (s *Server) ttlMillis(deadline int64) int64 {
	ms := (deadline - s.b.Now().UnixNano()) / int64(time.Millisecond)
	return max(ms, 0)
}

// putAnswer is PUT's 200/201 body.
type putAnswer struct {
	Version uint64 `json:"version"`
}

func (s *Server) putKey(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	q, ok := query(w, r, "ttl", "if_version", "if_absent", "if_value")
	if !ok || !s.checkKey(w, key) {
		return
	}
	lim := s.b.Limits()
	req := kv.Put(key, nil)
	// created says what a success means when a condition decides it; nil:
	// kv's answer says (Int is 1 when the PUT replaced a key).
	var created *bool
	yes, no := true, false
	if v, ok := q["ttl"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			badParam(w, "ttl", "%q is not a positive Go duration such as 500ms, 10s or 1h30m", v)
			return
		}
		req = req.WithTTL(d)
	}
	if v, ok := q["if_version"]; ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			badParam(w, "if_version", "%q is not a version (an unsigned integer; 0: the key must be absent)", v)
			return
		}
		req = req.IfVersion(n)
		if n == 0 {
			created = &yes
		} else {
			created = &no
		}
	}
	if v, ok := q["if_absent"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			badParam(w, "if_absent", "%q is not true or false", v)
			return
		}
		if b {
			req = req.IfAbsent()
			created = &yes
		}
	}
	if v, ok := q["if_value"]; ok {
		if len(v) > lim.MaxValueSize {
			badParam(w, "if_value", "%d bytes, over --max-value-size %d", len(v), lim.MaxValueSize)
			return
		}
		req = req.IfValue([]byte(v))
		created = &no
	}
	if r.ContentLength > int64(lim.MaxValueSize) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("value is %d bytes, over --max-value-size %d", r.ContentLength, lim.MaxValueSize))
		return
	}
	body := http.MaxBytesReader(w, r.Body, int64(lim.MaxValueSize))
	val, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large",
				fmt.Sprintf("value is over --max-value-size %d bytes", lim.MaxValueSize))
			return
		}
		writeError(w, http.StatusBadRequest, "invalid_argument", "reading the request body: "+err.Error())
		return
	}
	if err := lim.CheckValue(val); err != nil { // a Backend whose limit moved
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", err.Error())
		return
	}
	req.Value = val

	resp, ok := s.propose(w, r, req)
	if !ok {
		return
	}
	switch resp.Code {
	case kv.CodeOK:
		w.Header().Set(HeaderVersion, strconv.FormatUint(resp.Version, 10))
		status := http.StatusOK
		if created != nil && *created || created == nil && resp.Int == 0 {
			status = http.StatusCreated
		}
		writeJSON(w, status, putAnswer{Version: resp.Version})
	case kv.CodeInvalidExpire:
		badParam(w, "ttl", "%s: the deadline overflows", kv.CodeInvalidExpire.Message())
	default:
		s.codeError(w, resp)
	}
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	q, ok := query(w, r, "if_version")
	if !ok || !s.checkKey(w, key) {
		return
	}
	req := kv.Delete(key)
	if v, ok := q["if_version"]; ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			badParam(w, "if_version", "%q is not a version (an unsigned integer)", v)
			return
		}
		req = req.IfVersion(n)
	}
	resp, ok := s.propose(w, r, req)
	if !ok {
		return
	}
	switch resp.Code {
	case kv.CodeOK:
		w.WriteHeader(http.StatusNoContent)
	case kv.CodeNotFound:
		writeError(w, http.StatusNotFound, "not_found", "key not found")
	default:
		s.codeError(w, resp)
	}
}

// incrAnswer is POST ?op=incr's body.
type incrAnswer struct {
	Value   int64  `json:"value"`
	Version uint64 `json:"version"`
}

func (s *Server) postKey(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	q, ok := query(w, r, "op", "by")
	if !ok {
		return
	}
	switch op, ok := q["op"]; {
	case !ok:
		badParam(w, "op", "required (the only op is incr)")
		return
	case op != "incr":
		badParam(w, "op", "%q is not an op (the only op is incr)", op)
		return
	}
	by := int64(1)
	if v, ok := q["by"]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			badParam(w, "by", "%q is not a base-10 64-bit integer", v)
			return
		}
		by = n
	}
	if !s.checkKey(w, key) {
		return
	}
	resp, ok := s.propose(w, r, kv.IncrBy(key, by))
	if !ok {
		return
	}
	if resp.Code != kv.CodeOK {
		s.codeError(w, resp)
		return
	}
	w.Header().Set(HeaderVersion, strconv.FormatUint(resp.Version, 10))
	writeJSON(w, http.StatusOK, incrAnswer{Value: resp.Int, Version: resp.Version})
}

// propose runs req as one command under a fresh session and returns its
// response, or answers the error and returns false.
//
// NB: an HTTP request carries no session. The node retries a command only
// when it was certainly not applied, so a one-shot session would dedupe
// nothing, and it would sit in the partition's replicated state for an
// hour per write. A client's own retry is a new request: exactly-once over
// HTTP holds per request only (use if_version to make a retry safe).
func (s *Server) propose(w http.ResponseWriter, r *http.Request, req kv.Request) (kv.Response, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	rep, err := s.b.Propose(ctx, s.b.Partition(req.Key), kv.NewCommand(req))
	if err != nil {
		s.backendError(w, r, err)
		return kv.Response{}, false
	}
	if rep.Code != kv.CodeOK {
		s.codeError(w, kv.Response{Code: rep.Code})
		return kv.Response{}, false
	}
	if len(rep.Responses) != 1 {
		s.log.Warn("httpapi: a one-request command answered another number of responses", "n", len(rep.Responses))
		writeError(w, http.StatusInternalServerError, "internal", "the state machine answered no response")
		return kv.Response{}, false
	}
	return rep.Responses[0], true
}

// codeError answers a kv code other than the request's success.
func (s *Server) codeError(w http.ResponseWriter, resp kv.Response) {
	switch c := resp.Code; c {
	case kv.CodeConditionFailed:
		v := resp.Version
		writeJSON(w, http.StatusConflict, errorBody{
			Error:   "condition failed (version is the key's current version, 0 when absent)",
			Code:    "condition_failed",
			Version: &v,
		})
	case kv.CodeNotFound:
		writeError(w, http.StatusNotFound, "not_found", "key not found")
	case kv.CodeNotInteger:
		writeError(w, http.StatusBadRequest, "not_integer", c.Message())
	case kv.CodeOverflow:
		writeError(w, http.StatusBadRequest, "overflow", c.Message())
	case kv.CodeInvalidExpire:
		writeError(w, http.StatusBadRequest, "invalid_argument", c.Message())
	case kv.CodeMalformed:
		writeError(w, http.StatusBadRequest, "invalid_argument", c.Message())
	default:
		// Session codes cannot happen with one command per fresh session.
		s.log.Warn("httpapi: unexpected state machine answer", "code", c.String())
		writeError(w, http.StatusInternalServerError, "internal", c.Message())
	}
}
