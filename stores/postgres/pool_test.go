package postgres

import "testing"

// The pool size an operator puts in DATABASE_URL is the one the pool gets;
// the setting (GATEWAY_DB_MAX_CONNS) and the default apply only without it.
func TestPoolSize(t *testing.T) {
	for _, c := range []struct {
		name     string
		url      string
		setting  int32
		wantConn int32
	}{
		{"the URL's pool_max_conns wins over the setting", "postgres://app@db/codingbrain?pool_max_conns=40", 8, 40},
		{"the URL's pool_max_conns wins over the default", "postgresql://app@db/codingbrain?sslmode=disable&pool_max_conns=3", 0, 3},
		{"keyword form", "host=db user=app pool_max_conns = 40", 8, 40},
		{"the setting without pool_max_conns", "postgres://app@db/codingbrain", 8, 8},
		{"the default without either", "host=db user=app dbname=codingbrain", 0, DefaultMaxConns},
	} {
		t.Run(c.name, func(t *testing.T) {
			pc, err := poolConfig(Config{URL: c.url, MaxConns: c.setting})
			if err != nil {
				t.Fatal(err)
			}
			if pc.MaxConns != c.wantConn {
				t.Errorf("MaxConns = %d, want %d", pc.MaxConns, c.wantConn)
			}
		})
	}
}
