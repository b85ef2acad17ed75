package graph_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/gqlws"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/codingbrain/gateway/tenants"
	"github.com/google/uuid"
)

// gate is an organisation gate with fixed answers: refused orgs get an
// UNAUTHENTICATED error, unreachable ones a store outage, and admins of
// erasing ones the admin scope alone.
type gate struct {
	refused, unreachable, erasing uuid.UUID
}

func (g gate) Admit(_ context.Context, p auth.Principal) (auth.Principal, error) {
	switch p.OrgID {
	case g.refused:
		return p, fmt.Errorf("%w: the organisation is suspended", auth.ErrUnauthenticated)
	case g.unreachable:
		return p, stores.Unavailable("postgres", fmt.Errorf("down"))
	case g.erasing:
		p.Scopes = []string{auth.ScopeAdmin}
	}
	return p, nil
}

// lifecycle records erasures in memory; a second one is a conflict.
type lifecycle struct{ jobs map[uuid.UUID]tenants.Job }

func (l *lifecycle) StartErase(_ context.Context, org uuid.UUID, by string) (tenants.Job, error) {
	if _, ok := l.jobs[org]; ok {
		return tenants.Job{}, stores.Conflict("organisation %s is already being erased", org)
	}
	j := tenants.Job{ID: int64(len(l.jobs) + 1), Kind: tenants.EraseOrg, Org: org, State: tenants.JobPending, RequestedBy: by,
		Pending: tenants.OrgStores, CreatedAt: time.Unix(1e9, 0).UTC()}
	l.jobs[org] = j
	return j, nil
}

func (l *lifecycle) Erasures(_ context.Context, org uuid.UUID, _ int) ([]tenants.Job, error) {
	if j, ok := l.jobs[org]; ok {
		return []tenants.Job{j}, nil
	}
	return []tenants.Job{}, nil
}

func TestOrganisationGate(t *testing.T) {
	g := gate{refused: uuid.New(), unreachable: uuid.New(), erasing: uuid.New()}
	s := newTestServer(t, func(c *graph.Config) { c.Organizations = g })
	of := func(org uuid.UUID) stores.Tenant { return stores.Tenant{OrgID: org, UserID: uuid.New()} }
	const query = `{ apps { nodes { name } } }`

	t.Run("a refused organisation's token is UNAUTHENTICATED over HTTP", func(t *testing.T) {
		r := s.do(t, s.token(t, of(g.refused)), query, nil)
		if r.Status != http.StatusUnauthorized || !strings.Contains(r.code(t, "UNAUTHENTICATED").Message, "suspended") {
			t.Fatalf("status %d, %+v", r.Status, r.Errors)
		}
	})
	t.Run("an unreachable registry is STORE_UNAVAILABLE", func(t *testing.T) {
		r := s.do(t, s.token(t, of(g.unreachable)), query, nil)
		r.code(t, "STORE_UNAVAILABLE")
		if r.Status != http.StatusServiceUnavailable {
			t.Fatalf("status %d", r.Status)
		}
	})
	t.Run("an erasing organisation's admin keeps the admin scope alone", func(t *testing.T) {
		s.do(t, s.token(t, of(g.erasing)), query, nil).code(t, "FORBIDDEN")
	})
	t.Run("a refused organisation's token gets no WebSocket", func(t *testing.T) {
		_, err := gqlws.Dial(storetest.Ctx(t), s.url+graph.PathGraphQL, map[string]any{"Authorization": "Bearer " + s.token(t, of(g.refused))}, nil)
		if err == nil || !strings.Contains(err.Error(), "4401") {
			t.Fatalf("dial: %v", err)
		}
	})
	t.Run("other organisations are served", func(t *testing.T) {
		s.do(t, s.token(t, of(uuid.New())), query, nil).ok(t, nil)
	})
}

func TestEraseOrganizationMutation(t *testing.T) {
	const erase = `mutation($org: UUID!) { eraseOrganization(input: {organizationId: $org}) { erasure { id state requestedBy stores { store done } } } }`
	const list = `{ organizationErasures { id state } }`
	alice := storetest.NewTenant()

	t.Run("without the registry it is STORE_UNAVAILABLE", func(t *testing.T) {
		s := newTestServer(t)
		s.do(t, s.token(t, alice), erase, map[string]any{"org": alice.OrgID}).code(t, "STORE_UNAVAILABLE")
	})

	s := newTestServer(t, func(c *graph.Config) { c.Lifecycle = &lifecycle{jobs: map[uuid.UUID]tenants.Job{}} })
	t.Run("needs admin", func(t *testing.T) {
		s.do(t, s.token(t, alice, auth.ScopeMemoriesWrite), erase, map[string]any{"org": alice.OrgID}).code(t, "FORBIDDEN")
		s.do(t, s.token(t, alice, auth.ScopeMemoriesRead), list, nil).code(t, "FORBIDDEN")
	})
	t.Run("another organisation's id is BAD_USER_INPUT", func(t *testing.T) {
		s.do(t, s.token(t, alice), erase, map[string]any{"org": uuid.New()}).code(t, "BAD_USER_INPUT")
		var got struct{ OrganizationErasures []any }
		s.do(t, s.token(t, alice), list, nil).ok(t, &got)
		if len(got.OrganizationErasures) != 0 {
			t.Fatalf("a refused erasure was recorded: %v", got)
		}
	})
	t.Run("the caller's own organisation starts once", func(t *testing.T) {
		var got struct {
			EraseOrganization struct {
				Erasure struct {
					ID, State, RequestedBy string
					Stores                 []struct {
						Store string
						Done  bool
					}
				}
			}
		}
		s.do(t, s.token(t, alice), erase, map[string]any{"org": alice.OrgID}).ok(t, &got)
		e := got.EraseOrganization.Erasure
		if e.ID != "1" || e.State != "PENDING" || e.RequestedBy != alice.UserID.String() || len(e.Stores) != 5 || e.Stores[0].Store != "postgres" || e.Stores[0].Done {
			t.Fatalf("erasure %+v", e)
		}
		s.do(t, s.token(t, alice), erase, map[string]any{"org": alice.OrgID}).code(t, "CONFLICT")
		var listed struct{ OrganizationErasures []struct{ ID, State string } }
		s.do(t, s.token(t, alice), list, nil).ok(t, &listed)
		if len(listed.OrganizationErasures) != 1 || listed.OrganizationErasures[0].ID != "1" {
			t.Fatalf("listed %+v", listed)
		}
	})
}
