package ingest

import (
	"sync"
	"sync/atomic"
)

// budget is ingest's share of the process's memory: the bytes that the
// requests being received, decoded and stored are estimated to hold. A
// request takes what it will cost before it spends it and gives it back only
// once its consumer has returned, so the sum of reservations bounds what
// ingest holds however many clients push at once.
type budget struct {
	limit int64
	used  atomic.Int64
}

// take reserves n bytes, or reports that they do not fit.
func (b *budget) take(n int64) bool {
	if n <= 0 {
		b.used.Add(n)
		return true
	}
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

// hold starts an empty reservation for one request.
func (b *budget) hold() *reservation { return &reservation{b: b} }

// reservation is what one request holds of the budget. It grows as the
// request is read and decompressed and is resized to the request's decoded
// cost before decoding. A gRPC call's reservation is released by the end of
// its stream (context.AfterFunc), which may race with the handler resizing
// it, hence the mutex and the done flag: once released it never takes
// again.
type reservation struct {
	b    *budget
	mu   sync.Mutex
	n    int64
	done bool
}

// resize makes the reservation n bytes. Shrinking always succeeds; growing
// fails, leaving the reservation as it was, when the budget has no room or
// the reservation was released.
func (r *reservation) resize(n int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return false
	}
	if !r.b.take(n - r.n) {
		return false
	}
	r.n = n
	return true
}

// release gives the reservation back; it is safe to call more than once.
func (r *reservation) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	r.b.used.Add(-r.n)
	r.n = 0
}
