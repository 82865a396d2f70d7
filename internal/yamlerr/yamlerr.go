// Package yamlerr puts gopkg.in/yaml.v3's errors in the "file:line:
// problem" form that editors and CI logs link to, for every YAML file lookout
// reads: its configuration and its log rule files.
package yamlerr

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	// lineRE matches the "line N: " yaml.v3 puts before each problem.
	lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	// goType matches the Go type a decoding problem names, which means
	// nothing to the file's author.
	goType = regexp.MustCompile(` in type [\w.*\[\]]+`)
)

// Locate rewrites an error from decoding the YAML file at path as one
// "path:line: problem" line per problem ("path: problem" where yaml.v3 gives
// no line).
func Locate(path string, err error) error {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	errs := make([]error, 0, len(msgs))
	for _, m := range msgs {
		m = goType.ReplaceAllString(strings.TrimSpace(m), "")
		if g := lineRE.FindStringSubmatch(m); g != nil {
			errs = append(errs, fmt.Errorf("%s:%s: %s", path, g[1], g[2]))
			continue
		}
		errs = append(errs, fmt.Errorf("%s: %s", path, strings.TrimPrefix(m, "yaml: ")))
	}
	return errors.Join(errs...)
}
