// Package neo4j is the code-graph backend on Neo4j (neo4j-go-driver v5): repos,
// files and symbols are CODE_REPO, CODE_FILE and CODE_SYMBOL nodes joined by
// CONTAINS, DEFINES and CALLS / IMPORTS / INHERITS relationships. Every node
// carries the org_id of its tenant, every statement (cypher.go) binds $org_id
// and matches it on every node it touches, and a composite uniqueness
// constraint on (org_id, id) per label makes ids unique per org.
package neo4j

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j/config"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j/log"
)

// backendName is how errors and logs name this backend.
const backendName = "neo4j"

// DefaultTimeout bounds every store call (and connecting at start-up) when
// Options.Timeout is not set: long enough for a batch of a thousand rows,
// short enough that a hung server fails a request instead of holding it.
const DefaultTimeout = 5 * time.Second

// Options tunes a backend; the zero value is usable.
type Options struct {
	// MaxDepth caps Traverse's depth; zero or less means stores.MaxTraversalDepth.
	MaxDepth int
	// Timeout bounds each store call, retries included; zero means DefaultTimeout.
	Timeout time.Duration
	// Database names the Neo4j database; empty means the server's default.
	Database string
	// Now is the clock stamped on writes; nil means time.Now.
	Now func() time.Time
}

// CodeGraphBackend serves every organisation's code graph from one Neo4j
// database through one driver (a connection pool), handing out stores bound
// to one tenant.
type CodeGraphBackend struct {
	driver   neo4j.DriverWithContext
	maxDepth int
	timeout  time.Duration
	database string
	now      func() time.Time
	// boltLogger, when set (by tests), sees every Bolt message: it is how the
	// number of queries a call sends is measured.
	boltLogger log.BoltLogger
}

// Open connects to the Neo4j server at uri, checks that it answers within the
// timeout, and creates the constraints and indexes the store relies on (a
// no-op when they exist). A server that cannot be reached is ErrUnavailable.
func Open(ctx context.Context, uri, user, password string, opts Options) (*CodeGraphBackend, error) {
	driver, err := NewDriver(uri, user, password, opts)
	if err != nil {
		return nil, err
	}
	b := NewCodeGraphBackend(driver, opts)
	if err := b.Connect(ctx); err != nil {
		_ = driver.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return b, nil
}

// Connect checks that the server answers within the timeout and creates
// the constraints and indexes the store relies on: what Open does after
// making the driver, for a backend made while the server was down.
func (b *CodeGraphBackend) Connect(ctx context.Context) error {
	vctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if err := b.driver.VerifyConnectivity(vctx); err != nil {
		return stores.Unavailable(backendName, err)
	}
	return b.EnsureSchema(ctx)
}

// NewDriver makes a driver whose connection, pool and retry waits all fit in
// the store's timeout, so a dead server fails a call instead of stalling it.
// It does not connect.
func NewDriver(uri, user, password string, opts Options) (neo4j.DriverWithContext, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	driver, err := neo4j.NewDriverWithContext(uri, neo4j.BasicAuth(user, password, ""), func(c *config.Config) {
		c.SocketConnectTimeout = timeout
		c.ConnectionAcquisitionTimeout = timeout
		c.MaxTransactionRetryTime = timeout
		c.TelemetryDisabled = true
		// Every caller reads all records at once: one PULL, not one per
		// thousand records.
		c.FetchSize = neo4j.FetchAll
	})
	if err != nil {
		return nil, stores.Invalid("the Neo4j URI is malformed")
	}
	return driver, nil
}

// NewCodeGraphBackend wraps a driver the caller made (and closes, unless it
// calls Close). It neither connects nor creates the schema: Open and
// Connect do both.
func NewCodeGraphBackend(driver neo4j.DriverWithContext, opts Options) *CodeGraphBackend {
	b := &CodeGraphBackend{driver: driver, maxDepth: opts.MaxDepth, timeout: opts.Timeout, database: opts.Database, now: opts.Now}
	if b.maxDepth <= 0 {
		b.maxDepth = stores.MaxTraversalDepth
	}
	if b.timeout <= 0 {
		b.timeout = DefaultTimeout
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

// EnsureSchema creates the uniqueness constraints and name indexes if they do
// not exist. Schema commands cannot share a transaction with each other, so
// each runs in its own.
func (b *CodeGraphBackend) EnsureSchema(ctx context.Context) error {
	for _, stmt := range schemaStatements {
		err := b.write(ctx, func(ctx context.Context, tx neo4j.ManagedTransaction) error {
			_, err := run(ctx, tx, stmt, nil)
			return err
		})
		if err != nil {
			return fmt.Errorf("neo4j schema: %w", err)
		}
	}
	return nil
}

// Close closes the driver and its connections.
func (b *CodeGraphBackend) Close(ctx context.Context) error {
	return b.driver.Close(ctx)
}

// CodeGraph returns the store bound to t's organisation.
func (b *CodeGraphBackend) CodeGraph(t stores.Tenant) stores.CodeGraphStore {
	return &codeGraphStore{b: b, tenant: t, orgID: t.OrgID.String()}
}

// work is what one managed transaction does; it may run more than once when
// the driver retries a transient failure.
type work func(ctx context.Context, tx neo4j.ManagedTransaction) error

// query runs one statement in a managed transaction of its own (retried by
// the driver on transient errors and lost connections) within the store's
// timeout. The driver pipelines its BEGIN with the statement, so it costs two
// round trips (BEGIN+RUN+PULL, COMMIT), where a transaction function costs
// three: every single-statement call goes through here.
func (b *CodeGraphBackend) query(ctx context.Context, mode neo4j.AccessMode, cypher string, params map[string]any) ([]*neo4j.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, stores.Unavailable(backendName, err)
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	routing := neo4j.ExecuteQueryWithReadersRouting()
	if mode == neo4j.AccessModeWrite {
		routing = neo4j.ExecuteQueryWithWritersRouting()
	}
	res, err := neo4j.ExecuteQuery(ctx, b.driver, cypher, params, neo4j.EagerResultTransformer, routing,
		neo4j.ExecuteQueryWithDatabase(b.database), neo4j.ExecuteQueryWithBoltLogger(b.boltLogger),
		neo4j.ExecuteQueryWithTransactionConfig(neo4j.WithTxTimeout(b.timeout)))
	if err != nil {
		return nil, mapError(ctx, err)
	}
	return res.Records, nil
}

// write runs w, which may send several statements, in one managed write
// transaction within the store's timeout: all of it commits or none does.
func (b *CodeGraphBackend) write(ctx context.Context, w work) error {
	if err := ctx.Err(); err != nil {
		return stores.Unavailable(backendName, err)
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	session := b.driver.NewSession(ctx, neo4j.SessionConfig{
		AccessMode: neo4j.AccessModeWrite, DatabaseName: b.database, BoltLogger: b.boltLogger,
		// The bookmarks ExecuteQuery uses, so a read after this write sees it
		// on a cluster too.
		BookmarkManager: b.driver.ExecuteQueryBookmarkManager(),
	})
	// Closing returns the connection to the pool; it must happen even when
	// ctx has ended.
	defer func() { _ = session.Close(context.WithoutCancel(ctx)) }()
	_, err := session.ExecuteWrite(ctx, func(tx neo4j.ManagedTransaction) (any, error) { return nil, w(ctx, tx) }, neo4j.WithTxTimeout(b.timeout))
	return mapError(ctx, err)
}

// Neo4j status codes the store treats specially.
const (
	codeConstraintViolation = "Neo.ClientError.Schema.ConstraintValidationFailed"
	codeTransactionTimedOut = "Neo.ClientError.Transaction.TransactionTimedOut"
)

// mapError turns a driver error into a store error: a store error passes
// through; a uniqueness violation is ErrConflict; a server that cannot be
// reached, is overloaded or refuses our credentials, or a call that ran out
// of time, is ErrUnavailable. Anything else (a statement the server rejects)
// is a bug in this package and stays an internal error. Driver text never
// reaches the client message.
func mapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var se *stores.Error
	if errors.As(err, &se) {
		return err
	}
	if ctx.Err() != nil {
		return stores.Unavailable(backendName, errors.Join(ctx.Err(), err))
	}
	var ne *neo4j.Neo4jError
	if errors.As(err, &ne) {
		switch {
		case ne.Code == codeConstraintViolation:
			return &stores.Error{Kind: stores.ErrConflict, Message: "an id is already taken in this organisation", Cause: err}
		case ne.Code == codeTransactionTimedOut, ne.HasSecurityCode(), ne.IsRetriable(), ne.Classification() != "ClientError":
			return stores.Unavailable(backendName, err)
		}
		return fmt.Errorf("neo4j: %w", err)
	}
	var usage *neo4j.UsageError
	if errors.As(err, &usage) {
		return fmt.Errorf("neo4j: %w", err)
	}
	// Connectivity errors, exhausted retries, pool timeouts, TLS failures.
	return stores.Unavailable(backendName, err)
}

// run sends one statement and reads all its records.
func run(ctx context.Context, tx neo4j.ManagedTransaction, cypher string, params map[string]any) ([]*neo4j.Record, error) {
	res, err := tx.Run(ctx, cypher, params)
	if err != nil {
		return nil, err
	}
	return res.Collect(ctx)
}
