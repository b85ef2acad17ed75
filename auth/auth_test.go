package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestPrincipalHas(t *testing.T) {
	p := Principal{Scopes: []string{ScopeMemoriesRead, ScopeAdmin}}
	tests := []struct {
		name  string
		scope string
		want  bool
	}{
		{"a granted scope is present", ScopeMemoriesRead, true},
		{"the admin scope is present when granted", ScopeAdmin, true},
		{"read does not imply write", ScopeMemoriesWrite, false},
		{"admin does not imply domain scopes", ScopeVectorsWrite, false},
		{"the empty scope is never present", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Has(tt.scope); got != tt.want {
				t.Errorf("Has(%q) = %v, want %v", tt.scope, got, tt.want)
			}
		})
	}
}

func TestContext(t *testing.T) {
	want := Principal{UserID: testUser, OrgID: testOrg, Scopes: []string{ScopeSearchRead}}
	tests := []struct {
		name   string
		ctx    context.Context
		wantOK bool
	}{
		{"a principal stored in the context is returned", NewContext(context.Background(), want), true},
		{"a context without a principal reports none", context.Background(), false},
		{"a nil context reports none", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromContext(tt.ctx)
			if ok != tt.wantOK {
				t.Fatalf("FromContext ok = %v, want %v", ok, tt.wantOK)
			}
			if ok && (got.UserID != want.UserID || got.OrgID != want.OrgID || !got.Has(ScopeSearchRead)) {
				t.Errorf("FromContext = %+v, want %+v", got, want)
			}
		})
	}
}

func TestRequire(t *testing.T) {
	ctx := NewContext(context.Background(), Principal{UserID: uuid.New(), OrgID: uuid.New(), Scopes: []string{ScopeMemoriesRead}})
	t.Run("a held scope passes", func(t *testing.T) {
		if err := Require(ctx, ScopeMemoriesRead); err != nil {
			t.Fatalf("Require = %v", err)
		}
	})
	t.Run("a missing scope is forbidden and named", func(t *testing.T) {
		err := Require(ctx, ScopeMemoriesWrite)
		if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), ScopeMemoriesWrite) {
			t.Fatalf("Require = %v, want ErrForbidden naming %s", err, ScopeMemoriesWrite)
		}
	})
	t.Run("no principal is unauthenticated", func(t *testing.T) {
		if err := Require(context.Background(), ScopeMemoriesRead); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("Require = %v, want ErrUnauthenticated", err)
		}
	})
}
