package neo4j

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// The operator's view of the code graph (package tenants): what an
// organisation holds, erasing it in bounded batches (relationships first, so
// no DETACH DELETE of a hub node turns into one huge transaction), and which
// organisations hold nodes. These statements live here rather than in
// cypher.go: the organisation listing is the one statement that reads every
// organisation's nodes on purpose (only their org_id), and only the operator
// runs it.
const (
	cypherCountOrgRepos   = `MATCH (n:CODE_REPO {org_id: $org_id}) RETURN count(n) AS n`
	cypherCountOrgFiles   = `MATCH (n:CODE_FILE {org_id: $org_id}) RETURN count(n) AS n`
	cypherCountOrgSymbols = `MATCH (n:CODE_SYMBOL {org_id: $org_id}) RETURN count(n) AS n`
	cypherCountOrgEdges   = `MATCH (n:CODE_REPO|CODE_FILE|CODE_SYMBOL {org_id: $org_id})-[r]-() RETURN count(DISTINCT r) AS n`

	cypherEraseOrgEdges = `MATCH (n:CODE_REPO|CODE_FILE|CODE_SYMBOL {org_id: $org_id})-[r]-()
WITH DISTINCT r LIMIT $limit
DELETE r
RETURN count(r) AS n`

	cypherEraseOrgNodes = `MATCH (n:CODE_REPO|CODE_FILE|CODE_SYMBOL {org_id: $org_id})
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(n) AS n`

	cypherListOrgs = `MATCH (n:CODE_REPO|CODE_FILE|CODE_SYMBOL)
RETURN DISTINCT n.org_id AS org`
)

// TenantStoreName names this store in lifecycle jobs and audits.
const TenantStoreName = "neo4j"

// Name names the store in lifecycle jobs.
func (b *CodeGraphBackend) Name() string { return TenantStoreName }

// Count returns the organisation's repos, files, symbols and edges.
func (b *CodeGraphBackend) Count(ctx context.Context, org uuid.UUID) (map[string]int64, error) {
	out := map[string]int64{}
	for _, c := range []struct{ kind, cypher string }{
		{"repos", cypherCountOrgRepos}, {"files", cypherCountOrgFiles}, {"symbols", cypherCountOrgSymbols}, {"edges", cypherCountOrgEdges},
	} {
		recs, err := b.query(ctx, neo4j.AccessModeRead, c.cypher, map[string]any{"org_id": org.String()})
		if err != nil {
			return nil, err
		}
		out[c.kind] = int64(recordInt(recs[0], "n"))
	}
	return out, nil
}

// EraseBatch deletes up to batch of the organisation's relationships, or,
// once none is left, up to batch of its nodes.
func (b *CodeGraphBackend) EraseBatch(ctx context.Context, org uuid.UUID, batch int) (map[string]int64, bool, error) {
	params := map[string]any{"org_id": org.String(), "limit": int64(batch)}
	for _, step := range []struct{ kind, cypher string }{{"edges", cypherEraseOrgEdges}, {"nodes", cypherEraseOrgNodes}} {
		recs, err := b.query(ctx, neo4j.AccessModeWrite, step.cypher, params)
		if err != nil {
			return nil, false, err
		}
		if n := int64(recordInt(recs[0], "n")); n > 0 {
			return map[string]int64{step.kind: n}, false, nil
		}
	}
	return map[string]int64{}, true, nil
}

// Orgs lists the organisations that hold nodes.
func (b *CodeGraphBackend) Orgs(ctx context.Context) ([]uuid.UUID, error) {
	recs, err := b.query(ctx, neo4j.AccessModeRead, cypherListOrgs, nil)
	if err != nil {
		return nil, err
	}
	out := make([]uuid.UUID, 0, len(recs))
	for _, rec := range recs {
		v, _ := rec.Get("org")
		s, _ := v.(string)
		id, err := uuid.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("a code-graph node has org_id %q", s)
		}
		out = append(out, id)
	}
	return out, nil
}
