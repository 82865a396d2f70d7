package alerts

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"gopkg.in/yaml.v3"

	"github.com/lookout-dev/lookout/internal/yamlerr"
)

// fileError is one problem in a file lookout reads, at the place an editor
// or a CI log links to: file:line:column: message (the column where it is
// known), as promtool and amtool name them.
type fileError struct {
	file      string
	line, col int
	msg       string
}

func (e *fileError) Error() string {
	switch {
	case e.line <= 0:
		return fmt.Sprintf("%s: %s", e.file, e.msg)
	case e.col <= 0:
		return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.file, e.line, e.col, e.msg)
}

// at is a problem at node n of file.
func at(file string, n *yaml.Node, msg string) *fileError {
	return &fileError{file: file, line: n.Line, col: n.Column, msg: msg}
}

// checkRuleFile parses a Prometheus rule file as the rules manager will
// (rulefmt.Parse) and returns each problem at its place in the file, and
// promtool's warning about rules that are the same rule twice.
//
// rulefmt places some problems itself (a rule's expr, record and alert);
// the rest come without a place, or at line 0: a group's name and labels,
// a rule's labels, annotations and templates, a duration that does not
// parse. Those are placed here, in the file's YAML node tree, by what the
// error is about.
func checkRuleFile(file string, p parser.Parser) (warnings, errs []error) {
	b, err := readRuleFile(file)
	if err != nil {
		return nil, []error{err}
	}
	// A logger, not nil: Parse warns through it about a second document.
	rgs, perrs := rulefmt.Parse(b, false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
	var doc yaml.Node
	var tree *ruleTree
	if yaml.Unmarshal(b, &doc) == nil && len(doc.Content) > 0 {
		tree = newRuleTree(doc.Content[0])
	}
	seen := map[string]bool{} // Parse decodes twice, so a type error comes twice
	for _, e := range perrs {
		for _, fe := range tree.locate(file, e) {
			if s := fe.Error(); !seen[s] {
				seen[s] = true
				errs = append(errs, fe)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return duplicateRules(file, rgs, tree), nil
}

// ruleTree is a rule file's YAML nodes, group by group and rule by rule,
// in the order rulefmt validates them.
type ruleTree struct {
	root   *yaml.Node
	groups []ruleTreeGroup
	// used counts the problems placed per message, so that the second
	// problem with the same message goes to the second place it fits.
	used map[string]int
	// group and rule are where the last rule problem was placed: rulefmt
	// reports groups in order, so a later group of the same name is the
	// next one.
	group, rule int
}

type ruleTreeGroup struct {
	node, name, labels *yaml.Node // name and labels nil where absent
	rules              []*yaml.Node
}

// newRuleTree indexes a rule file's document node; nil-safe methods make
// a file that is not even YAML place nothing.
func newRuleTree(root *yaml.Node) *ruleTree {
	t := &ruleTree{root: root, used: map[string]int{}}
	_, groups := amYAMLGet(root, "groups")
	if groups == nil || groups.Kind != yaml.SequenceNode {
		return t
	}
	for _, g := range groups.Content {
		tg := ruleTreeGroup{node: g}
		_, tg.name = amYAMLGet(g, "name")
		_, tg.labels = amYAMLGet(g, "labels")
		if _, rs := amYAMLGet(g, "rules"); rs != nil && rs.Kind == yaml.SequenceNode {
			tg.rules = rs.Content
		}
		t.groups = append(t.groups, tg)
	}
	return t
}

// rulePosRE matches the "line:column: " rulefmt puts before a problem it
// places, twice where two fields are at fault (record and alert).
var rulePosRE = regexp.MustCompile(`^(\d+):(\d+): (?:\d+:\d+: )?`)

// locate places one error of rulefmt.Parse in file.
func (t *ruleTree) locate(file string, err error) []*fileError {
	var rerr *rulefmt.Error
	if errors.As(err, &rerr) {
		return []*fileError{t.locateRule(file, rerr)}
	}
	msg := err.Error()
	if g := rulePosRE.FindStringSubmatch(msg); g != nil {
		msg = msg[len(g[0]):]
		line, _ := strconv.Atoi(g[1])
		col, _ := strconv.Atoi(g[2])
		if line > 0 {
			return []*fileError{{file: file, line: line, col: col, msg: msg}}
		}
	} else if strings.HasPrefix(msg, "yaml: ") {
		var out []*fileError
		for _, p := range yamlerr.Problems(err) {
			out = append(out, &fileError{file: file, line: p.Line, msg: p.Msg})
		}
		return out
	}
	fe := &fileError{file: file, msg: msg}
	if n := t.place(msg); n != nil {
		fe.line, fe.col = n.Line, n.Column
	}
	return []*fileError{fe}
}

// place finds the node a problem rulefmt did not place is about: the
// n-th node that fits the n-th problem with this message.
func (t *ruleTree) place(msg string) *yaml.Node {
	if t == nil {
		return nil
	}
	var fits []*yaml.Node
	switch {
	case msg == "Groupname must not be empty":
		for _, g := range t.groups {
			if g.name == nil || g.name.Value == "" {
				fits = append(fits, cmp.Or(g.name, g.node))
			}
		}
	case strings.HasPrefix(msg, "groupname: "):
		// `groupname: "a" is repeated in the same file`: every group of
		// that name after the first.
		name, _ := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(msg, "groupname: "), " is repeated in the same file"))
		first := true
		for _, g := range t.groups {
			if g.name != nil && g.name.Value == name {
				if !first {
					fits = append(fits, g.name)
				}
				first = false
			}
		}
	case strings.HasPrefix(msg, "invalid label name: "), strings.HasPrefix(msg, "invalid label value: "):
		// A group's labels: rule labels come as a *rulefmt.Error.
		for _, g := range t.groups {
			fits = append(fits, labelNodes(g.labels, msg)...)
		}
	default:
		// A duration that does not parse (interval, query_offset, for,
		// keep_firing_for): yaml.v3 passes model.Duration's error on
		// without a line.
		fits = findAll(t.root, func(n *yaml.Node) bool {
			if n.Kind != yaml.ScalarNode {
				return false
			}
			_, err := model.ParseDuration(n.Value)
			return err != nil && err.Error() == msg
		})
		if len(fits) == 0 {
			// Else whatever value the message quotes.
			for _, q := range amQuotedStrings(msg) {
				fits = append(fits, findAll(t.root, func(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Value == q })...)
			}
		}
	}
	i := t.used[msg]
	t.used[msg]++
	if len(fits) == 0 {
		return nil
	}
	return fits[min(i, len(fits)-1)]
}

// locateRule places a problem of one rule: where rulefmt says, when it
// says (record, alert, expr), else at the label or annotation the message
// names, else at the rule.
func (t *ruleTree) locateRule(file string, e *rulefmt.Error) *fileError {
	msg := e.Err.Error()
	line, col := 0, 0
	if g := rulePosRE.FindStringSubmatch(msg); g != nil {
		msg = msg[len(g[0]):]
		line, _ = strconv.Atoi(g[1])
		col, _ = strconv.Atoi(g[2])
	}
	fe := &fileError{file: file, line: line, col: col, msg: fmt.Sprintf("group %q, rule %d, %q: %s", e.Group, e.Rule, e.RuleName, msg)}
	rule := t.ruleNode(e.Group, e.Rule, e.RuleName)
	if line > 0 || rule == nil {
		return fe
	}
	n := rule
	switch {
	case strings.HasPrefix(msg, "invalid label name: "), strings.HasPrefix(msg, "invalid label value: "):
		_, ls := amYAMLGet(rule, "labels")
		if found := labelNodes(ls, msg); len(found) > 0 {
			n = found[0]
		}
	case strings.HasPrefix(msg, "invalid annotation name: "):
		_, as := amYAMLGet(rule, "annotations")
		if k, _ := amYAMLGet(as, strings.TrimPrefix(msg, "invalid annotation name: ")); k != nil {
			n = k
		}
	case strings.HasPrefix(msg, "label "), strings.HasPrefix(msg, "annotation "):
		// `label "x": template: ...`: the value of x.
		kind, rest, _ := strings.Cut(msg, " ")
		if q := amQuotedRE.FindString(rest); q != "" && strings.HasPrefix(rest, q) {
			name, _ := strconv.Unquote(q)
			_, m := amYAMLGet(rule, kind+"s")
			if _, v := amYAMLGet(m, name); v != nil {
				n = v
			}
		}
	}
	fe.line, fe.col = n.Line, n.Column
	return fe
}

// ruleNode is the node of rule i (from 1), named rule, of the group named
// group: the first such group at or after the last one placed, as rulefmt
// reports groups in order.
func (t *ruleTree) ruleNode(group string, i int, rule string) *yaml.Node {
	if t == nil {
		return nil
	}
	for j := t.group; j < len(t.groups); j++ {
		g := t.groups[j]
		var name string
		if g.name != nil {
			name = g.name.Value
		}
		// A rule number lower than the last one, or another rule's name,
		// is a later group of the same name.
		if name != group || j == t.group && i < t.rule || i > len(g.rules) || ruleName(g.rules[i-1]) != rule {
			continue
		}
		t.group, t.rule = j, i
		return g.rules[i-1]
	}
	return nil
}

// ruleName is a rule node's alert or record, as rulefmt names the rule.
func ruleName(rule *yaml.Node) string {
	for _, key := range []string{"alert", "record"} {
		if _, v := amYAMLGet(rule, key); v != nil && v.Value != "" {
			return v.Value
		}
	}
	return ""
}

// labelNodes are the keys (for "invalid label name: x") or values (for
// "invalid label value: x") of a labels map that msg is about.
func labelNodes(m *yaml.Node, msg string) []*yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	var out []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		switch msg {
		case "invalid label name: " + k.Value:
			out = append(out, k)
		case "invalid label value: " + v.Value:
			out = append(out, v)
		}
	}
	return out
}

// findAll returns every node under n, n included, that match accepts, in
// document order.
func findAll(n *yaml.Node, match func(*yaml.Node) bool) []*yaml.Node {
	if n == nil {
		return nil
	}
	var out []*yaml.Node
	if match(n) {
		out = append(out, n)
	}
	for _, c := range n.Content {
		out = append(out, findAll(c, match)...)
	}
	return out
}

// duplicateRules is promtool check rules' duplicate-rules lint
// (cmd/promtool checkDuplicates): rules of one file with the same name
// (alert or record) and the same labels, their group's labels included,
// write the same series or the same alerts, so that they may overwrite
// each other. promtool warns without failing; so does lookout.
func duplicateRules(file string, rgs *rulefmt.RuleGroups, tree *ruleTree) []error {
	if rgs == nil {
		return nil
	}
	first := map[string]int{} // line of the first rule of each name and labels
	var out []error
	for j, g := range rgs.Groups {
		for i, r := range g.Rules {
			name := cmp.Or(r.Alert, r.Record)
			key := name + "\xff" + rules.FromMaps(g.Labels, r.Labels).String()
			var n *yaml.Node
			if tree != nil && j < len(tree.groups) && i < len(tree.groups[j].rules) {
				n = tree.groups[j].rules[i]
			}
			if n == nil {
				n = &yaml.Node{}
			}
			prev, dup := first[key]
			if !dup {
				first[key] = n.Line
				continue
			}
			what := "series"
			if r.Alert != "" {
				what = "alerts"
			}
			out = append(out, at(file, n, fmt.Sprintf("group %q, rule %d, %q: same name and labels%s as the rule at line %d: the two write the same %s and may overwrite each other",
				g.Name, i+1, name, labelList(rules.FromMaps(g.Labels, r.Labels)), prev, what)))
		}
	}
	return out
}

// labelList is " {a="b"}", or nothing without labels.
func labelList(ls labels.Labels) string {
	if ls.IsEmpty() {
		return ""
	}
	return " " + ls.String()
}
