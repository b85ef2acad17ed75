package events

import (
	"context"
	"sync"

	"github.com/codingbrain/gateway/stores"
)

// DefaultMemoryLogSize is how many memory changes an in-process log keeps.
const DefaultMemoryLogSize = 10000

// memoryLog is the change log of a gateway whose memories are embedded: the
// last changes published to the hub, in process, so that memoryChanged
// resumes after a cursor as it does on PostgreSQL (within this process's
// life and the log's size).
type memoryLog struct {
	mu      sync.Mutex
	changes []stores.Change // a ring of the newest changes
	next    int             // where the next change goes in the ring
	seq     int64           // the last position assigned
}

func newMemoryLog(size int) *memoryLog {
	return &memoryLog{changes: make([]stores.Change, 0, size)}
}

// append numbers c and keeps it.
func (l *memoryLog) append(c stores.Change) stores.Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	c.Seq = l.seq
	kept := c
	kept.Memory = nil // ids only, like PostgreSQL's log: a resuming reader reads the memory back
	if len(l.changes) < cap(l.changes) {
		l.changes = append(l.changes, kept)
	} else {
		l.changes[l.next] = kept
		l.next = (l.next + 1) % len(l.changes)
	}
	return c
}

func (l *memoryLog) ChangeLog(t stores.Tenant) stores.ChangeLog {
	return tenantMemoryLog{log: l, tenant: t}
}

type tenantMemoryLog struct {
	log    *memoryLog
	tenant stores.Tenant
}

func (t tenantMemoryLog) ChangesAfter(_ context.Context, after int64, limit int) ([]stores.Change, error) {
	l := t.log
	l.mu.Lock()
	defer l.mu.Unlock()
	oldest := l.seq - int64(len(l.changes)) + 1
	switch {
	case after < 0 || after > l.seq:
		return nil, stores.Invalid("the change cursor does not belong to this change log")
	case after < oldest-1:
		return nil, stores.Expired("the change cursor has expired: this gateway keeps its last %d memory changes; "+
			"subscribe without after and read the current state again", cap(l.changes))
	}
	var out []stores.Change
	for i := range len(l.changes) {
		c := l.changes[(l.next+i)%len(l.changes)]
		if c.Seq > after && c.OrgID == t.tenant.OrgID && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}
