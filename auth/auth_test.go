package auth

import (
	"context"
	"testing"
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
