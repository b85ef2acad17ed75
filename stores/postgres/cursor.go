package postgres

import (
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// newestAfter gives a newest-first list query its start: NULLs from the
// beginning, else the last row's time and id.
func newestAfter(c *stores.NewestCursor) (*time.Time, uuid.UUID) {
	if c == nil {
		return nil, uuid.Nil
	}
	return &c.At, c.ID
}

// nameAfter gives a list ordered by a unique name its start: NULL from the
// beginning, else the last row's name.
func nameAfter(c *stores.NameCursor) *string {
	if c == nil {
		return nil
	}
	return &c.Name
}

// page cuts rows fetched with LIMIT first+1 into a stores.Page.
func page[T any](rows []T, first int, cursor func(T) string) stores.Page[T] {
	more := len(rows) > first
	if more {
		rows = rows[:first]
	}
	p := stores.Page[T]{Items: rows, Cursors: make([]string, len(rows)), HasNextPage: more}
	if p.Items == nil {
		p.Items = []T{}
	}
	for i, r := range rows {
		p.Cursors[i] = cursor(r)
	}
	return p
}
