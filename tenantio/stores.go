package tenantio

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/neo4j"
	"github.com/codingbrain/gateway/stores/qdrant"
	"github.com/codingbrain/gateway/stores/valkey"
)

// Config says where the stores of a deployment are. Only OwnerURL is
// required; a store left unset is neither exported nor imported into (an
// import refuses a stream that holds records for it).
type Config struct {
	// OwnerURL is the PostgreSQL URL of the owner role (DATABASE_OWNER_URL):
	// only the owner may take the operator binding (app.operator_org).
	OwnerURL      string
	ValkeyURL     string
	Neo4jURI      string
	Neo4jUser     string
	Neo4jPassword string
	QdrantURL     string
	// Timeout bounds each single store call (not the whole transfer).
	Timeout time.Duration
	// Indexes are the deployment's derived indexes (stores.DerivedIndexes;
	// full text only when empty): an imported memory queues an outbox
	// entry for each, and the indexers rebuild them.
	Indexes []stores.IndexName
}

// Stores are the open connections of a transfer.
type Stores struct {
	// indexes name the outbox entries an imported memory queues.
	indexes   []string
	Postgres  *pgxpool.Pool
	Episodic  *valkey.Backend
	CodeGraph *neo4j.CodeGraphBackend
	Vectors   *qdrant.Backend
}

// operatorUser binds the store calls of an import that need a user but
// record none of it (the code graph, ORG-visible vectors without author).
var operatorUser = uuid.MustParse("00000000-0000-5000-8000-000000000001")

// Open connects to every store cfg names.
func Open(ctx context.Context, cfg Config) (*Stores, error) {
	if cfg.OwnerURL == "" {
		return nil, fmt.Errorf("DATABASE_OWNER_URL is not set: export and import run as the owner role")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if len(cfg.Indexes) == 0 {
		cfg.Indexes = stores.DerivedIndexes(false)
	}
	s := &Stores{indexes: stores.IndexNames(cfg.Indexes)}
	pc, err := pgxpool.ParseConfig(cfg.OwnerURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_OWNER_URL: %w", err)
	}
	pc.MaxConns = 2
	if s.Postgres, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := s.Postgres.Ping(ctx); err != nil {
		s.Close(ctx)
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.ValkeyURL != "" {
		if s.Episodic, err = valkey.Open(ctx, cfg.ValkeyURL, valkey.Options{Timeout: cfg.Timeout}); err != nil {
			s.Close(ctx)
			return nil, fmt.Errorf("valkey: %w", err)
		}
	}
	if cfg.Neo4jURI != "" {
		if s.CodeGraph, err = neo4j.Open(ctx, cfg.Neo4jURI, cfg.Neo4jUser, cfg.Neo4jPassword, neo4j.Options{Timeout: cfg.Timeout}); err != nil {
			s.Close(ctx)
			return nil, fmt.Errorf("neo4j: %w", err)
		}
	}
	if cfg.QdrantURL != "" {
		if s.Vectors, err = qdrant.Open(ctx, cfg.QdrantURL, qdrant.Options{Timeout: cfg.Timeout}); err != nil {
			s.Close(ctx)
			return nil, fmt.Errorf("qdrant: %w", err)
		}
	}
	return s, nil
}

// Close closes every open connection.
func (s *Stores) Close(ctx context.Context) {
	if s.Postgres != nil {
		s.Postgres.Close()
	}
	if s.Episodic != nil {
		_ = s.Episodic.Close()
	}
	if s.CodeGraph != nil {
		_ = s.CodeGraph.Close(ctx)
	}
	if s.Vectors != nil {
		_ = s.Vectors.Close()
	}
}
