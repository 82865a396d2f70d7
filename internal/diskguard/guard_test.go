package diskguard

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

func TestDefaultMinFree(t *testing.T) {
	f := func(size, want int64) {
		t.Helper()
		if got := DefaultMinFree(size); got != want {
			t.Errorf("DefaultMinFree(%d) = %d, want %d", size, got, want)
		}
	}
	f(100<<30, 1<<30)
	f(20<<30, 1<<30)
	f(4<<30, 4<<30/20)
	f(32<<20, 32<<20/20)
}

// TestAdmit drives the guard with an injected file system: requests are
// admitted while their estimated writes keep free space above the floor,
// refused (counted) once they would not, readiness says why, and all of it
// clears by itself when a reading shows space again.
func TestAdmit(t *testing.T) {
	var avail atomic.Int64
	avail.Store(100 << 20)
	set := metrics.NewSet()
	g, err := Open(context.Background(), Config{Dir: "/data", MinFree: 10 << 20}, Options{
		Metrics: set,
		Statfs:  func(string) (Usage, error) { return Usage{Size: 1 << 30, Avail: avail.Load()}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	// 90 MiB above the floor admits 4 requests of 10 MiB decoded (20 MiB
	// of estimated writes each) and refuses a fifth.
	for i := range 4 {
		if err := g.Admit(10 << 20); err != nil {
			t.Fatalf("request %d: %v, want admitted", i, err)
		}
	}
	var low *LowError
	if err := g.Admit(10 << 20); !errors.As(err, &low) {
		t.Fatalf("fifth request: %v, want a *LowError", err)
	}
	if err := g.Check(context.Background()); err != nil {
		t.Errorf("Check before a reading shows low space = %v, want nil", err)
	}

	avail.Store(5 << 20) // the writes landed, and more
	g.poll()
	if err := g.Admit(1); !errors.As(err, &low) {
		t.Fatalf("Admit under the floor = %v, want a *LowError", err)
	}
	if err := g.Check(context.Background()); !errors.As(err, &low) || low.Avail != 5<<20 || low.MinFree != 10<<20 {
		t.Fatalf("Check under the floor = %v, want a *LowError with 5 MiB free of a 10 MiB floor", err)
	}
	if got := set.GetOrCreateCounter("lookout_disk_low_refused_requests_total").Get(); got != 2 {
		t.Errorf("refusals counted = %d, want 2", got)
	}

	avail.Store(50 << 20)
	g.poll()
	if err := g.Admit(1 << 20); err != nil {
		t.Errorf("Admit once space returned = %v, want nil", err)
	}
	if err := g.Check(context.Background()); err != nil {
		t.Errorf("Check once space returned = %v, want nil", err)
	}
}

func TestOff(t *testing.T) {
	g, err := Open(context.Background(), Config{Dir: "/data", MinFree: 0}, Options{
		Statfs: func(string) (Usage, error) { return Usage{Size: 1 << 30, Avail: 0}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Admit(1 << 30); err != nil {
		t.Errorf("Admit with the guard off = %v, want nil", err)
	}
	if err := g.Check(context.Background()); err != nil {
		t.Errorf("Check with the guard off = %v, want nil", err)
	}
}
