package logstore

import (
	"math/rand/v2"
	"testing"
)

func TestGlob(t *testing.T) {
	f := func(pattern, s string, want bool) {
		t.Helper()
		if got := glob(pattern, s); got != want {
			t.Errorf("glob(%q, %q) = %v, want %v", pattern, s, got, want)
		}
	}
	f("ord*", "order", true)
	f("ord*", "ord", true)
	f("ord*", "or", false)
	f("*der", "order", true)
	f("o?der", "order", true)
	f("o?der", "oder", false)
	f("/api/*/items", "/api/v1/items", true)
	f("/api/*/items", "/api/v1/items/3", false)
	f("*", "", true)
	f("a*b*c", "axxbyyc", true)
	f("a*b*c", "axxbyy", false)
	f("é*", "ecole", false)
	f("é*", "épée", true)
}

func TestContainsFold(t *testing.T) {
	f := func(b, w string, want bool) {
		t.Helper()
		if got := containsFold([]byte(b), w); got != want {
			t.Errorf("containsFold(%q, %q) = %v, want %v", b, w, got, want)
		}
	}
	f("Payment DECLINED", "declined", true)
	f("Payment DECLINED", "payment", true)
	f("request_id=62A4c5", "62a4c5", true)
	f("a_b", "a_b", true)
	f("a_b", "a\x7fb", false)
	f("short", "shorter", false)
	f("", "x", false)
}

func TestBloomHasNoFalseNegatives(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	in := map[uint64]struct{}{}
	for len(in) < 5000 {
		in[r.Uint64()] = struct{}{}
	}
	b := bloomBuild(in)
	n := uint64(len(b) / bloomBlock)
	has := func(h uint64) bool {
		blk, pos := bloomProbe(h, n)
		return bloomBlockHas(b[blk*bloomBlock:], pos)
	}
	for h := range in {
		if !has(h) {
			t.Fatalf("hash %x added but not found", h)
		}
	}
	fp := 0
	const tries = 100000
	for i := 0; i < tries; i++ {
		if has(r.Uint64()) {
			fp++
		}
	}
	if rate := float64(fp) / tries; rate > 0.03 {
		t.Fatalf("false positive rate %.4f, want below 0.03 at %d bits per item", rate, bloomBitsPerItem)
	}
	if bloomBuild(nil) != nil {
		t.Fatal("an empty filter is not empty")
	}
}
