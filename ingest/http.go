package ingest

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// OTLP/HTTP, per https://opentelemetry.io/docs/specs/otlp/#otlphttp.

const (
	ctProto = "application/x-protobuf"
	ctJSON  = "application/json"
)

func (r *Receiver) httpHandler() http.Handler {
	mux := http.NewServeMux()
	for _, sig := range []*signal{r.logs, r.traces, r.metrics} {
		mux.Handle(sig.path, r.serveHTTP(sig))
	}
	return mux
}

func (r *Receiver) serveHTTP(sig *signal) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeStatus(w, false, http.StatusMethodNotAllowed, codes.Unimplemented, "use POST")
			r.countRequest(sig, "http", "405")
			return
		}
		mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
		var isJSON bool
		switch mt {
		case ctProto:
		case ctJSON:
			isJSON = true
		default:
			r.refuseHTTP(w, req, sig, true, http.StatusUnsupportedMediaType, codes.InvalidArgument,
				fmt.Sprintf("unsupported Content-Type %q: use %s or %s", req.Header.Get("Content-Type"), ctProto, ctJSON))
			return
		}
		if r.auth != nil {
			if err := r.auth.AuthenticateIngest(req.Context(), req.Header.Get("Authorization")); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="lookout ingest"`)
				r.refuseHTTP(w, req, sig, isJSON, http.StatusUnauthorized, codes.Unauthenticated,
					"missing or invalid ingest token: send Authorization: Bearer <token>")
				return
			}
		}
		if sig.unavailable != "" {
			r.refuseHTTP(w, req, sig, isJSON, http.StatusNotImplemented, codes.Unimplemented, sig.unavailable)
			return
		}
		enc, ok := knownEncoding(req.Header.Get("Content-Encoding"))
		if !ok {
			r.refuseHTTP(w, req, sig, isJSON, http.StatusUnsupportedMediaType, codes.InvalidArgument,
				fmt.Sprintf("unsupported Content-Encoding %q: use %s", enc, encodings))
			return
		}
		max := r.cfg.MaxRequestBytes
		if req.ContentLength > max {
			r.refuseHTTP(w, req, sig, isJSON, http.StatusRequestEntityTooLarge, codes.InvalidArgument,
				fmt.Sprintf("request of %d bytes is larger than the limit of %d bytes", req.ContentLength, max))
			return
		}
		// The reservation grows as the body is read and decompressed, and
		// becomes the request's decoded cost before decoding; it is held
		// until the consumer has returned.
		res := r.budget.hold()
		defer res.release()
		body, err := r.readHTTPBody(req, enc, res)
		if err != nil {
			var tooBig *tooLargeError
			var bad *malformedError
			switch {
			case errors.Is(err, errNoRoom):
				r.refuseHTTP(w, req, sig, isJSON, http.StatusTooManyRequests, codes.ResourceExhausted, refusedMsg)
			case errors.As(err, &tooBig):
				r.refuseHTTP(w, req, sig, isJSON, http.StatusRequestEntityTooLarge, codes.InvalidArgument, err.Error())
			case errors.As(err, &bad):
				r.refuseHTTP(w, req, sig, isJSON, http.StatusBadRequest, codes.InvalidArgument, err.Error())
			default:
				// The client went away or stalled past the read timeout.
				r.refuseHTTP(w, req, sig, isJSON, http.StatusBadRequest, codes.InvalidArgument, err.Error())
			}
			return
		}
		r.countBytes(sig, "http", len(body))

		format := "protobuf"
		if isJSON {
			format = "JSON"
		}
		var cost requestCost
		if isJSON {
			cost, err = jsonCost(sig.kind, body)
		} else {
			cost, err = protoCost(sig.kind, body)
		}
		if err != nil {
			r.refuseHTTP(w, req, sig, isJSON, http.StatusBadRequest, codes.InvalidArgument,
				fmt.Sprintf("malformed OTLP/%s %s request: %v", format, sig.name, err))
			return
		}
		if code, msg := r.admit(res, sig, "http", int64(len(body)), cost); code != codes.OK {
			status := http.StatusTooManyRequests
			switch code {
			case codes.InvalidArgument:
				status = http.StatusRequestEntityTooLarge
			case codes.Unavailable:
				status = http.StatusServiceUnavailable
			}
			r.refuseHTTP(w, req, sig, isJSON, status, code, msg)
			return
		}

		ereq := sig.newRequest()
		if isJSON {
			err = ereq.UnmarshalJSON(body)
		} else {
			err = ereq.UnmarshalProto(body)
		}
		body = nil // decoded: the request holds its own copies
		if err != nil {
			writeStatus(w, isJSON, http.StatusBadRequest, codes.InvalidArgument,
				fmt.Sprintf("malformed OTLP/%s %s request: %v", format, sig.name, err))
			r.countRequest(sig, "http", "400")
			return
		}

		resp, out, msg := r.export(req.Context(), sig, "http", ereq)
		switch out {
		case outcomeOK:
			var b []byte
			if isJSON {
				b, err = resp.MarshalJSON()
			} else {
				b, err = resp.MarshalProto()
			}
			if err != nil {
				writeStatus(w, isJSON, http.StatusInternalServerError, codes.Internal, "encode response")
				return
			}
			w.Header().Set("Content-Type", contentType(isJSON))
			w.WriteHeader(http.StatusOK)
			w.Write(b)
			r.countRequest(sig, "http", "200")
		case outcomeInvalid:
			writeStatus(w, isJSON, http.StatusBadRequest, codes.InvalidArgument, msg)
			r.countRequest(sig, "http", "400")
		case outcomeOverloaded:
			r.refuse(w, isJSON)
			r.countRequest(sig, "http", "429")
		default:
			w.Header().Set("Retry-After", strconv.Itoa(int(r.cfg.RetryAfter.Seconds())))
			writeStatus(w, isJSON, http.StatusServiceUnavailable, codes.Unavailable, msg)
			r.countRequest(sig, "http", "503")
		}
	})
}

// refusedMsg is the message of a 429 / RESOURCE_EXHAUSTED.
const refusedMsg = "lookout is at its ingest memory limit; retry after the Retry-After delay"

func (r *Receiver) refuse(w http.ResponseWriter, isJSON bool) {
	w.Header().Set("Retry-After", strconv.Itoa(int(r.cfg.RetryAfter.Seconds())))
	writeStatus(w, isJSON, http.StatusTooManyRequests, codes.ResourceExhausted, refusedMsg)
}

// refuseHTTP answers a request that is refused before it was decoded. The
// rest of its body is read first, up to a bound: the Go server closes a
// connection whose request body was left unread, and a client still sending
// then reads a connection reset instead of the answer, which it may take
// for a network error and retry for ever. A body announced or found past
// the bound is not read; the connection is closed after the answer.
func (r *Receiver) refuseHTTP(w http.ResponseWriter, req *http.Request, sig *signal, isJSON bool, status int, code codes.Code, msg string) {
	limit := r.drainLimit()
	if req.ContentLength > limit {
		w.Header().Set("Connection", "close")
	} else if n, _ := io.Copy(io.Discard, io.LimitReader(req.Body, limit+1)); n > limit {
		w.Header().Set("Connection", "close")
	}
	switch status {
	case http.StatusTooManyRequests:
		r.refuse(w, isJSON)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(int(r.cfg.RetryAfter.Seconds())))
		writeStatus(w, isJSON, status, code, msg)
	default:
		writeStatus(w, isJSON, status, code, msg)
	}
	r.countRequest(sig, "http", strconv.Itoa(status))
}

// drainLimit is how much of a refused request's body is read to answer it
// readably: a request up to twice the size limit, which covers clients whose
// batches are just over it.
func (r *Receiver) drainLimit() int64 { return 2 * r.cfg.MaxRequestBytes }

// readHTTPBody reads the body, decompressed, into memory, growing res as it
// goes: by the Content-Length up front when there is one, else chunk by
// chunk. The compressed bytes are let go once decompressed.
func (r *Receiver) readHTTPBody(req *http.Request, enc string, res *reservation) ([]byte, error) {
	max := r.cfg.MaxRequestBytes
	grow := func(n int64) bool { return res.resize(n) }
	var raw []byte
	if req.ContentLength >= 0 {
		if !res.resize(req.ContentLength) {
			return nil, errNoRoom
		}
		raw = make([]byte, req.ContentLength)
		if _, err := io.ReadFull(req.Body, raw); err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
	} else {
		var err error
		if raw, err = readCapped(req.Body, max, grow, ""); err != nil {
			return nil, err
		}
	}
	if enc == "" {
		return raw, nil
	}
	wire := int64(len(raw))
	body, err := decompress(enc, raw, max, func(n int64) bool { return res.resize(wire + n) })
	if err != nil {
		return nil, err
	}
	res.resize(int64(len(body))) // shrinking: the compressed bytes are garbage now
	return body, nil
}

// errNoRoom is a request refused because the memory budget has no room for
// it now; it may fit later.
var errNoRoom = errors.New("ingest memory budget spent")

type tooLargeError struct {
	limit        int64
	decompressed bool
}

func (e *tooLargeError) Error() string {
	if e.decompressed {
		return fmt.Sprintf("request is larger than the limit of %d bytes once decompressed", e.limit)
	}
	return fmt.Sprintf("request is larger than the limit of %d bytes", e.limit)
}

func contentType(isJSON bool) string {
	if isJSON {
		return ctJSON
	}
	return ctProto
}

// writeStatus writes an OTLP/HTTP error: a google.rpc.Status in the
// request's encoding.
func writeStatus(w http.ResponseWriter, isJSON bool, httpCode int, code codes.Code, msg string) {
	// Messages may quote the client's bytes (a decoder's error), and a
	// Status with invalid UTF-8 does not marshal: the client would get an
	// empty answer.
	st := &spb.Status{Code: int32(code), Message: strings.ToValidUTF8(msg, "\uFFFD")}
	var b []byte
	if isJSON {
		b, _ = protojson.Marshal(st)
	} else {
		b, _ = proto.Marshal(st)
	}
	w.Header().Set("Content-Type", contentType(isJSON))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(httpCode)
	w.Write(b)
}
