package main

import (
	"encoding/json"
	"fmt"

	"github.com/codingbrain/gateway/graph/relay"
)

// scenarioNames in the order they run and print.
var scenarioNames = []string{"memories20", "memories100", "fanout", "recall", "writes"}

// request builds the body of the i-th request of a worker for a tenant; path
// is relative to the system's base URL.
type request func(worker, i int, t *tenant) (path string, body []byte)

// scenario is one workload and the systems that serve it.
type scenario struct {
	name, title string
	gateway     request
	direct      request // nil: no direct path
	peer        request // nil: the peer does not serve it
	// singles are the fan-out's root fields alone, one store each.
	singles []single
}

type single struct {
	store string
	req   request
}

func gqlBody(query string, vars map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		panic(err)
	}
	return b
}

func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

const (
	memoriesQuery = `query Memories($first: Int!) { memories(first: $first) { nodes { id content state version createdAt app { name } categories { name } } } }`
	// The same selection on PostGraphile's amber schema: the page in the
	// gateway's order, the app through the composite foreign key, the
	// categories through the junction table (amber has no many-to-many).
	peerMemoriesQuery = `query Memories($first: Int!) { allMemories(first: $first, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { nodes { rowId content state version createdAt appByOrgIdAndAppId { name } memoryCategoriesByOrgIdAndMemoryId { nodes { categoryByOrgIdAndCategoryId { name } } } } } }`

	fanoutMemories = `memories(first: 20) { nodes { id content app { name } categories { name } } }`
	fanoutEpisodic = `episodicSession(id: $session) { id items(halfLifeSeconds: 900) { id content score } }`
	fanoutCode     = `codeSymbols(first: 10, filter: {name: $symbol}) { nodes { name dependencies(depth: 2) { depth symbol { name } } } }`
	fanoutVectors  = `vectorSearch(model: "` + vectorModel + `", vector: $vector, first: 10) { pointId score }`
	fanoutSearch   = `search(text: $text, first: 10) { nodes { score document { id title } } }`

	recallQuery = `query Recall($text: String!, $vector: [Float!]!, $session: String!) {
  recall(text: $text, vector: $vector, model: "` + vectorModel + `", sessionId: $session, first: 20) {
    hits { score fullTextRank vectorRank sessionBoost memory { id content app { name } } }
    sources { name status hitCount }
    weights { variantKey }
  }
}`

	createMemoryMutation = `mutation W($app: ID!, $content: String!, $cats: [String!]) { createMemory(input: {appId: $app, content: $content, categories: $cats}) { memory { id version } } }`
	feedbackMutation     = `mutation W($q: String!, $m: ID!, $tool: String!, $outcome: FeedbackOutcome!) { recordFeedback(input: {queryId: $q, memoryId: $m, tool: $tool, queryType: "recall", outcome: $outcome}) { event { id } } }`
	episodeMutation      = `mutation W($s: String!, $m: ID!, $content: String!) { putEpisodicItem(input: {sessionId: $s, memoryId: $m, content: $content, ttlSeconds: 600}) { item { id } } }`
)

// Variables of the fan-out's parts, per request.
func fanoutVars(i int, parts ...string) map[string]any {
	all := map[string]any{
		"session": fmt.Sprintf("s%d", i%sessionsPerOrg),
		"symbol":  verbs[i%len(verbs)],
		"vector":  queryVector(i % 64),
		"text":    queryText(i),
	}
	needs := map[string][]string{fanoutEpisodic: {"session"}, fanoutCode: {"symbol"}, fanoutVectors: {"vector"}, fanoutSearch: {"text"}}
	vars := map[string]any{}
	for _, p := range parts {
		for _, k := range needs[p] {
			vars[k] = all[k]
		}
	}
	return vars
}

var varTypes = map[string]string{"session": "String!", "symbol": "String!", "vector": "[Float!]!", "text": "String!"}

// fanoutQuery is an operation selecting the given root fields.
func fanoutQuery(name string, parts ...string) string {
	vars := fanoutVars(0, parts...)
	decl := ""
	for _, k := range []string{"session", "symbol", "vector", "text"} {
		if _, ok := vars[k]; ok {
			if decl != "" {
				decl += ", "
			}
			decl += "$" + k + ": " + varTypes[k]
		}
	}
	q := "query " + name
	if decl != "" {
		q += "(" + decl + ")"
	}
	q += " {"
	for _, p := range parts {
		q += " " + p
	}
	return q + " }"
}

// memoryCount is the seeded memories per tenant (set from the flag).
var memoryCount = 20000

// writeRun tells the runs of the write mix apart, so that each run puts its
// episodic items into sessions of its own (a session holds at most
// stores.MaxSessionItems items); run sets it before every run.
var writeRun int64

// writeSession is the session of a worker's i-th put: at most 300 puts each.
func writeSession(w, i int) string { return fmt.Sprintf("bench-r%d-w%d-%d", writeRun, w, i/900) }

func scenarios() []scenario {
	memories := func(first int) scenario {
		return scenario{
			name:  fmt.Sprintf("memories%d", first),
			title: fmt.Sprintf("memories(first: %d) { app categories }", first),
			gateway: func(_, _ int, _ *tenant) (string, []byte) {
				return "/graphql", gqlBody(memoriesQuery, map[string]any{"first": first})
			},
			direct: func(_, _ int, _ *tenant) (string, []byte) {
				return "/memories", jsonBody(directRequest{First: first})
			},
			peer: func(_, _ int, _ *tenant) (string, []byte) {
				return "/graphql", gqlBody(peerMemoriesQuery, map[string]any{"first": first})
			},
		}
	}
	all := []string{fanoutMemories, fanoutEpisodic, fanoutCode, fanoutVectors, fanoutSearch}
	fanout := scenario{
		name:  "fanout",
		title: "fan-out: memories + episodicSession + codeSymbols + vectorSearch + search",
		gateway: func(_, i int, _ *tenant) (string, []byte) {
			return "/graphql", gqlBody(fanoutQuery("FanOut", all...), fanoutVars(i, all...))
		},
		direct: func(_, i int, _ *tenant) (string, []byte) {
			return "/fanout", jsonBody(directRequest{Session: fmt.Sprintf("s%d", i%sessionsPerOrg), Symbol: verbs[i%len(verbs)], Vector: queryVector(i % 64), Text: queryText(i)})
		},
	}
	for _, s := range []struct{ store, part string }{
		{"postgres", fanoutMemories}, {"valkey", fanoutEpisodic}, {"neo4j", fanoutCode}, {"qdrant", fanoutVectors}, {"opensearch", fanoutSearch},
	} {
		fanout.singles = append(fanout.singles, single{store: s.store, req: func(_, i int, _ *tenant) (string, []byte) {
			return "/graphql", gqlBody(fanoutQuery("Single", s.part), fanoutVars(i, s.part))
		}})
	}
	recall := scenario{
		name:  "recall",
		title: "recall(first: 20): OpenSearch + Qdrant + Valkey + experiment + hydration",
		gateway: func(_, i int, _ *tenant) (string, []byte) {
			return "/graphql", gqlBody(recallQuery, map[string]any{"text": queryText(i), "vector": queryVector(i % 64), "session": fmt.Sprintf("s%d", i%sessionsPerOrg)})
		},
	}
	writes := scenario{
		name:  "writes",
		title: "write mix: createMemory, recordFeedback, putEpisodicItem (1:1:1)",
		gateway: func(w, i int, t *tenant) (string, []byte) {
			seq := w*1_000_000 + i
			mem := t.memoryID((seq * 7919) % memoryCount)
			switch i % 3 {
			case 0:
				return "/graphql", gqlBody(createMemoryMutation, map[string]any{"app": relay.UUIDID(relay.KindApp, t.apps[seq%appsPerTenant]),
					"content": "written by the benchmark: " + memoryContent(t.n, seq%memoryCount), "cats": writeCategories(seq)})
			case 1:
				return "/graphql", gqlBody(feedbackMutation, map[string]any{"q": fmt.Sprintf("bench-%d", seq), "m": relay.UUIDID(relay.KindMemory, mem),
					"tool": tools[seq%len(tools)], "outcome": string(outcomes[seq%len(outcomes)])})
			default:
				return "/graphql", gqlBody(episodeMutation, map[string]any{"s": writeSession(w, i), "m": relay.UUIDID(relay.KindMemory, mem),
					"content": fmt.Sprintf("opened file %d", seq)})
			}
		},
		direct: func(w, i int, t *tenant) (string, []byte) {
			seq := w*1_000_000 + i
			mem := t.memoryID((seq * 7919) % memoryCount)
			op := []string{"memory", "feedback", "episode"}[i%3]
			return "/write", jsonBody(directRequest{Op: op, Seq: seq, AppID: t.apps[seq%appsPerTenant], Memory: mem,
				Session: writeSession(w, i), Content: map[string]string{
					"memory": "written by the benchmark: " + memoryContent(t.n, seq%memoryCount), "episode": fmt.Sprintf("opened file %d", seq),
				}[op]})
		},
	}
	return []scenario{memories(20), memories(100), fanout, recall, writes}
}
