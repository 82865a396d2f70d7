package logql

import (
	"strings"
	"time"
)

// Node is one node of a parsed query: *And, *Or, *Not, *MatchAll, *Term,
// *Exists or *Range. The set is closed so that a consumer's type switch can
// be exhaustive.
type Node interface {
	// Pos is the byte offset in the query at which the node starts.
	Pos() int
	// String renders the node as a query in canonical form: And and Or
	// below the top level are parenthesised, negation is spelt NOT, and
	// values are quoted only where they must be. Parse reads the result
	// back into a tree with the same String, provided it still fits in
	// MaxQueryLength ("!a" renders as "NOT a").
	String() string
	node()
}

// And matches what all of its children match. Parse flattens nested Ands,
// so no child is an *And, and there are always at least two children.
type And struct {
	Children []Node
	pos      int
}

// Or matches what any of its children match. Parse flattens nested Ors, so
// no child is an *Or, and there are always at least two children.
type Or struct {
	Children []Node
	pos      int
}

// Not matches what its child does not. A query that is only a Not, such as
// "NOT debug", means everything except what the child matches.
type Not struct {
	Child Node
	pos   int
}

// MatchAll matches every record. Parse returns it for an empty query and for
// a bare "*".
type MatchAll struct {
	pos int
}

// Term matches a value in a field, or in the log body when Field is empty.
type Term struct {
	// Field is the field name, dotted as in "attributes.http.route"; empty
	// means the log body.
	Field string
	// Value is the text to match, with quotes and escapes removed. For a
	// wildcard it is the pattern as written.
	Value string
	// Wildcard reports that Value is a pattern in which "*" matches any
	// run of characters and "?" any one character.
	Wildcard bool
	// Phrase reports that Value was quoted: it is matched as a phrase and
	// never as a wildcard.
	Phrase bool
	pos    int
}

// Exists matches records that have a value in Field, written "field:*".
type Exists struct {
	Field string
	pos   int
}

// Range matches records whose Field lies between Min and Max. A nil bound
// is an open end, whose inclusive flag is always false; at least one bound
// is set. Comparisons parse into a Range with one open end: "status:>=500"
// has Min 500, MinInclusive and no Max.
type Range struct {
	Field        string
	Min, Max     *Bound
	MinInclusive bool
	MaxInclusive bool
	pos          int
}

// Bound is one end of a Range: its text as written, plus each reading of it
// that parses. The readings are independent: "0" is both a number and a
// duration, "2026-01-02" only a time, "abc" none, in which case the
// consumer may compare Raw as a string.
type Bound struct {
	// Raw is the bound as written, with quotes and escapes removed.
	Raw string
	// Num is Raw as a finite float64, when IsNum.
	Num   float64
	IsNum bool
	// Time is Raw as an RFC 3339 time, or a date at midnight UTC, when
	// IsTime.
	Time   time.Time
	IsTime bool
	// Dur is Raw as a duration such as "250ms" or "1.5s", when IsDur.
	Dur   time.Duration
	IsDur bool
}

func (*And) node()      {}
func (*Or) node()       {}
func (*Not) node()      {}
func (*MatchAll) node() {}
func (*Term) node()     {}
func (*Exists) node()   {}
func (*Range) node()    {}

// Pos implements Node.
func (n *And) Pos() int { return n.pos }

// Pos implements Node.
func (n *Or) Pos() int { return n.pos }

// Pos implements Node.
func (n *Not) Pos() int { return n.pos }

// Pos implements Node.
func (n *MatchAll) Pos() int { return n.pos }

// Pos implements Node.
func (n *Term) Pos() int { return n.pos }

// Pos implements Node.
func (n *Exists) Pos() int { return n.pos }

// Pos implements Node.
func (n *Range) Pos() int { return n.pos }

// String implements Node.
func (n *And) String() string { return render(n) }

// String implements Node.
func (n *Or) String() string { return render(n) }

// String implements Node.
func (n *Not) String() string { return render(n) }

// String implements Node.
func (n *MatchAll) String() string { return render(n) }

// String implements Node.
func (n *Term) String() string { return render(n) }

// String implements Node.
func (n *Exists) String() string { return render(n) }

// String implements Node.
func (n *Range) String() string { return render(n) }

// newAnd joins children with AND, flattening nested Ands.
func newAnd(children []Node) Node {
	if len(children) == 1 {
		return children[0]
	}
	flat := make([]Node, 0, len(children))
	for _, c := range children {
		if a, ok := c.(*And); ok {
			flat = append(flat, a.Children...)
		} else {
			flat = append(flat, c)
		}
	}
	return &And{Children: flat, pos: flat[0].Pos()}
}

// newOr joins children with OR, flattening nested Ors.
func newOr(children []Node) Node {
	if len(children) == 1 {
		return children[0]
	}
	flat := make([]Node, 0, len(children))
	for _, c := range children {
		if o, ok := c.(*Or); ok {
			flat = append(flat, o.Children...)
		} else {
			flat = append(flat, c)
		}
	}
	return &Or{Children: flat, pos: flat[0].Pos()}
}

func render(n Node) string {
	var b strings.Builder
	write(&b, n, true)
	return b.String()
}

// write renders n. Only the top level goes without parentheses, which keeps
// the nesting of the output no deeper than the tree, so that anything Parse
// accepts renders to something it accepts again (see MaxDepth).
func write(b *strings.Builder, n Node, top bool) {
	switch n := n.(type) {
	case nil, *MatchAll:
		b.WriteString("*")
	case *And:
		if len(n.Children) == 0 {
			b.WriteString("*")
			return
		}
		writeList(b, n.Children, " AND ", top)
	case *Or:
		if len(n.Children) == 0 {
			b.WriteString("NOT *")
			return
		}
		writeList(b, n.Children, " OR ", top)
	case *Not:
		b.WriteString("NOT ")
		write(b, n.Child, false)
	case *Term:
		if n.Field != "" {
			b.WriteString(fieldString(n.Field))
			b.WriteByte(':')
		}
		if !n.Phrase && plainWord(n.Value, n.Field == "", n.Wildcard) {
			b.WriteString(n.Value)
		} else {
			b.WriteString(Quote(n.Value))
		}
	case *Exists:
		b.WriteString(fieldString(n.Field))
		b.WriteString(":*")
	case *Range:
		b.WriteString(fieldString(n.Field))
		b.WriteByte(':')
		switch {
		case n.Min != nil && n.Max != nil:
			b.WriteString(pick(n.MinInclusive, "[", "{"))
			b.WriteString(boundString(n.Min))
			b.WriteString(" TO ")
			b.WriteString(boundString(n.Max))
			b.WriteString(pick(n.MaxInclusive, "]", "}"))
		case n.Min != nil:
			b.WriteString(pick(n.MinInclusive, ">=", ">"))
			b.WriteString(boundString(n.Min))
		case n.Max != nil:
			b.WriteString(pick(n.MaxInclusive, "<=", "<"))
			b.WriteString(boundString(n.Max))
		default:
			b.WriteString("*")
		}
	}
}

func writeList(b *strings.Builder, children []Node, sep string, top bool) {
	if len(children) == 1 {
		write(b, children[0], top)
		return
	}
	if !top {
		b.WriteByte('(')
	}
	for i, c := range children {
		if i > 0 {
			b.WriteString(sep)
		}
		write(b, c, false)
	}
	if !top {
		b.WriteByte(')')
	}
}

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

// fieldString renders a field name, quoting the segments that are not plain
// names, as in attributes."my key".
func fieldString(field string) string {
	segs := strings.Split(field, ".")
	for i, s := range segs {
		if !allRunes(s, isNameRune) {
			segs[i] = Quote(s)
		}
	}
	return strings.Join(segs, ".")
}

// plainWord reports whether v can be written without quotes and still read
// back as the same non-phrase term, in the body or in a field's value.
func plainWord(v string, body, wildcard bool) bool {
	if !allRunes(v, isWordRune) || v == "*" {
		return false
	}
	if !wildcard && strings.ContainsAny(v, "*?") {
		return false
	}
	if body && (v[0] == '-' || v == "AND" || v == "OR" || v == "NOT") {
		return false
	}
	return true
}

// boundString renders a bound, quoting it unless it reads back unquoted as
// the same bound.
func boundString(bd *Bound) string {
	r := bd.Raw
	if allRunes(r, isBoundRune) && !strings.ContainsAny(r, "*?") && r != "TO" {
		return r
	}
	return Quote(r)
}

// allRunes reports whether s is not empty and every rune in it satisfies ok.
func allRunes(s string, ok func(rune) bool) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !ok(r) {
			return false
		}
	}
	return true
}

// quote puts s in double quotes, escaping the two characters that need it.
// Quote writes s as a phrase of the query language: in double quotes,
// with quotes and backslashes escaped.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
