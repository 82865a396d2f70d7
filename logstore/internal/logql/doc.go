// Package logql parses lookout's log query language, the text a user types
// into the log search box, into a small syntax tree.
//
// It sits at the front of the query side of logstore: the web layer hands
// logstore the user's string, logstore calls [Parse] and turns the resulting
// [Node] tree into bleve queries. This package owns only the syntax; it knows
// nothing about bleve, the index mapping or which fields exist, and it imports
// nothing outside the standard library.
//
// The language is a small relative of Lucene's query syntax and Kibana's
// KQL:
//
//	timeout                         free text over the log body
//	time* t?meout                   wildcard over the body
//	"connection refused"            phrase over the body
//	service:api                     field equals value
//	service:"payment api"           field equals quoted value
//	service:api-*                   wildcard on a field
//	attributes."my key":x           quoted segment in a field name
//	trace_id:*                      field exists
//	status:>=500 duration:>250ms    comparisons (one open end)
//	status:[500 TO 599]             inclusive range
//	latency:{0.1 TO 0.5]            exclusive / mixed range
//	timestamp:[2026-01-02 TO *]     open end
//	a OR b c                        a OR (b AND c)
//	NOT a, !a, -a                   negation; -(a OR b) negates a group
//	a AND b, a && b, a b            conjunction
//	a OR b, a || b                  disjunction
//
// Grammar, in EBNF; whitespace may separate tokens except where noted:
//
//	query   = [ or ] .                      (empty input matches everything)
//	or      = and { ( "OR" | "||" ) and } .
//	and     = unary { [ "AND" | "&&" ] unary } .
//	unary   = ( "NOT" | "!" ) unary
//	        | "-" unary                     (no space after "-")
//	        | primary .
//	primary = "(" or ")"
//	        | field ":" value               (no space around ":")
//	        | "*"                           (matches everything)
//	        | word | phrase .
//	field   = name { "." ( name | phrase ) } .
//	value   = "*" | word | phrase | compare | range .
//	compare = ( ">" | ">=" | "<" | "<=" ) bound .
//	range   = ( "[" | "{" ) bound "TO" bound ( "]" | "}" ) .
//	bound   = "*" | phrase | boundword .  ("*" is an open end, ranges only)
//
//	word      = wordchar { wordchar } .    (containing "*" or "?": a wildcard)
//	wordchar  = letter | digit | "_" | "-" | "." | "/" | "@" | "#" | "*" | "?" .
//	name      = namechar { namechar } .
//	namechar  = letter | digit | "_" | "-" .
//	boundword = boundchar { boundchar } .
//	boundchar = wordchar | ":" | "+" .      (but not "*" or "?")
//	phrase    = `"` { char | `\"` | `\\` } `"` .
//
// Letters and digits include non-ASCII ones. A phrase may not be empty, and
// within one only \" and \\ are escapes; any other backslash is an error.
// AND, OR, NOT and TO are keywords only in upper case and only where the
// grammar expects them; a word directly followed by ":" is always a field
// name, so AND:x searches a field named AND. Precedence is NOT, then AND,
// then OR. A word ends at any character that is not a wordchar, so
// punctuation such as "=" or "," must be quoted, and so must a value
// containing ":" (url:"http://x"), except in a bound, where ":" and "+" are
// allowed so that RFC 3339 times need no quotes.
//
// Bounds keep their raw text and, where it parses, a number
// ([strconv.ParseFloat]), a time (RFC 3339, or a date such as 2026-01-02 taken
// as midnight UTC) and a duration ([time.ParseDuration]) alike; the consumer
// picks the reading that suits the field.
//
// Parse rejects queries longer than [MaxQueryLength] bytes or nested deeper
// than [MaxDepth], so that hostile input costs little. Every failure is an
// [*Error] carrying the byte offset of the problem.
package logql
