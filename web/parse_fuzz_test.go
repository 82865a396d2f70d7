package web

import (
	"math"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The API's parameters come from anyone who can reach it. Each parser of
// one has a fuzz target: it never panics, and what it accepts keeps the
// promise its doc comment makes. Seeds are in testdata/fuzz/<target>.

// FuzzParsePromTime: a time parses into the range Prometheus' API allows,
// Unix seconds to the millisecond, and an accepted RFC 3339 time parses
// back from its own formatting.
func FuzzParsePromTime(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parsePromTime(s)
		if err != nil {
			return
		}
		if got.Before(promMinTime()) || got.After(promMaxTime()) {
			t.Fatalf("parsePromTime(%q) = %s, outside [%s, %s]", s, got, promMinTime(), promMaxTime())
		}
		if fl, err := strconv.ParseFloat(s, 64); err == nil {
			// Rounded to the millisecond, as far as a float64 holds the
			// seconds at all.
			ulp := math.Nextafter(math.Abs(fl), math.Inf(1)) - math.Abs(fl)
			diff := math.Abs(float64(got.Unix()) + float64(got.Nanosecond())/1e9 - fl)
			if diff > 0.0005+2*ulp {
				t.Fatalf("parsePromTime(%q) = %s, %g s from what it says", s, got, diff)
			}
			if got.Nanosecond()%int(time.Millisecond) != 0 {
				t.Fatalf("parsePromTime(%q) = %s, not rounded to the millisecond", s, got)
			}
			return
		}
		back, err := parsePromTime(got.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(got) {
			t.Fatalf("parsePromTime(%q) = %s; its formatting reads back as %s, %v", s, got, back, err)
		}
	})
}

// FuzzParsePromDuration: seconds keep their sign and size, to the
// nanosecond as far as a float64 holds them.
func FuzzParsePromDuration(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parsePromDuration(s)
		if err != nil {
			return
		}
		fl, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			if got < 0 {
				t.Fatalf("parsePromDuration(%q) = %s, negative", s, got)
			}
			return
		}
		if (fl >= 0) != (got >= 0) {
			t.Fatalf("parsePromDuration(%q) = %s, the other sign", s, got)
		}
		if diff := math.Abs(float64(got) - fl*1e9); diff > 1+math.Abs(fl*1e9)*1e-15 {
			t.Fatalf("parsePromDuration(%q) = %s, %g ns off", s, got, diff)
		}
	})
}

// FuzzParseLimit: a limit is never negative.
func FuzzParseLimit(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseLimit(s)
		if err == nil && n < 0 {
			t.Fatalf("parseLimit(%q) = %d", s, n)
		}
	})
}

// FuzzParseTime: the logs and traces API's start and end read back from
// their own formatting, and Unix seconds to the microsecond (a float64
// holds no more for today's times).
func FuzzParseTime(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		if err != nil {
			return
		}
		if fl, err := strconv.ParseFloat(s, 64); err == nil {
			ulp := math.Nextafter(math.Abs(fl), math.Inf(1)) - math.Abs(fl)
			diff := math.Abs(float64(got.Unix()) + float64(got.Nanosecond())/1e9 - fl)
			if diff > 1e-9+2*ulp {
				t.Fatalf("ParseTime(%q) = %s, %g s from what it says", s, got, diff)
			}
			return
		}
		back, err := ParseTime(got.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(got) {
			t.Fatalf("ParseTime(%q) = %s; its formatting reads back as %s, %v", s, got, back, err)
		}
	})
}

// FuzzParams: the logs and traces API's limit is never negative, and its
// durations are within what params.duration promises: not negative, and
// seconds under 1e9.
func FuzzParams(f *testing.F) {
	f.Fuzz(func(t *testing.T, limit, minDuration string) {
		r := httptest.NewRequest("GET", "/api/v1/traces?"+url.Values{"limit": {limit}, "min_duration": {minDuration}}.Encode(), nil)
		if err := r.ParseForm(); err != nil {
			t.Fatal(err)
		}
		var p params
		n := p.int(r, "limit")
		if p.err == "" && n < 0 {
			t.Fatalf("limit %q = %d", limit, n)
		}
		p = params{}
		d := p.duration(r, "min_duration")
		if p.err != "" {
			return
		}
		if d < 0 {
			t.Fatalf("min_duration %q = %s", minDuration, d)
		}
		if _, err := time.ParseDuration(minDuration); err != nil && d > 1e9*time.Second {
			t.Fatalf("min_duration %q = %s, more than 1e9 s", minDuration, d)
		}
	})
}

// FuzzParseTimePoint: a page's from and to parse without panicking, and
// now-<d> is never after now.
func FuzzParseTimePoint(f *testing.F) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTimePoint(s, now)
		if err != nil {
			return
		}
		if strings.HasPrefix(s, "now-") && got.After(now) {
			t.Fatalf("parseTimePoint(%q) = %s, after now (%s)", s, got, now)
		}
	})
}
