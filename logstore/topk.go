package logstore

import (
	"cmp"
	"container/heap"
	"slices"
)

// topK keeps the k newest (or, forward, oldest) items pushed, by timestamp.
type topK[T any] struct {
	k       int
	forward bool
	h       tsHeap[T]
}

func newTopK[T any](k int, forward bool) *topK[T] {
	return &topK[T]{k: k, forward: forward, h: tsHeap[T]{forward: forward}}
}

func (t *topK[T]) push(ts int64, v T) {
	if len(t.h.items) < t.k {
		heap.Push(&t.h, tsItem[T]{ts, v})
		return
	}
	worst := t.h.items[0].ts
	if (!t.forward && ts > worst) || (t.forward && ts < worst) {
		t.h.items[0] = tsItem[T]{ts, v}
		heap.Fix(&t.h, 0)
	}
}

// canImprove reports whether a group spanning [minTs, maxTs] may hold an
// item that would enter the top k.
func (t *topK[T]) canImprove(minTs, maxTs int64) bool {
	if len(t.h.items) < t.k {
		return true
	}
	worst := t.h.items[0].ts
	if t.forward {
		return minTs < worst
	}
	return maxTs > worst
}

// sorted returns the items, newest first (oldest first if forward).
func (t *topK[T]) sorted() []T {
	items := slices.Clone(t.h.items)
	slices.SortStableFunc(items, func(a, b tsItem[T]) int {
		if t.forward {
			return cmp.Compare(a.ts, b.ts)
		}
		return cmp.Compare(b.ts, a.ts)
	})
	out := make([]T, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out
}

type tsItem[T any] struct {
	ts int64
	v  T
}

// tsHeap has the worst item at the root: the oldest when keeping the
// newest, the newest when keeping the oldest.
type tsHeap[T any] struct {
	items   []tsItem[T]
	forward bool
}

func (h tsHeap[T]) Len() int { return len(h.items) }
func (h tsHeap[T]) Less(i, j int) bool {
	if h.forward {
		return h.items[i].ts > h.items[j].ts
	}
	return h.items[i].ts < h.items[j].ts
}
func (h tsHeap[T]) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *tsHeap[T]) Push(x any)   { h.items = append(h.items, x.(tsItem[T])) }
func (h *tsHeap[T]) Pop() any {
	it := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return it
}
