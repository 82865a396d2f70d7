package logql

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		n, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): unexpected error: %v", in, err)
			return
		}
		if got := n.String(); got != want {
			t.Errorf("Parse(%q) = %s, want %s", in, got, want)
		}
	}

	// Empty input and match-all.
	f("", "*")
	f(" \t\n ", "*")
	f("*", "*")
	f("(*)", "*")

	// Bare words over the body.
	f("timeout", "timeout")
	f("  timeout  ", "timeout")
	f("conn_reset-by.peer/x@host#3", "conn_reset-by.peer/x@host#3")
	f("Zeitüberschreitung", "Zeitüberschreitung")
	f("接続 タイムアウト", "接続 AND タイムアウト")
	f("e\u0301te", "e\u0301te") // decomposed accent stays in the word
	f("and or not to", "and AND or AND not AND to")
	f("TO", "TO")
	f("ANDROID NOTE ORACLE", "ANDROID AND NOTE AND ORACLE")
	f("404", "404")

	// Wildcards.
	f("time*", "time*")
	f("t?meout", "t?meout")
	f("*out", "*out")
	f("**", "**")

	// Phrases and escapes.
	f(`"connection refused"`, `"connection refused"`)
	f(`"timeout"`, `"timeout"`)
	f(`"time*"`, `"time*"`)
	f(`"say \"hi\""`, `"say \"hi\""`)
	f(`"C:\\temp"`, `"C:\\temp"`)
	f(`"a\\\"b"`, `"a\\\"b"`)
	f(`"AND"`, `"AND"`)
	f(`"line one
line two"`, "\"line one\nline two\"")
	f(`"a"b`, `"a" AND b`)
	f(`a"b"`, `a AND "b"`)

	// Fields.
	f("service:api", "service:api")
	f(`service:"payment api"`, `service:"payment api"`)
	f(`service:"api"`, `service:"api"`)
	f("trace_id:4bf92f3577b34da6a3ce929d0e0e4736", "trace_id:4bf92f3577b34da6a3ce929d0e0e4736")
	f("attributes.http.route:/api/v1/users", "attributes.http.route:/api/v1/users")
	f("resource.k8s.pod.name:api-7d9f-x2", "resource.k8s.pod.name:api-7d9f-x2")
	f("http-status.code:200", "http-status.code:200")
	f("service:api-*", "service:api-*")
	f("host:web-??", "host:web-??")
	f("temp:-5", "temp:-5")
	f("x:-", "x:-")
	f("x:AND", "x:AND")
	f("x:TO", "x:TO")
	f(`x:"*"`, `x:"*"`)
	f(`url:"http://example.com/a?b=c"`, `url:"http://example.com/a?b=c"`)
	f("AND:x", "AND:x")
	f("NOT:x", "NOT:x")
	f("é.ü:ß", "é.ü:ß")
	f(`attributes."my key":x`, `attributes."my key":x`)
	f(`attributes."http.route":x`, `attributes.http.route:x`)
	f(`attributes."quoted":x`, `attributes.quoted:x`)
	f(`a."b c"."d\"e".f:1`, `a."b c"."d\"e".f:1`)
	f(`attributes."my key":*`, `attributes."my key":*`)
	f("service:api(x)", "service:api AND x")
	f(`service:api"x"`, `service:api AND "x"`)

	// Exists.
	f("trace_id:*", "trace_id:*")
	f("x:[* TO *]", "x:*")
	f("x:{* TO *}", "x:*")

	// Comparisons.
	f("status:>500", "status:>500")
	f("status:>=500", "status:>=500")
	f("latency:<0.5", "latency:<0.5")
	f("x:<=10", "x:<=10")
	f("duration:>250ms", "duration:>250ms")
	f("duration:<=1.5s", "duration:<=1.5s")
	f("x:>-3", "x:>-3")
	f("ts:>=2026-01-02T10:00:00Z", "ts:>=2026-01-02T10:00:00Z")
	f("ts:<2026-01-02T10:00:00.123+02:00", "ts:<2026-01-02T10:00:00.123+02:00")
	f(`severity:>"warn ing"`, `severity:>"warn ing"`)
	f(`x:>"abc"`, `x:>abc`)
	f(`x:>"TO"`, `x:>"TO"`)
	f(`x:>"*"`, `x:>"*"`)
	f("(x:>5)", "x:>5")

	// Ranges.
	f("status:[500 TO 599]", "status:[500 TO 599]")
	f("x:{100 TO 200}", "x:{100 TO 200}")
	f("x:[100 TO 200}", "x:[100 TO 200}")
	f("x:{100 TO 200]", "x:{100 TO 200]")
	f("x:[ 1   TO\t2 ]", "x:[1 TO 2]")
	f("x:[100 TO *]", "x:>=100")
	f("x:{100 TO *]", "x:>100")
	f("x:[* TO 200]", "x:<=200")
	f("x:[* TO 200}", "x:<200")
	f("duration:[250ms TO 1s]", "duration:[250ms TO 1s]")
	f("ts:[2026-01-02 TO 2026-01-03T00:00:00+02:00]", "ts:[2026-01-02 TO 2026-01-03T00:00:00+02:00]")
	f("severity:[a TO m]", "severity:[a TO m]")
	f(`x:["a b" TO "c\"d"]`, `x:["a b" TO "c\"d"]`)
	f(`x:["TO" TO "z"]`, `x:["TO" TO z]`)
	f("x:[1 TO 2]y", "x:[1 TO 2] AND y")

	// AND, juxtaposition and flattening.
	f("a b", "a AND b")
	f("a AND b", "a AND b")
	f("a && b", "a AND b")
	f("a&&b", "a AND b")
	f("a b c", "a AND b AND c")
	f("a (b c) d", "a AND b AND c AND d")
	f("((a b) (c d))", "a AND b AND c AND d")

	// OR and flattening.
	f("a OR b", "a OR b")
	f("a || b", "a OR b")
	f("a||b", "a OR b")
	f("a OR (b OR c)", "a OR b OR c")
	f("(a OR b) OR c", "a OR b OR c")

	// NOT in all spellings.
	f("NOT a", "NOT a")
	f("!a", "NOT a")
	f("! a", "NOT a")
	f("-a", "NOT a")
	f(`-"a b"`, `NOT "a b"`)
	f("-service:api", "NOT service:api")
	f("-(a OR b)", "NOT (a OR b)")
	f("NOT(a)", "NOT a")
	f("--a", "NOT NOT a")
	f("NOT NOT a", "NOT NOT a")
	f("NOT *", "NOT *")
	f("a -b", "a AND NOT b")
	f("a-b", "a-b")
	f("a NOT b", "a AND NOT b")
	f("a AND NOT b", "a AND NOT b")
	f("a!b", "a AND NOT b")

	// Precedence: NOT > AND > OR.
	f("a OR b c", "a OR (b AND c)")
	f("a b OR c", "(a AND b) OR c")
	f("a AND b OR c AND d", "(a AND b) OR (c AND d)")
	f("a && b || c", "(a AND b) OR c")
	f("(a OR b) c", "(a OR b) AND c")
	f("NOT a b", "NOT a AND b")
	f("NOT a OR b", "NOT a OR b")
	f("NOT (a OR b) c", "NOT (a OR b) AND c")
	f("a OR NOT b c", "a OR (NOT b AND c)")
	f("(a OR b) (c OR d)", "(a OR b) AND (c OR d)")
	f("a (b OR (c d))", "a AND (b OR (c AND d))")

	// A realistic query.
	f(`service:checkout severity:>=ERROR -"health check" (timeout OR "connection refused") duration:>250ms`,
		`service:checkout AND severity:>=ERROR AND NOT "health check" AND (timeout OR "connection refused") AND duration:>250ms`)
}

func TestParseErrors(t *testing.T) {
	f := func(in string, wantPos int, wantMsgContains string) {
		t.Helper()
		n, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%s) = %s, want an error containing %q", short(in), n, wantMsgContains)
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%s) error %v is a %T, want *Error", short(in), err, err)
			return
		}
		if e.Pos != wantPos || !strings.Contains(e.Msg, wantMsgContains) {
			t.Errorf("Parse(%s) error at %d: %q, want at %d containing %q", short(in), e.Pos, e.Msg, wantPos, wantMsgContains)
		}
	}

	// Quotes and escapes.
	f(`"abc`, 0, "unclosed quote")
	f(`error "abc`, 6, "unclosed quote")
	f(`"abc\"`, 0, "unclosed quote")
	f(`"abc\`, 0, "unclosed quote")
	f(`"a\nb"`, 2, `unknown escape \n`)
	f(`x:"a\tb"`, 4, `unknown escape \t`)
	f(`""`, 0, "empty quoted phrase")
	f(`service:""`, 8, `empty quoted value after "service:"`)
	f(`service:"abc`, 8, "unclosed quote")

	// Parentheses.
	f("(a", 2, "expected ')'")
	f("(a OR (b c)", 11, "expected ')' to close '(' at position 1")
	f("a)", 1, "unexpected ')'")
	f(")", 0, "unexpected ')'")
	f("()", 1, "empty parentheses")
	f("a ( )", 4, "empty parentheses")
	f("(", 1, "expected a term after '(', found end of query")

	// Operators without operands.
	f("AND a", 0, "unexpected AND")
	f("OR a", 0, "unexpected OR")
	f("&& a", 0, "unexpected '&&'")
	f("a OR", 4, "expected a term after OR, found end of query")
	f("a AND", 5, "expected a term after AND")
	f("a ||", 4, "expected a term after '||'")
	f("a AND OR b", 6, "expected a term after AND, found OR")
	f("a OR OR b", 5, "expected a term after OR, found OR")
	f("(a OR)", 5, "found ')'")
	f("NOT", 3, "expected a term after NOT")
	f("a NOT", 5, "expected a term after NOT")
	f("!", 1, "expected a term after '!'")
	f("NOT AND a", 4, "expected a term after NOT, found AND")
	f("-AND", 1, "expected a term after '-', found AND")
	f("- a", 0, "'-' must be directly followed")
	f("a -", 2, "'-' must be directly followed")
	f("a - b", 2, "'-' must be directly followed")
	f("a & b", 2, "unexpected '&'; write && or AND")
	f("a | b", 2, "unexpected '|'; write || or OR")

	// Characters outside words.
	f("user=bob", 4, "unexpected character '='")
	f("a, b", 1, "unexpected character ','")
	f("a\\b", 1, `unexpected character '\\'`)
	f("a ]", 2, "unexpected ']'")
	f("a }", 2, "unexpected '}'")
	f("€5", 0, "unexpected character '€'")
	f(":x", 0, "unexpected ':'")
	f(`"a":b`, 3, "unexpected ':'")
	f(">500", 0, "comparison needs a field")
	f("a <=5", 2, "comparison needs a field")
	f("[1 TO 2]", 0, "range needs a field")

	// Field names.
	f("a/b:c", 1, "invalid character '/' in field name")
	f("time*:x", 4, "invalid character '*' in field name")
	f("a..b:c", 2, "empty segment in field name")
	f(".a:c", 0, "empty segment in field name")
	f("a.:c", 2, "empty segment in field name")
	f(`a."":c`, 2, "empty segment in field name")
	f(`a.".b":c`, 2, "empty segment in field name")
	f(`a."b"`, 5, "expected ':' after field name")
	f(`a."b" c:d`, 5, "expected ':' after field name")
	f(`a."b`, 2, "unclosed quote")

	// Field values.
	f("service:", 8, `empty value after "service:"`)
	f("service: api", 8, `empty value after "service:"; no space is allowed after ':'`)
	f("(service:)", 9, `empty value after "service:"`)
	f(`attributes."my key":`, 20, `empty value after "attributes.\"my key\":"`)
	f("service:(a OR b)", 8, `grouping after "service:" is not supported`)
	f("url:http://x", 8, "unexpected ':' in value; quote values that contain ':'")
	f("a:b:c", 3, "unexpected ':' in value")
	f("a::b", 2, "unexpected ':'")
	f("x:=5", 2, "unexpected character '='")
	f("x:!a", 2, "unexpected character '!'")
	f("x:]", 2, "unexpected character ']'")

	// Comparisons.
	f("x:>", 3, `invalid range bound: expected a value after ">", found end of query`)
	f("x:>= 5", 4, `invalid range bound: expected a value after ">="`)
	f("x:<)", 3, "invalid range bound")
	f("x:>>5", 3, "invalid range bound")
	f("x:>*", 3, `">*" cannot be an open end`)
	f("x:>a*", 3, `invalid range bound "a*": wildcards are not allowed`)
	f(`x:>""`, 3, "invalid range bound: empty quotes")
	f(`x:>"abc`, 3, "unclosed quote")

	// Ranges.
	f("x:[1 2]", 5, "range needs TO")
	f("x:[1 to 2]", 5, "range needs TO between its bounds, as in [100 TO 200]; TO must be upper case")
	f("x:[1TO 2]", 7, "range needs TO")
	f("x:[1 TOO 2]", 5, "range needs TO")
	f("x:[1]", 4, "range needs TO")
	f("x:[ TO 2]", 4, "missing lower bound before TO")
	f("x:[TO 2]", 3, "missing lower bound before TO")
	f("x:[1 TO ]", 8, `invalid range bound: expected a value after "TO", found ']'`)
	f("x:[1 TO", 7, `invalid range bound: expected a value after "TO", found end of query`)
	f("x:[", 3, `invalid range bound: expected a value after "["`)
	f("x:{1 TO 2", 9, "expected ']' or '}' to close the range opened at position 3")
	f("x:[1 TO 2 3]", 10, "expected ']' or '}'")
	f("x:[1 TO 2)", 9, "expected ']' or '}'")
	f("x:[a* TO b]", 3, "wildcards are not allowed")
	f("x:[a TO b?]", 8, "wildcards are not allowed")
	f(`x:["" TO b]`, 3, "empty quotes")

	// Encoding and limits.
	f("ab\xffcd", 2, "invalid UTF-8")
	f(strings.Repeat("a", MaxQueryLength+1), MaxQueryLength, "query is too long")
	f(strings.Repeat("(", MaxDepth+1)+"a"+strings.Repeat(")", MaxDepth+1), MaxDepth, "nested too deeply")
	f(strings.Repeat("NOT ", MaxDepth+1)+"a", 4*MaxDepth, "nested too deeply")
	f(strings.Repeat("-", MaxDepth+1)+"a", MaxDepth, "nested too deeply")
	f(strings.Repeat("(", MaxQueryLength), MaxDepth, "nested too deeply")
	// Each level below is an Or over an And, so the tree is twice as deep
	// as the parentheses; the error points at the first Or too deep.
	f(strings.Repeat("a OR b (", MaxDepth/2+1)+"c"+strings.Repeat(")", MaxDepth/2+1), 8*MaxDepth/2, "nested too deeply")
}

// short quotes s for a failure message, eliding the middle of long input.
func short(s string) string {
	if len(s) <= 80 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...%q (%d bytes)", s[:40], s[len(s)-20:], len(s))
}

func TestLimitsAccept(t *testing.T) {
	f := func(in string) {
		t.Helper()
		if _, err := Parse(in); err != nil {
			t.Errorf("Parse(%s): unexpected error: %v", short(in), err)
		}
	}
	f(strings.Repeat("a", MaxQueryLength))
	f(strings.Repeat("(", MaxDepth) + "a" + strings.Repeat(")", MaxDepth))
	f(strings.Repeat("NOT ", MaxDepth) + "a")
	f(strings.Repeat("a OR b (", MaxDepth/2) + "c" + strings.Repeat(")", MaxDepth/2))
}

func TestErrorString(t *testing.T) {
	_, err := Parse(`level:error "abc`)
	if got, want := err.Error(), "at position 13: unclosed quote"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestBounds(t *testing.T) {
	type reading struct {
		num  any // float64 or nil
		time any // time.Time or nil
		dur  any // time.Duration or nil
	}
	f := func(raw string, want reading) {
		t.Helper()
		n, err := Parse("x:>=" + Quote(raw))
		if err != nil {
			t.Errorf("Parse(x:>=%q): %v", raw, err)
			return
		}
		b := n.(*Range).Min
		got := reading{}
		if b.IsNum {
			got.num = b.Num
		}
		if b.IsTime {
			got.time = b.Time
		}
		if b.IsDur {
			got.dur = b.Dur
		}
		if b.Raw != raw || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("bound %q = %q %v, want %v", raw, b.Raw, got, want)
		}
	}
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	f("500", reading{num: 500.0})
	f("-0.5", reading{num: -0.5})
	f("1e3", reading{num: 1000.0})
	f("0", reading{num: 0.0, dur: time.Duration(0)})
	f("250ms", reading{dur: 250 * time.Millisecond})
	f("1.5s", reading{dur: 1500 * time.Millisecond})
	f("2m", reading{dur: 2 * time.Minute})
	f("1h30m", reading{dur: 90 * time.Minute})
	f("2026-01-02", reading{time: utc("2026-01-02T00:00:00Z")})
	f("2026-01-02T10:00:00Z", reading{time: utc("2026-01-02T10:00:00Z")})
	f("2026-01-02T10:00:00.123456789+02:00", reading{time: utc("2026-01-02T10:00:00.123456789+02:00")})
	f("2026-13-02", reading{})
	f("ERROR", reading{})
	f("NaN", reading{})
	f("Inf", reading{})
	f("1e999", reading{})
	f("a b", reading{})
}

func TestBoundsOfRange(t *testing.T) {
	n, err := Parse("duration:{250ms TO 2s]")
	if err != nil {
		t.Fatal(err)
	}
	r, ok := n.(*Range)
	if !ok {
		t.Fatalf("got %T, want *Range", n)
	}
	if r.Field != "duration" || r.Min.Dur != 250*time.Millisecond || r.Max.Dur != 2*time.Second || r.MinInclusive || !r.MaxInclusive {
		t.Errorf("got %+v (min %+v, max %+v)", r, r.Min, r.Max)
	}

	n, err = Parse("status:<500")
	if err != nil {
		t.Fatal(err)
	}
	if r := n.(*Range); r.Min != nil || r.MinInclusive || r.Max.Num != 500 || r.MaxInclusive {
		t.Errorf("status:<500 = %+v", r)
	}
}

func TestTermFlags(t *testing.T) {
	f := func(in string, want Term) {
		t.Helper()
		n, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			return
		}
		got, ok := n.(*Term)
		if !ok {
			t.Errorf("Parse(%q) is a %T, want *Term", in, n)
			return
		}
		if got.Field != want.Field || got.Value != want.Value || got.Wildcard != want.Wildcard || got.Phrase != want.Phrase {
			t.Errorf("Parse(%q) = %+v, want %+v", in, *got, want)
		}
	}
	f("timeout", Term{Value: "timeout"})
	f("time*", Term{Value: "time*", Wildcard: true})
	f(`"time*"`, Term{Value: "time*", Phrase: true})
	f(`"a \"b\" \\c"`, Term{Value: `a "b" \c`, Phrase: true})
	f("service:api", Term{Field: "service", Value: "api"})
	f("service:ap?", Term{Field: "service", Value: "ap?", Wildcard: true})
	f(`service:"a b"`, Term{Field: "service", Value: "a b", Phrase: true})
	f(`attributes."my key":v`, Term{Field: "attributes.my key", Value: "v"})
}

func TestPos(t *testing.T) {
	n, err := Parse(`  a OR (service:x -b:[1 TO 2] c:*)`)
	if err != nil {
		t.Fatal(err)
	}
	or := n.(*Or)
	and := or.Children[1].(*And)
	not := and.Children[1].(*Not)
	f := func(name string, n Node, want int) {
		t.Helper()
		if got := n.Pos(); got != want {
			t.Errorf("%s.Pos() = %d, want %d", name, got, want)
		}
	}
	f("or", or, 2)
	f("term", or.Children[0], 2)
	f("and", and, 8)
	f("field term", and.Children[0], 8)
	f("not", not, 18)
	f("range", not.Child, 19)
	f("exists", and.Children[2], 30)
}

// TestStringQuotes checks String on trees Parse never makes, which a
// consumer might build by hand: values that would not read back unquoted.
func TestStringQuotes(t *testing.T) {
	f := func(n Node, want string) {
		t.Helper()
		if got := n.String(); got != want {
			t.Errorf("String() = %s, want %s", got, want)
		}
	}
	f(&Term{Value: "AND"}, `"AND"`)
	f(&Term{Value: "-a"}, `"-a"`)
	f(&Term{Value: "a b"}, `"a b"`)
	f(&Term{Value: "a*"}, `"a*"`)
	f(&Term{Value: "a*", Wildcard: true}, `a*`)
	f(&Term{Field: "x", Value: "-a"}, `x:-a`)
	f(&Term{Field: "x", Value: "*"}, `x:"*"`)
	f(&Term{Field: "a.b c", Value: "v"}, `a."b c":v`)
	f(&Range{Field: "x", Min: &Bound{Raw: "TO"}}, `x:>"TO"`)
	f(&And{}, "*")
	f(&And{Children: []Node{&Term{Value: "a"}}}, "a")
	f(&Not{}, "NOT *")
}

func FuzzParse(f *testing.F) {
	// The seed corpus is in testdata/fuzz/FuzzParse.
	f.Fuzz(func(t *testing.T, in string) {
		n, err := Parse(in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %v is a %T, want *Error", in, err, err)
			}
			if e.Pos < 0 || e.Pos > len(in) {
				t.Fatalf("Parse(%q) error position %d is outside the input", in, e.Pos)
			}
			return
		}
		s := n.String()
		if len(s) > MaxQueryLength {
			// Canonical form can be longer than the input ("!a" is
			// "NOT a"); past the limit it cannot be read back.
			return
		}
		n2, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) = %s, which does not parse: %v", in, s, err)
		}
		if s2 := n2.String(); s2 != s {
			t.Fatalf("Parse(%q) = %s, which parses to %s", in, s, s2)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	const q = `service:checkout severity:>=ERROR -"health check" (timeout OR "connection refused") duration:[250ms TO 2s} attributes.http.route:/api/*`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(q); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleParse() {
	n, err := Parse(`service:api (timeout OR "connection refused") -severity:DEBUG duration:>250ms`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n)

	_, err = Parse(`service:api "connection refused`)
	fmt.Println(err)
	// Output:
	// service:api AND (timeout OR "connection refused") AND NOT severity:DEBUG AND duration:>250ms
	// at position 13: unclosed quote
}
