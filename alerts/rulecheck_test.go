package alerts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/query"
)

// TestCheckRuleFilePlacesEveryProblem: every problem of a Prometheus rule
// file names the file and line, and the column where the YAML says it;
// rulefmt gives none, or line 0, for many of them.
func TestCheckRuleFilePlacesEveryProblem(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file string
		want       []string // "line:col: message part", or "line: message part" without a column
	}{
		{
			name: "syntax",
			file: "groups:\n  - name: a\n    rules: [\n      - alert: X\n",
			want: []string{"3: did not find expected node content"},
		},
		{
			name: "unknown fields",
			file: "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up == 0\n        colour: red\n        size: 2\n",
			want: []string{"6: field colour not found", "7: field size not found"},
		},
		{
			name: "groups not a list",
			file: "groups:\n  name: a\n",
			want: []string{"2: cannot unmarshal !!map into a list"},
		},
		{
			name: "bad for",
			file: "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up == 0\n        for: soon\n",
			want: []string{`6:14: not a valid duration string: "soon"`},
		},
		{
			name: "bad interval",
			file: "groups:\n  - name: a\n    interval: forever\n    rules: []\n",
			want: []string{`3:15: not a valid duration string: "forever"`},
		},
		{
			name: "bad limit",
			file: "groups:\n  - name: a\n    limit: many\n    rules: []\n",
			want: []string{"3: cannot unmarshal !!str `many` into int"},
		},
		{
			name: "bad expr",
			file: "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up ==\n",
			want: []string{`5:15: group "a", rule 1, "X": could not parse expression`},
		},
		{
			name: "no alert or record, no expr",
			file: "groups:\n  - name: a\n    rules:\n      - expr: up == 0\n      - alert: Y\n",
			want: []string{
				`4:9: group "a", rule 1, "": one of 'record' or 'alert' must be set`,
				`5:9: group "a", rule 2, "Y": field 'expr' must be set in rule`,
			},
		},
		{
			name: "bad label names",
			file: "groups:\n  - name: a\n    labels:\n      __name__: x\n    rules:\n      - alert: X\n        expr: up == 0\n        labels:\n          team: t\n          __name__: y\n",
			want: []string{
				"4:7: invalid label name: __name__",
				`10:11: group "a", rule 1, "X": invalid label name: __name__`,
			},
		},
		{
			name: "bad template",
			file: "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up == 0\n        annotations:\n          ok: fine\n          summary: '{{ $value '\n",
			want: []string{`8:20: group "a", rule 1, "X": annotation "summary": template: __alert_X:1: unclosed action`},
		},
		{
			name: "bad label template",
			file: "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up == 0\n        labels:\n          severity: '{{ nope }}'\n",
			want: []string{`7:21: group "a", rule 1, "X": label "severity": template: __alert_X:1: function "nope" not defined`},
		},
		{
			name: "empty and repeated group names",
			file: "groups:\n  - name: a\n    rules: []\n  - name: ''\n    rules: []\n  - name: a\n    rules: []\n",
			want: []string{"4:11: Groupname must not be empty", `6:11: groupname: "a" is repeated in the same file`},
		},
		{
			name: "recording rule with annotations",
			file: "groups:\n  - name: a\n    rules:\n      - record: 'a{b}'\n        expr: up\n        annotations: {x: y}\n",
			want: []string{
				`4:17: group "a", rule 1, "a{b}": invalid field 'annotations' in recording rule`,
				`4:17: group "a", rule 1, "a{b}": braces present in the recording rule name`,
			},
		},
		{
			name: "second group of the same name",
			file: "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up\n  - name: a\n    rules:\n      - alert: Y\n        expr: up\n        labels: {__name__: x}\n",
			want: []string{
				`6:11: groupname: "a" is repeated in the same file`,
				`10:18: group "a", rule 1, "Y": invalid label name: __name__`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yml")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, errs := checkRuleFile(path, query.NewParser())
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("problems:\n%s\nwant %d:\n%s\nfor:\n%s", strings.Join(got, "\n"), len(tc.want), strings.Join(tc.want, "\n"), tc.file)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], path+":"+w) {
					t.Errorf("problem %d = %q, want %q...\nfor:\n%s", i, got[i], path+":"+w, tc.file)
				}
			}
		})
	}
}

// TestCheckRuleFileDuplicates: rules of one file with the same name and
// labels (group labels included) are a warning, as promtool's
// duplicate-rules lint; the same name with other labels is not.
func TestCheckRuleFileDuplicates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dup.yml")
	const file = `groups:
  - name: a
    rules:
      - alert: High
        expr: up == 0
        labels: {severity: page}
      - alert: High
        expr: up == 1
        labels: {severity: ticket}
      - record: job:up:sum
        expr: sum by (job) (up)
  - name: b
    rules:
      - alert: High
        expr: up == 2
        labels: {severity: page}
      - record: job:up:sum
        expr: sum by (job) (up)
  - name: c
    labels: {team: x}
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	warnings, errs := checkRuleFile(path, query.NewParser())
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := []string{
		path + `:14:9: group "b", rule 1, "High": same name and labels {severity="page"} as the rule at line 4`,
		path + `:17:9: group "b", rule 2, "job:up:sum": same name and labels as the rule at line 10`,
	}
	if len(warnings) != len(want) {
		t.Fatalf("warnings %v, want %d", warnings, len(want))
	}
	for i, w := range want {
		if got := warnings[i].Error(); !strings.HasPrefix(got, w) {
			t.Errorf("warning %d = %q, want %q...", i, got, w)
		}
	}
}
