package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
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
			writeStatus(w, true, http.StatusUnsupportedMediaType, codes.InvalidArgument,
				fmt.Sprintf("unsupported Content-Type %q: use %s or %s", req.Header.Get("Content-Type"), ctProto, ctJSON))
			r.countRequest(sig, "http", "415")
			return
		}
		if r.auth != nil {
			if err := r.auth.AuthenticateIngest(req.Context(), req.Header.Get("Authorization")); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="lookout ingest"`)
				writeStatus(w, isJSON, http.StatusUnauthorized, codes.Unauthenticated,
					"missing or invalid ingest token: send Authorization: Bearer <token>")
				r.countRequest(sig, "http", "401")
				return
			}
		}
		if sig.unavailable != "" {
			writeStatus(w, isJSON, http.StatusNotImplemented, codes.Unimplemented, sig.unavailable)
			r.countRequest(sig, "http", "501")
			return
		}
		gz := false
		switch enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); enc {
		case "", "identity":
		case "gzip":
			gz = true
		default:
			writeStatus(w, isJSON, http.StatusUnsupportedMediaType, codes.InvalidArgument,
				fmt.Sprintf("unsupported Content-Encoding %q: use gzip or none", enc))
			r.countRequest(sig, "http", "415")
			return
		}
		max := r.cfg.MaxRequestBytes
		if req.ContentLength > max {
			writeStatus(w, isJSON, http.StatusRequestEntityTooLarge, codes.InvalidArgument,
				fmt.Sprintf("request of %d bytes is larger than the limit of %d bytes", req.ContentLength, max))
			r.countRequest(sig, "http", "413")
			return
		}
		// Reserve what the body may grow to before reading it, so memory
		// stays bounded however many clients push at once.
		reserved := max
		if !gz && req.ContentLength >= 0 {
			reserved = req.ContentLength
		}
		if !r.reserve(reserved) {
			r.refuse(w, isJSON)
			r.countRequest(sig, "http", "429")
			return
		}
		defer func() { r.release(reserved) }()

		body, err := readBody(req.Body, gz, max)
		if err != nil {
			var tooBig *tooLargeError
			if errors.As(err, &tooBig) {
				writeStatus(w, isJSON, http.StatusRequestEntityTooLarge, codes.InvalidArgument, err.Error())
				r.countRequest(sig, "http", "413")
				return
			}
			writeStatus(w, isJSON, http.StatusBadRequest, codes.InvalidArgument, err.Error())
			r.countRequest(sig, "http", "400")
			return
		}
		if int64(len(body)) < reserved {
			r.release(reserved - int64(len(body)))
			reserved = int64(len(body))
		}
		r.countBytes(sig, "http", len(body))

		ereq := sig.newRequest()
		if isJSON {
			err = ereq.UnmarshalJSON(body)
		} else {
			err = ereq.UnmarshalProto(body)
		}
		if err != nil {
			format := "protobuf"
			if isJSON {
				format = "JSON"
			}
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

func (r *Receiver) refuse(w http.ResponseWriter, isJSON bool) {
	w.Header().Set("Retry-After", strconv.Itoa(int(r.cfg.RetryAfter.Seconds())))
	writeStatus(w, isJSON, http.StatusTooManyRequests, codes.ResourceExhausted,
		"lookout is at its ingest limit; retry after the Retry-After delay")
}

type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("request is larger than the limit of %d bytes once decompressed", e.limit)
}

// readBody reads at most max bytes of the (possibly gzipped) body. The limit
// applies after decompression, so a small gzip bomb cannot balloon memory.
func readBody(body io.Reader, gz bool, max int64) ([]byte, error) {
	src := io.LimitReader(body, max+1)
	if gz {
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("malformed gzip body: %v", err)
		}
		defer zr.Close()
		src = io.LimitReader(zr, max+1)
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(src)
	if err != nil {
		if gz {
			return nil, fmt.Errorf("malformed gzip body: %v", err)
		}
		return nil, fmt.Errorf("read body: %v", err)
	}
	if n > max {
		return nil, &tooLargeError{limit: max}
	}
	return buf.Bytes(), nil
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
	st := &spb.Status{Code: int32(code), Message: msg}
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
