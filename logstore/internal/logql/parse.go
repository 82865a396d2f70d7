package logql

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxQueryLength is the longest query, in bytes, that Parse accepts.
	MaxQueryLength = 8 << 10
	// MaxDepth is how deeply a query may nest. It bounds both the
	// parentheses and negations open at once while parsing and the chain
	// of And, Or and Not nodes in the resulting tree, so that neither the
	// parser nor a consumer walking the tree recursively can be driven
	// into deep recursion.
	MaxDepth = 64
)

// Error is the error Parse returns for a query it cannot read. It is the
// package's only kind of bad-input error; check for it with errors.As.
type Error struct {
	// Pos is the byte offset into the query, counting from 0, at which the
	// problem was found.
	Pos int
	// Msg says what is wrong.
	Msg string
}

// Error formats the error for a person: the position counts from 1, like
// an editor's column (in bytes, so it runs ahead of the column on lines
// with non-ASCII text).
func (e *Error) Error() string {
	return fmt.Sprintf("at position %d: %s", e.Pos+1, e.Msg)
}

func errorf(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Parse parses a query. An empty or all-whitespace query parses to a
// *MatchAll. Every error is an *Error.
func Parse(s string) (Node, error) {
	if len(s) > MaxQueryLength {
		return nil, errorf(MaxQueryLength, "query is too long: %d bytes, at most %d are allowed", len(s), MaxQueryLength)
	}
	if !utf8.ValidString(s) {
		return nil, errorf(invalidUTF8At(s), "invalid UTF-8")
	}
	p := &parser{s: s}
	t, err := p.peek()
	if err != nil {
		return nil, err
	}
	if t.kind == tokEOF {
		return &MatchAll{}, nil
	}
	n, err := p.parseOr("")
	if err != nil {
		return nil, err
	}
	if t, err = p.next(); err != nil {
		return nil, err
	}
	if t.kind == tokRParen {
		return nil, errorf(t.pos, "unexpected ')' without a matching '('")
	}
	if t.kind != tokEOF {
		// parseAnd and parseOr stop only at ')' and the end.
		return nil, errorf(t.pos, "unexpected %s", describe(t))
	}
	if deep := tooDeep(n, 0); deep != nil {
		return nil, errorf(deep.Pos(), "query is nested too deeply: more than %d levels", MaxDepth)
	}
	return n, nil
}

type tokenKind uint8

const (
	tokEOF    tokenKind = iota
	tokWord             // text is the word
	tokPhrase           // text is the unquoted phrase
	tokField            // text is the field name; the ':' is consumed
	tokLParen
	tokRParen
	tokAnd // text is "AND" or "&&"
	tokOr  // text is "OR" or "||"
	tokNot // text is "NOT", "!" or "-"
)

type token struct {
	kind tokenKind
	pos  int
	text string
}

// parser is a recursive-descent parser over a lexer with one token of
// lookahead. Field values are scanned straight from the input rather than
// tokenised, because what may follow "field:" (ranges, comparisons, RFC 3339
// times with colons) differs from the rest of the language.
type parser struct {
	s     string
	pos   int   // where lexing resumes
	tok   token // the lookahead, when ahead
	ahead bool
	depth int // parentheses and negations open
}

func (p *parser) peek() (token, error) {
	if !p.ahead {
		t, err := p.lex()
		if err != nil {
			return token{}, err
		}
		p.tok, p.ahead = t, true
	}
	return p.tok, nil
}

func (p *parser) next() (token, error) {
	t, err := p.peek()
	p.ahead = false
	return t, err
}

// parseOr parses and-expressions separated by OR. after describes what came
// before, for error messages; it is empty at the start of the query.
func (p *parser) parseOr(after string) (Node, error) {
	first, err := p.parseAnd(after)
	if err != nil {
		return nil, err
	}
	children := []Node{first}
	for {
		t, err := p.peek()
		if err != nil {
			return nil, err
		}
		if t.kind != tokOr {
			return newOr(children), nil
		}
		p.ahead = false
		n, err := p.parseAnd(describe(t))
		if err != nil {
			return nil, err
		}
		children = append(children, n)
	}
}

// parseAnd parses unary expressions joined by AND or by juxtaposition.
func (p *parser) parseAnd(after string) (Node, error) {
	first, err := p.parseUnary(after)
	if err != nil {
		return nil, err
	}
	children := []Node{first}
	for {
		t, err := p.peek()
		if err != nil {
			return nil, err
		}
		var n Node
		switch t.kind {
		case tokAnd:
			p.ahead = false
			n, err = p.parseUnary(describe(t))
		case tokWord, tokPhrase, tokField, tokLParen, tokNot:
			n, err = p.parseUnary("")
		default:
			return newAnd(children), nil
		}
		if err != nil {
			return nil, err
		}
		children = append(children, n)
	}
}

func (p *parser) parseUnary(after string) (Node, error) {
	t, err := p.next()
	if err != nil {
		return nil, err
	}
	switch t.kind {
	case tokNot:
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		child, err := p.parseUnary(describe(t))
		if err != nil {
			return nil, err
		}
		p.depth--
		return &Not{Child: child, pos: t.pos}, nil
	case tokLParen:
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		if c, err := p.peek(); err != nil {
			return nil, err
		} else if c.kind == tokRParen {
			return nil, errorf(c.pos, "empty parentheses")
		}
		n, err := p.parseOr(describe(t))
		if err != nil {
			return nil, err
		}
		c, err := p.next()
		if err != nil {
			return nil, err
		}
		if c.kind != tokRParen {
			return nil, errorf(c.pos, "expected ')' to close '(' at position %d, found %s", t.pos+1, describe(c))
		}
		p.depth--
		return n, nil
	case tokWord:
		if t.text == "*" {
			return &MatchAll{pos: t.pos}, nil
		}
		return &Term{Value: t.text, Wildcard: strings.ContainsAny(t.text, "*?"), pos: t.pos}, nil
	case tokPhrase:
		return &Term{Value: t.text, Phrase: true, pos: t.pos}, nil
	case tokField:
		return p.parseValue(t)
	}
	if after == "" {
		return nil, errorf(t.pos, "unexpected %s", describe(t))
	}
	return nil, errorf(t.pos, "expected a term after %s, found %s", after, describe(t))
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > MaxDepth {
		return errorf(pos, "query is nested too deeply: more than %d levels", MaxDepth)
	}
	return nil
}

// tooDeep returns the first node found more than MaxDepth And, Or and Not
// nodes down, or nil. A tree can be deeper than the parentheses that built
// it, since "a OR b c" is an Or over an And.
func tooDeep(n Node, level int) Node {
	var kids []Node
	switch n := n.(type) {
	case *And:
		kids = n.Children
	case *Or:
		kids = n.Children
	case *Not:
		kids = []Node{n.Child}
	default:
		return nil
	}
	if level == MaxDepth {
		return n
	}
	for _, k := range kids {
		if d := tooDeep(k, level+1); d != nil {
			return d
		}
	}
	return nil
}

// lex reads the next token outside a field value.
func (p *parser) lex() (token, error) {
	s := p.s
	i := skipSpace(s, p.pos)
	p.pos = i
	if i == len(s) {
		return token{kind: tokEOF, pos: i}, nil
	}
	switch c := s[i]; c {
	case '(':
		p.pos = i + 1
		return token{kind: tokLParen, pos: i, text: "("}, nil
	case ')':
		p.pos = i + 1
		return token{kind: tokRParen, pos: i, text: ")"}, nil
	case '"':
		text, end, err := scanQuoted(s, i)
		if err != nil {
			return token{}, err
		}
		if text == "" {
			return token{}, errorf(i, "empty quoted phrase")
		}
		p.pos = end
		return token{kind: tokPhrase, pos: i, text: text}, nil
	case '&', '|':
		if i+1 < len(s) && s[i+1] == c {
			p.pos = i + 2
			if c == '&' {
				return token{kind: tokAnd, pos: i, text: "&&"}, nil
			}
			return token{kind: tokOr, pos: i, text: "||"}, nil
		}
		return token{}, errorf(i, "unexpected '%c'; write %c%c or %s", c, c, c, pick(c == '&', "AND", "OR"))
	case '!':
		p.pos = i + 1
		return token{kind: tokNot, pos: i, text: "!"}, nil
	case '-':
		if r, _ := utf8.DecodeRuneInString(s[i+1:]); r == '"' || r == '(' || isWordRune(r) {
			p.pos = i + 1
			return token{kind: tokNot, pos: i, text: "-"}, nil
		}
		return token{}, errorf(i, "'-' must be directly followed by a term or '('")
	case '>', '<':
		return token{}, errorf(i, "comparison needs a field, as in duration:>250ms")
	case '[', '{':
		return token{}, errorf(i, "range needs a field, as in status:[200 TO 299]")
	case ']', '}':
		return token{}, errorf(i, "unexpected '%c'", c)
	case ':':
		return token{}, errorf(i, "unexpected ':'; quote values that contain ':'")
	}
	if r, _ := utf8.DecodeRuneInString(s[i:]); !isWordRune(r) {
		return token{}, unexpectedChar(i, r)
	}
	j := scanRunes(s, i, isWordRune)
	if j < len(s) && (s[j] == ':' || s[j] == '"' && s[j-1] == '.') {
		name, end, err := scanField(s, i)
		if err != nil {
			return token{}, err
		}
		p.pos = end
		return token{kind: tokField, pos: i, text: name}, nil
	}
	p.pos = j
	w := s[i:j]
	switch w {
	case "AND":
		return token{kind: tokAnd, pos: i, text: w}, nil
	case "OR":
		return token{kind: tokOr, pos: i, text: w}, nil
	case "NOT":
		return token{kind: tokNot, pos: i, text: w}, nil
	}
	return token{kind: tokWord, pos: i, text: w}, nil
}

func unexpectedChar(pos int, r rune) *Error {
	return errorf(pos, "unexpected character %q; put text with punctuation in quotes", r)
}

// describe names a token for an error message.
func describe(t token) string {
	switch t.kind {
	case tokEOF:
		return "end of query"
	case tokWord:
		return strconv.Quote(t.text)
	case tokPhrase:
		return "quoted phrase"
	case tokField:
		return strconv.Quote(fieldString(t.text) + ":")
	case tokAnd, tokOr, tokNot:
		if t.text[0] >= 'A' && t.text[0] <= 'Z' {
			return t.text
		}
	}
	return "'" + t.text + "'"
}

// scanField reads a field name starting at i, which the caller has seen to
// be a word followed by ':' or by '."'. It returns the name with its
// segments joined by '.' and the offset just past the ':'.
func scanField(s string, i int) (string, int, error) {
	var segs []string
	j := i
	for {
		if j < len(s) && s[j] == '"' {
			q, end, err := scanQuoted(s, j)
			if err != nil {
				return "", 0, err
			}
			// A dot inside quotes is as good as one outside (fields are
			// flattened with dots), but it must not make an empty segment.
			for _, part := range strings.Split(q, ".") {
				if part == "" {
					return "", 0, errorf(j, "empty segment in field name")
				}
			}
			segs = append(segs, q)
			j = end
		} else {
			k := scanRunes(s, j, isNameRune)
			if k == j {
				return "", 0, errorf(j, "empty segment in field name")
			}
			segs = append(segs, s[j:k])
			j = k
		}
		if j < len(s) && s[j] == '.' {
			j++
			continue
		}
		break
	}
	if j < len(s) && s[j] == ':' {
		return strings.Join(segs, "."), j + 1, nil
	}
	if r, _ := utf8.DecodeRuneInString(s[j:]); j < len(s) && isWordRune(r) {
		return "", 0, errorf(j, "invalid character %q in field name", r)
	}
	return "", 0, errorf(j, "expected ':' after field name")
}

// scanQuoted reads a double-quoted string starting at i. It returns the text
// with escapes resolved and the offset just past the closing quote.
func scanQuoted(s string, i int) (string, int, error) {
	var b strings.Builder
	for j := i + 1; j < len(s); {
		switch c := s[j]; c {
		case '"':
			return b.String(), j + 1, nil
		case '\\':
			if j+1 == len(s) {
				return "", 0, errorf(i, "unclosed quote")
			}
			if e := s[j+1]; e == '"' || e == '\\' {
				b.WriteByte(e)
				j += 2
				continue
			}
			// Refuse other escapes rather than guess, so that \n and the
			// like stay free to mean something later.
			r, _ := utf8.DecodeRuneInString(s[j+1:])
			return "", 0, errorf(j, "unknown escape \\%c in quoted text; only \\\" and \\\\ are allowed", r)
		default:
			b.WriteByte(c)
			j++
		}
	}
	return "", 0, errorf(i, "unclosed quote")
}

// parseValue reads what follows "field:".
func (p *parser) parseValue(f token) (Node, error) {
	s, i := p.s, p.pos
	field := f.text
	r, _ := utf8.DecodeRuneInString(s[i:])
	switch {
	case i == len(s) || r == ')' || unicode.IsSpace(r):
		msg := fmt.Sprintf("empty value after %q", fieldString(field)+":")
		if j := skipSpace(s, i); j > i && j < len(s) && s[j] != ')' {
			msg += "; no space is allowed after ':'"
		}
		return nil, &Error{Pos: i, Msg: msg}
	case r == '(':
		name := fieldString(field)
		return nil, errorf(i, "grouping after %q is not supported; repeat the field, as in (%s:a OR %s:b)", name+":", name, name)
	case r == '"':
		q, end, err := scanQuoted(s, i)
		if err != nil {
			return nil, err
		}
		if q == "" {
			return nil, errorf(i, "empty quoted value after %q", fieldString(field)+":")
		}
		p.pos = end
		return &Term{Field: field, Value: q, Phrase: true, pos: f.pos}, nil
	case r == '>' || r == '<':
		return p.parseComparison(f, i)
	case r == '[' || r == '{':
		return p.parseRange(f, i)
	case r == ':':
		return nil, errorf(i, "unexpected ':'; quote values that contain ':'")
	case !isWordRune(r):
		return nil, unexpectedChar(i, r)
	}
	j := scanRunes(s, i, isWordRune)
	if j < len(s) && s[j] == ':' {
		return nil, errorf(j, "unexpected ':' in value; quote values that contain ':'")
	}
	p.pos = j
	w := s[i:j]
	if w == "*" {
		return &Exists{Field: field, pos: f.pos}, nil
	}
	return &Term{Field: field, Value: w, Wildcard: strings.ContainsAny(w, "*?"), pos: f.pos}, nil
}

// parseComparison reads ">500", ">=500", "<0.5" or "<=10" at i.
func (p *parser) parseComparison(f token, i int) (Node, error) {
	op := p.s[i : i+1]
	if i+1 < len(p.s) && p.s[i+1] == '=' {
		op = p.s[i : i+2]
	}
	j := i + len(op)
	b, end, err := p.scanBound(j, op)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, errorf(j, "invalid range bound: %q cannot be an open end; write %s:*", op+"*", fieldString(f.text))
	}
	p.pos = end
	r := &Range{Field: f.text, pos: f.pos}
	if op[0] == '>' {
		r.Min, r.MinInclusive = b, len(op) == 2
	} else {
		r.Max, r.MaxInclusive = b, len(op) == 2
	}
	return r, nil
}

// parseRange reads "[a TO b]", with either bracket style at either end, at i.
func (p *parser) parseRange(f token, i int) (Node, error) {
	s := p.s
	j := skipSpace(s, i+1)
	if keywordAt(s, j, "TO") {
		return nil, errorf(j, "invalid range bound: missing lower bound before TO; use * for an open end")
	}
	lo, j, err := p.scanBound(j, s[i:i+1])
	if err != nil {
		return nil, err
	}
	j = skipSpace(s, j)
	if !keywordAt(s, j, "TO") {
		msg := "range needs TO between its bounds, as in [100 TO 200]"
		if j+2 <= len(s) && strings.EqualFold(s[j:j+2], "TO") && keywordAt(s[:j]+"TO"+s[j+2:], j, "TO") {
			msg += "; TO must be upper case"
		}
		return nil, errorf(j, "%s", msg)
	}
	j = skipSpace(s, j+len("TO"))
	hi, j, err := p.scanBound(j, "TO")
	if err != nil {
		return nil, err
	}
	j = skipSpace(s, j)
	if j == len(s) || s[j] != ']' && s[j] != '}' {
		return nil, errorf(j, "expected ']' or '}' to close the range opened at position %d", i+1)
	}
	p.pos = j + 1
	if lo == nil && hi == nil {
		return &Exists{Field: f.text, pos: f.pos}, nil
	}
	return &Range{
		Field:        f.text,
		Min:          lo,
		Max:          hi,
		MinInclusive: lo != nil && s[i] == '[',
		MaxInclusive: hi != nil && s[j] == ']',
		pos:          f.pos,
	}, nil
}

// keywordAt reports whether the upper-case keyword kw stands at i on its own,
// not as the start of a longer bound.
func keywordAt(s string, i int, kw string) bool {
	if !strings.HasPrefix(s[i:], kw) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i+len(kw):])
	return i+len(kw) == len(s) || !isBoundRune(r)
}

// scanBound reads a range bound at i; after names what precedes it, for
// error messages. A nil Bound with no error is the open end "*".
func (p *parser) scanBound(i int, after string) (*Bound, int, error) {
	s := p.s
	if i < len(s) && s[i] == '"' {
		q, end, err := scanQuoted(s, i)
		if err != nil {
			return nil, 0, err
		}
		if q == "" {
			return nil, 0, errorf(i, "invalid range bound: empty quotes")
		}
		return NewBound(q), end, nil
	}
	j := scanRunes(s, i, isBoundRune)
	raw := s[i:j]
	switch {
	case raw == "":
		found := "end of query"
		if r, _ := utf8.DecodeRuneInString(s[i:]); i < len(s) {
			found = strconv.QuoteRune(r)
		}
		return nil, 0, errorf(i, "invalid range bound: expected a value after %q, found %s", after, found)
	case raw == "*":
		return nil, j, nil
	case strings.ContainsAny(raw, "*?"):
		return nil, 0, errorf(i, "invalid range bound %q: wildcards are not allowed", raw)
	}
	return NewBound(raw), j, nil
}

// NewBound reads raw in every way that parses, as the parser reads a
// range bound.
func NewBound(raw string) *Bound {
	b := &Bound{Raw: raw}
	if f, err := strconv.ParseFloat(raw, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		b.Num, b.IsNum = f, true
	}
	if t, err := time.Parse(time.RFC3339Nano, raw); err == nil {
		b.Time, b.IsTime = t, true
	} else if t, err := time.Parse(time.DateOnly, raw); err == nil {
		b.Time, b.IsTime = t, true
	}
	if d, err := time.ParseDuration(raw); err == nil {
		b.Dur, b.IsDur = d, true
	}
	return b
}

func skipSpace(s string, i int) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += size
	}
	return i
}

// scanRunes returns the offset of the first rune at or after i that is not ok.
func scanRunes(s string, i int, ok func(rune) bool) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !ok(r) {
			break
		}
		i += size
	}
	return i
}

func isLetterOrDigit(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	// Marks keep decomposed accents (e + U+0301) inside the word.
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r)
}

// isWordRune reports whether r may appear in a bare word, wildcards
// included.
func isWordRune(r rune) bool {
	switch r {
	case '_', '-', '.', '/', '@', '#', '*', '?':
		return true
	}
	return isLetterOrDigit(r)
}

// isNameRune reports whether r may appear in an unquoted segment of a field
// name.
func isNameRune(r rune) bool {
	return r == '_' || r == '-' || isLetterOrDigit(r)
}

// isBoundRune reports whether r may appear in an unquoted range bound: a
// word, plus ':' and '+' for RFC 3339 times such as
// 2026-01-02T15:04:05+02:00. '*' and '?' are read only to be refused.
func isBoundRune(r rune) bool {
	return r == ':' || r == '+' || isWordRune(r)
}

func invalidUTF8At(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i
			}
		}
	}
	return 0
}
