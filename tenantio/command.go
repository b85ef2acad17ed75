package tenantio

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// Usage documents `gateway tenant export` and `gateway tenant import`.
const Usage = `usage: gateway tenant export [--vectors] ORG > FILE
       gateway tenant import [--org ORG] [--merge] [FILE] < FILE
  export  write organisation ORG (a UUID) from every store as an NDJSON
          stream (docs/EXPORT.md); --vectors adds the Qdrant points
  import  verify a stream's checksum, then load it under its own org id,
          under --org (a migration: every id is remapped), or with --merge
          into an org that holds data; reads FILE, or stdin (spooled to a
          temporary file first, so that nothing is written before the
          whole stream has verified)
  needs DATABASE_OWNER_URL, and VALKEY_URL, NEO4J_URI/NEO4J_USER/
  NEO4J_PASSWORD, QDRANT_URL for the stores the org uses`

// IO is what a command gets from its process.
type IO struct {
	Getenv         func(string) string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// ConfigFromEnv reads the stores' settings from the gateway's environment.
func ConfigFromEnv(getenv func(string) string) Config {
	return Config{
		OwnerURL: getenv("DATABASE_OWNER_URL"), ValkeyURL: getenv("VALKEY_URL"),
		Neo4jURI: getenv("NEO4J_URI"), Neo4jUser: getenv("NEO4J_USER"), Neo4jPassword: getenv("NEO4J_PASSWORD"),
		QdrantURL: getenv("QDRANT_URL"),
		Indexes:   stores.DerivedIndexes(getenv("EMBEDDINGS_URL") != ""),
	}
}

// Command runs `gateway tenant export|import ARGS`.
func Command(ctx context.Context, sub string, args []string, p IO) error {
	fs := flag.NewFlagSet("gateway tenant "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	vectors := fs.Bool("vectors", false, "export the Qdrant points too")
	org := fs.String("org", "", "import under this org id")
	merge := fs.Bool("merge", false, "import into an org that holds data")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("gateway tenant %s: %w\n%s", sub, err, Usage)
	}
	switch sub {
	case "export":
		if fs.NArg() != 1 || *org != "" || *merge {
			return fmt.Errorf("gateway tenant export: want exactly one ORG and no --org or --merge\n%s", Usage)
		}
		id, err := uuid.Parse(fs.Arg(0))
		if err != nil || id == uuid.Nil {
			return fmt.Errorf("gateway tenant export: ORG %q is not an organisation UUID", fs.Arg(0))
		}
		s, err := Open(ctx, ConfigFromEnv(p.Getenv))
		if err != nil {
			return fmt.Errorf("gateway tenant export: %w", err)
		}
		defer s.Close(ctx)
		_, err = Export(ctx, s, id, p.Stdout, ExportOptions{Vectors: *vectors, Progress: p.Stderr})
		return err
	case "import":
		if fs.NArg() > 1 || *vectors {
			return fmt.Errorf("gateway tenant import: want at most one FILE and no --vectors\n%s", Usage)
		}
		opts := ImportOptions{Merge: *merge, Progress: p.Stderr}
		if *org != "" {
			id, err := uuid.Parse(*org)
			if err != nil || id == uuid.Nil {
				return fmt.Errorf("gateway tenant import: --org %q is not an organisation UUID", *org)
			}
			opts.Org = id
		}
		src := FileSource(fs.Arg(0))
		if fs.NArg() == 0 {
			if p.Stdin == nil {
				return errors.New("gateway tenant import: no FILE and no stdin")
			}
			spooled, remove, err := Spool(p.Stdin)
			if err != nil {
				return fmt.Errorf("gateway tenant import: %w", err)
			}
			defer remove()
			src = spooled
		}
		s, err := Open(ctx, ConfigFromEnv(p.Getenv))
		if err != nil {
			return fmt.Errorf("gateway tenant import: %w", err)
		}
		defer s.Close(ctx)
		res, err := Import(ctx, s, src, opts)
		if err != nil {
			return fmt.Errorf("gateway tenant import: %w", err)
		}
		_, err = fmt.Fprintf(p.Stderr, "imported org %s as %s: %v\n", res.Source, res.Target, res.Records)
		return err
	}
	return fmt.Errorf("gateway tenant: unknown subcommand %q\n%s", sub, Usage)
}
