package yamlerr

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// item is a named type, as the types of decoded files are.
type item struct{ X int }

func TestLocate(t *testing.T) {
	f := func(doc, want string) {
		t.Helper()
		var v struct {
			A int               `yaml:"a"`
			B int               `yaml:"b"`
			L []item            `yaml:"l"`
			M map[string]string `yaml:"m"`
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
	// Go types mean nothing to the file's author: the YAML kind does.
	f("l: {x: 1}\n", "f.yml:1: cannot unmarshal !!map into a list")
	f("l: [[1]]\n", "f.yml:1: cannot unmarshal !!seq into a map")
	f("m: [1]\n", "f.yml:1: cannot unmarshal !!seq into a map")
}
