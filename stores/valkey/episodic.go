package valkey

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/codingbrain/gateway/stores"
)

// episodicStore is the episodic store of one tenant. Every key it touches is
// made from keys, which was made from the bound tenant.
type episodicStore struct {
	b      *Backend
	tenant stores.Tenant
	keys   userKeys
}

// itemBody is what an item's key holds; the times, the weight and the
// ranking data live in the session's sorted sets and hash.
type itemBody struct {
	Content  string         `json:"content"`
	MemoryID *uuid.UUID     `json:"memory_id,omitempty"`
	Metadata map[string]any `json:"metadata"`
}

// PutItem stores the item with its TTL in one script: the server's clock
// stamps it, the cap counts the session's live items, and the session and
// the user's index follow in the same step.
func (s *episodicStore) PutItem(ctx context.Context, sessionID string, in stores.NewEpisodicItem) (stores.EpisodicItem, error) {
	if err := s.begin(ctx); err != nil {
		return stores.EpisodicItem{}, err
	}
	item, err := stores.CheckPutItem(sessionID, in)
	if err != nil {
		return stores.EpisodicItem{}, err
	}
	id, weight, metadata := item.ID, item.Weight, item.Metadata
	var memoryID *uuid.UUID
	if in.MemoryID != nil {
		m := *in.MemoryID
		memoryID = &m
	}
	body, err := json.Marshal(itemBody{Content: in.Content, MemoryID: memoryID, Metadata: metadata})
	if err != nil {
		return stores.EpisodicItem{}, fmt.Errorf("encode episodic item: %w", err)
	}
	sk := s.keys.session(sessionID)
	var res []any
	err = s.b.call(ctx, func(ctx context.Context) error {
		r, err := s.b.runScript(ctx, putItem,
			[]string{s.keys.indexTouch(), s.keys.indexExpiry(), sk.touch, sk.expiry, sk.meta, sk.item(id)},
			sessionID, id, in.TTL.Milliseconds(), formatWeight(weight), body, stores.MaxSessionItems, sweepBudget)
		res, _ = r.([]any)
		return err
	})
	if err != nil {
		return stores.EpisodicItem{}, err
	}
	if len(res) == 1 {
		return stores.EpisodicItem{}, stores.Conflict("the session already holds %d items", stores.MaxSessionItems)
	}
	times := make([]int64, 0, 3)
	for _, v := range res[min(1, len(res)):] {
		if ms, ok := v.(int64); ok {
			times = append(times, ms)
		}
	}
	if len(res) != 4 || len(times) != 3 {
		return stores.EpisodicItem{}, stores.Unavailable(backendName, fmt.Errorf("put script answered %v", res))
	}
	now, created, expires := times[0], times[1], times[2]
	return stores.EpisodicItem{
		ID:        id,
		SessionID: sessionID,
		Content:   in.Content,
		MemoryID:  memoryID,
		Metadata:  metadata,
		Weight:    weight,
		CreatedAt: fromMillis(created),
		TouchedAt: fromMillis(now),
		ExpiresAt: fromMillis(expires),
	}, nil
}

// SessionItems reads one session in one round trip (the ranking script).
func (s *episodicStore) SessionItems(ctx context.Context, sessionID string, halfLife time.Duration, limit int, touch bool) ([]stores.EpisodicItem, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := stores.CheckSessionID(sessionID); err != nil {
		return nil, err
	}
	if err := stores.CheckEpisodicRead(halfLife, limit); err != nil {
		return nil, err
	}
	out, err := s.read(ctx, []string{sessionID}, halfLife, limit, touch)
	if err != nil {
		return nil, err
	}
	return out[sessionID], nil
}

// ItemsBySession reads every session in one pipeline: one round trip
// whatever the number of sessions (two after a server restart, which
// forgets the script).
func (s *episodicStore) ItemsBySession(ctx context.Context, sessionIDs []string, halfLife time.Duration, limit int) (map[string][]stores.EpisodicItem, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := stores.CheckItemsBySession(sessionIDs, halfLife, limit); err != nil {
		return nil, err
	}
	unique := make([]string, 0, len(sessionIDs))
	seen := make(map[string]bool, len(sessionIDs))
	for _, id := range sessionIDs {
		if !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	if len(unique) == 0 {
		return map[string][]stores.EpisodicItem{}, nil
	}
	return s.read(ctx, unique, halfLife, limit, false)
}

// read runs the ranking script for each of the distinct, validated
// sessionIDs in one pipeline and decodes the answers.
func (s *episodicStore) read(ctx context.Context, sessionIDs []string, halfLife time.Duration, limit int, touch bool) (map[string][]stores.EpisodicItem, error) {
	halfLifeMillis := strconv.FormatFloat(float64(halfLife)/float64(time.Millisecond), 'g', -1, 64)
	touchArg := "0"
	if touch {
		touchArg = "1"
	}
	var cmds []*redis.Cmd
	exec := func(ctx context.Context) error {
		pipe := s.b.client.Pipeline()
		cmds = make([]*redis.Cmd, len(sessionIDs))
		for i, id := range sessionIDs {
			sk := s.keys.session(id)
			cmds[i] = readItems.EvalSha(ctx, pipe,
				[]string{s.keys.indexTouch(), sk.touch, sk.expiry, sk.meta},
				id, sk.itemPrefix, halfLifeMillis, limit, touchArg, sweepBudget)
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	err := s.b.call(ctx, func(ctx context.Context) error {
		err := exec(ctx)
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// The server restarted and forgot the script: load it, read again.
			if err := readItems.Load(ctx, s.b.client).Err(); err != nil {
				return err
			}
			err = exec(ctx)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string][]stores.EpisodicItem, len(sessionIDs))
	for i, id := range sessionIDs {
		items, err := decodeRanked(id, cmds[i].Val(), halfLife, touch)
		if err != nil {
			return nil, stores.Unavailable(backendName, err)
		}
		out[id] = items
	}
	return out, nil
}

// decodeRanked turns the ranking script's answer into items. The score is
// weight x stores.Decay(now - touched, halfLife), now being the server's
// clock at the read; with touch the returned items show the new touch.
func decodeRanked(sessionID string, v any, halfLife time.Duration, touch bool) ([]stores.EpisodicItem, error) {
	vals, _ := v.([]any)
	if len(vals) == 0 || (len(vals)-1)%5 != 0 {
		return nil, fmt.Errorf("ranking script answered %T of %d values", v, len(vals))
	}
	r := &reply{vals: vals}
	now := r.millis(0)
	items := make([]stores.EpisodicItem, 0, (len(vals)-1)/5)
	for i := 1; i < len(vals); i += 5 {
		var body itemBody
		if err := json.Unmarshal([]byte(r.str(i+1)), &body); err != nil {
			return nil, fmt.Errorf("decode item body: %w", err)
		}
		if body.Metadata == nil {
			body.Metadata = map[string]any{}
		}
		weightText, createdText, _ := strings.Cut(r.str(i+2), " ")
		weight, touched := r.float(weightText), r.millis(i+3)
		it := stores.EpisodicItem{
			ID:        r.str(i),
			SessionID: sessionID,
			Content:   body.Content,
			MemoryID:  body.MemoryID,
			Metadata:  body.Metadata,
			Weight:    weight,
			CreatedAt: fromMillis(int64(r.float(createdText))),
			TouchedAt: fromMillis(touched),
			ExpiresAt: fromMillis(r.millis(i + 4)),
			Score:     weight * stores.Decay(time.Duration(now-touched)*time.Millisecond, halfLife),
		}
		if touch {
			it.TouchedAt = fromMillis(now)
		}
		items = append(items, it)
	}
	// The script picked the best items; order them by the scores computed
	// here, with the same tie rule, so Score and order always agree.
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].Score != items[j].Score {
			return items[i].Score > items[j].Score
		}
		return items[i].ID < items[j].ID
	})
	return items, r.err
}

// ExpireItem removes one item now.
func (s *episodicStore) ExpireItem(ctx context.Context, sessionID, itemID string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := stores.CheckSessionID(sessionID); err != nil {
		return err
	}
	if err := stores.CheckItemID(itemID); err != nil {
		return err
	}
	sk := s.keys.session(sessionID)
	var live int64
	err := s.b.call(ctx, func(ctx context.Context) error {
		r, err := s.b.runScript(ctx, expireItem,
			[]string{s.keys.indexTouch(), s.keys.indexExpiry(), sk.touch, sk.expiry, sk.meta, sk.item(itemID)},
			sessionID, itemID, sweepBudget)
		live, _ = r.(int64)
		return err
	})
	if err != nil {
		return err
	}
	if live == 0 {
		return stores.NotFound("episodic item not found")
	}
	return nil
}

// ExpireSession removes every item of a session now.
func (s *episodicStore) ExpireSession(ctx context.Context, sessionID string) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if err := stores.CheckSessionID(sessionID); err != nil {
		return 0, err
	}
	sk := s.keys.session(sessionID)
	var live int64
	err := s.b.call(ctx, func(ctx context.Context) error {
		r, err := s.b.runScript(ctx, expireSession,
			[]string{s.keys.indexTouch(), s.keys.indexExpiry(), sk.touch, sk.expiry, sk.meta},
			sessionID, sk.itemPrefix, sweepBudget)
		live, _ = r.(int64)
		return err
	})
	return int(live), err
}

// Sessions lists the user's live sessions from the index kept in step by
// every write (no KEYS, no SCAN), in one round trip. The script walks the
// index by each session's latest touch, which may belong to an item that
// has expired since; the answer is then ordered by the latest touch of live
// items. Only a user with more than MaxSessionsListed live sessions can see
// the difference, at the edge of the list.
func (s *episodicStore) Sessions(ctx context.Context) ([]stores.SessionSummary, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	var vals []any
	err := s.b.call(ctx, func(ctx context.Context) error {
		r, err := s.b.runScript(ctx, listSessions,
			[]string{s.keys.indexTouch(), s.keys.indexExpiry()},
			s.keys.sessionPrefix(), touchSuffix, expirySuffix, stores.MaxSessionsListed, sweepBudget)
		vals, _ = r.([]any)
		return err
	})
	if err != nil {
		return nil, err
	}
	out, err := decodeSessions(vals)
	if err != nil {
		return nil, stores.Unavailable(backendName, err)
	}
	return out, nil
}

func decodeSessions(vals []any) ([]stores.SessionSummary, error) {
	if len(vals) == 0 || (len(vals)-1)%4 != 0 {
		return nil, fmt.Errorf("sessions script answered %d values", len(vals))
	}
	r := &reply{vals: vals}
	out := make([]stores.SessionSummary, 0, (len(vals)-1)/4)
	for i := 1; i < len(vals); i += 4 {
		out = append(out, stores.SessionSummary{
			ID:            r.str(i),
			ItemCount:     int(r.float(r.str(i + 1))),
			LastTouchedAt: fromMillis(r.millis(i + 2)),
			ExpiresAt:     fromMillis(r.millis(i + 3)),
		})
	}
	stores.SortSessions(out)
	return out, r.err
}

// begin checks what every call checks first: a live context and a complete
// tenant (a zero id must never widen the key prefix).
func (s *episodicStore) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.tenant.Validate()
}

// formatWeight writes a weight so that the script's tonumber and Go's
// ParseFloat both read back the same float64.
func formatWeight(w float64) string { return strconv.FormatFloat(w, 'g', -1, 64) }

// reply reads a script's flat answer of strings, keeping the first error
// so a decoder checks once at the end.
type reply struct {
	vals []any
	err  error
}

func (r *reply) str(i int) string {
	s, ok := r.vals[i].(string)
	if !ok && r.err == nil {
		r.err = fmt.Errorf("script answer %d is %T, not a string", i, r.vals[i])
	}
	return s
}

// float reads a number the server wrote (a weight, a count, a score).
func (r *reply) float(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("decode a number: %w", err)
	}
	return f
}

// millis reads answer i as a time in milliseconds.
func (r *reply) millis(i int) int64 { return int64(r.float(r.str(i))) }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
