package logstore

import (
	"container/list"
	"sync"
)

// blockCache keeps recently read, decompressed blocks, so a page of results
// that falls in a few blocks reads and decompresses each once. It is bounded
// by the bytes of the blocks it holds.
type blockCache struct {
	mu    sync.Mutex
	max   int
	size  int
	ll    *list.List
	items map[blockRef]*list.Element
}

type blockRef struct {
	table string
	id    int64
}

type cacheEntry struct {
	ref  blockRef
	h    *blockHeader
	size int
}

func (c *blockCache) init(maxMiB int) {
	c.max = maxMiB << 20
	c.ll = list.New()
	c.items = map[blockRef]*list.Element{}
}

func (c *blockCache) get(ref blockRef) *blockHeader {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[ref]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*cacheEntry).h
	}
	return nil
}

func (c *blockCache) put(ref blockRef, h *blockHeader, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[ref]; ok || size > c.max {
		return
	}
	c.items[ref] = c.ll.PushFront(&cacheEntry{ref: ref, h: h, size: size})
	c.size += size
	for c.size > c.max {
		e := c.ll.Back()
		ent := e.Value.(*cacheEntry)
		c.ll.Remove(e)
		delete(c.items, ent.ref)
		c.size -= ent.size
	}
}

// dropTable forgets every cached block of table, after retention deleted
// some of them.
func (c *blockCache) dropTable(table string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ref, e := range c.items {
		if ref.table == table {
			c.ll.Remove(e)
			delete(c.items, ref)
			c.size -= e.Value.(*cacheEntry).size
		}
	}
}
