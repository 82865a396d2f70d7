// Package yamlerr puts YAML decoders' errors in the "file:line:
// problem" form that editors and CI logs link to, for every YAML file lookout
// reads: its configuration, its rule files and its log rule files.
package yamlerr

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

var (
	// lineRE matches the "line N: " yaml.v3 puts before each problem.
	lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	// goType matches the Go type a decoding problem names, which means
	// nothing to the file's author.
	goType = regexp.MustCompile(` in type [\w.*\[\]]+`)
	// goInto matches the Go type a value could not be decoded into when it
	// is a list, a map or a package's type ("into []rulefmt.RuleGroup"),
	// which is said as the YAML kind instead; "into int" stays.
	goInto = regexp.MustCompile(` into (\[\]|map\[)?[\w.*\[\]]*`)
)

// Problem is one problem yaml.v3 reported; Line is 0 where it gave none.
type Problem struct {
	Line int
	Msg  string
}

// Problems splits an error from decoding YAML into its problems, with the
// Go types they name said as YAML kinds.
func Problems(err error) []Problem {
	// From the message, not yaml.TypeError's fields: Prometheus decodes
	// with go.yaml.in/yaml/v3, whose TypeError is another type, and
	// Alertmanager with yaml.v2; all three write it this way.
	msgs := []string{err.Error()}
	if rest, ok := strings.CutPrefix(msgs[0], "yaml: unmarshal errors:\n"); ok {
		msgs = strings.Split(rest, "\n")
	}
	out := make([]Problem, 0, len(msgs))
	for _, m := range msgs {
		m = goType.ReplaceAllString(strings.TrimSpace(m), "")
		m = goInto.ReplaceAllStringFunc(m, yamlKind)
		if g := lineRE.FindStringSubmatch(m); g != nil {
			var line int
			fmt.Sscan(g[1], &line)
			out = append(out, Problem{Line: line, Msg: g[2]})
			continue
		}
		out = append(out, Problem{Msg: strings.TrimPrefix(m, "yaml: ")})
	}
	return out
}

// yamlKind says " into []x.T" as " into a list", " into map[..." and
// " into x.T" as " into a map"; " into int" is left as it is.
func yamlKind(into string) string {
	t := strings.TrimPrefix(into, " into ")
	switch {
	case strings.HasPrefix(t, "[]"):
		return " into a list"
	case strings.HasPrefix(t, "map["), strings.Contains(t, "."):
		return " into a map"
	}
	return into
}

// Locate rewrites an error from decoding the YAML file at path as one
// "path:line: problem" line per problem ("path: problem" where yaml.v3 gives
// no line).
func Locate(path string, err error) error {
	ps := Problems(err)
	errs := make([]error, 0, len(ps))
	for _, p := range ps {
		if p.Line > 0 {
			errs = append(errs, fmt.Errorf("%s:%d: %s", path, p.Line, p.Msg))
			continue
		}
		errs = append(errs, fmt.Errorf("%s: %s", path, p.Msg))
	}
	return errors.Join(errs...)
}
