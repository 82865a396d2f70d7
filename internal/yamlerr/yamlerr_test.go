package yamlerr

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestLocate(t *testing.T) {
	f := func(doc, want string) {
		t.Helper()
		var v struct {
			A int `yaml:"a"`
			B int `yaml:"b"`
		}
		err := yaml.Unmarshal([]byte(doc), &v)
		if err == nil {
			t.Fatalf("%q decoded", doc)
		}
		if got := Locate("f.yml", err).Error(); got != want {
			t.Errorf("%q: got %q, want %q", doc, got, want)
		}
	}
	f("a: [\n", "f.yml:1: did not find expected node content")
	f("a: x\nb: y\n", "f.yml:1: cannot unmarshal !!str `x` into int\nf.yml:2: cannot unmarshal !!str `y` into int")
	f("\t", "f.yml: found character that cannot start any token")
}
