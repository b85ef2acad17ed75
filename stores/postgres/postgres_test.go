package postgres_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/migrations"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/stores/storetest"
)

// The backend the tests share: one pool, as the gateway has.
var (
	sharedOnce    sync.Once
	sharedBackend *postgres.Backend
	sharedErr     error
)

// migrateOnce brings the database to the latest schema as the owner role,
// once per test binary. goose's advisory lock lets test packages run it at
// the same time.
func migrateOnce(t testing.TB) {
	t.Helper()
	owner := storetest.ServiceEnv(t, "DATABASE_OWNER_URL")
	migrateMu.Lock()
	defer migrateMu.Unlock()
	if migrated {
		return
	}
	r, err := migrations.Open(owner)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := r.Up(ctx, io.Discard); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	migrated = true
}

var (
	migrateMu sync.Mutex
	migrated  bool
)

// backend returns the shared backend over the migrated schema, connected as
// the application role (DATABASE_URL).
func backend(t testing.TB) *postgres.Backend {
	t.Helper()
	url := storetest.ServiceEnv(t, "DATABASE_URL")
	migrateOnce(t)
	sharedOnce.Do(func() {
		sharedBackend, sharedErr = postgres.Open(context.Background(), postgres.Config{URL: url})
	})
	if sharedErr != nil {
		t.Fatalf("open: %v", sharedErr)
	}
	return sharedBackend
}

func TestContract(t *testing.T) {
	b := backend(t)
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		return storetest.Harness{Backends: stores.Backends{Memories: b, Feedback: b, Experiments: b}}
	})
}
