package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// PoolForTest exposes the backend's pool to the tests of this package, so
// they can inspect a connection the stores have just used.
func (b *Backend) PoolForTest() *pgxpool.Pool { return b.pool }
