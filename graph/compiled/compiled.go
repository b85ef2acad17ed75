// Package compiled executes the hot query shapes without gqlgen's executor:
// a plan computed once per document (after gqlgen parsed and validated it)
// calls the same resolvers and loaders gqlgen's generated code calls, and
// writes the JSON gqlgen would write, field by field, with gqlgen's own
// marshallers. On a page of memories gqlgen's machinery (a field context,
// resolver and middleware closures and a boxed value per field, a field set
// per object) costs more CPU than the stores; the plan has none of it.
//
// Only what the planner can prove it answers exactly is compiled: a query
// whose one root field is `memories(first:, after:)` selecting, with plain
// fields (no directives, no fragments, no repeated response keys), the
// connection's nodes, edges, pageInfo and totalCount, and on Memory its
// stored fields, id, app and categories. Every other document goes to
// gqlgen. A compiled document whose execution meets anything but the happy
// path (an argument that does not coerce, a resolver error or panic, a null
// in a non-null field, a page whose loaders were not primed) is executed
// again by gqlgen, which gives the error, nulls and paths it always gave:
// the fields compiled are reads, so running them twice changes nothing. The
// request pipeline around execution (authentication, tenancy, limits, cost,
// rate limits, persisted documents) is untouched: this is an
// ExecutableSchema whose Exec picks the executor.
package compiled

import (
	"bytes"
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/codingbrain/gateway/graph/generated"
	"github.com/codingbrain/gateway/graph/loaders"
	"github.com/codingbrain/gateway/graph/model"
	"github.com/codingbrain/gateway/stores"
)

// Schema is gqlgen's executable schema with compiled execution of the
// documents the planner accepts.
type Schema struct {
	graphql.ExecutableSchema
	resolvers generated.ResolverRoot
	// plans caches the plan of each document and operation, nil for one
	// that is not compiled: planning reads the document once.
	plans graphql.Cache[*plan]
}

// New wraps gqlgen's executable schema over resolvers (the same ones).
func New(gqlgen graphql.ExecutableSchema, resolvers generated.ResolverRoot) *Schema {
	return &Schema{ExecutableSchema: gqlgen, resolvers: resolvers, plans: lru.New[*plan](1000)}
}

// Exec runs the operation of ctx through its plan, or through gqlgen when
// it has none or the plan cannot answer it exactly.
func (s *Schema) Exec(ctx context.Context) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	p := s.plan(ctx, oc)
	if p == nil {
		return s.ExecutableSchema.Exec(ctx)
	}
	var fallback graphql.ResponseHandler
	return func(ctx context.Context) *graphql.Response {
		if fallback != nil {
			return fallback(ctx)
		}
		if data, ok := s.run(ctx, oc, p); ok {
			fallback = func(context.Context) *graphql.Response { return nil }
			return &graphql.Response{Data: data}
		}
		fallback = s.ExecutableSchema.Exec(ctx)
		return fallback(ctx)
	}
}

func (s *Schema) plan(ctx context.Context, oc *graphql.OperationContext) *plan {
	if oc == nil || oc.Operation == nil {
		return nil
	}
	// Plans are cached by document text, so only the document's own
	// operation may use one: a root selection the transport split off for
	// @defer (a copy of the operation with another selection set, same
	// text) always goes to gqlgen.
	if oc.Doc == nil || oc.Doc.Operations.ForName(oc.OperationName) != oc.Operation {
		return nil
	}
	key := oc.OperationName + "\x00" + oc.RawQuery
	if p, ok := s.plans.Get(ctx, key); ok {
		return p
	}
	p := compile(oc.Operation)
	s.plans.Add(ctx, key, p)
	return p
}

// run executes p; ok is false when gqlgen must answer instead. A panic is
// gqlgen's to report too.
func (s *Schema) run(ctx context.Context, oc *graphql.OperationContext, p *plan) (data []byte, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			data, ok = nil, false
		}
	}()
	args := p.root.ArgumentMap(oc.Variables)
	var first *int
	if v, present := args["first"]; present && v != nil {
		n, err := graphql.UnmarshalInt(v)
		if err != nil {
			return nil, false
		}
		first = &n
	}
	var after *string
	if v, present := args["after"]; present && v != nil {
		a, err := graphql.UnmarshalString(v)
		if err != nil {
			return nil, false
		}
		after = &a
	}
	// The field context gqlgen gives the root resolver: the memories
	// resolver reads the selection from it (to prime the loaders).
	fc := &graphql.FieldContext{
		Object:     "Query",
		Field:      graphql.CollectedField{Field: p.root, Selections: p.root.SelectionSet},
		Args:       map[string]any{"first": first, "after": after, "filter": (*model.MemoryFilter)(nil)},
		IsMethod:   true,
		IsResolver: true,
	}
	conn, err := s.resolvers.Query().Memories(graphql.WithFieldContext(ctx, fc), first, after, nil)
	if err != nil {
		return nil, false
	}
	// As large as the plan's last response: a page grows its buffer once.
	w := writer{ctx: ctx, r: s.resolvers, buf: bytes.NewBuffer(make([]byte, 0, max(p.size.Load(), 512))),
		memories: s.resolvers.Memory(), apps: s.resolvers.App(), categories: s.resolvers.Category()}
	w.buf.WriteByte('{')
	w.buf.Write(p.key)
	if conn == nil || !w.connection(p.fields, conn) {
		return nil, false // null is gqlgen's to write, with its error if any
	}
	w.buf.WriteByte('}')
	p.size.Store(int64(w.buf.Len()))
	return w.buf.Bytes(), true
}

// writer writes one response; each method reports false when the plan
// cannot answer exactly.
type writer struct {
	ctx context.Context
	r   generated.ResolverRoot
	buf *bytes.Buffer
	// The type resolvers, made once per response rather than per object.
	memories   generated.MemoryResolver
	apps       generated.AppResolver
	categories generated.CategoryResolver
}

// str writes s quoted exactly as graphql.MarshalString does (its bytes
// below 0x20, `\` and `"` escaped, \t \r \n by name, the rest as
// \u00XX; everything else, invalid UTF-8 included, as it is), a run of
// plain bytes at a time instead of one io.Writer call per piece: the
// characters it escapes are ASCII, never part of a multi-byte sequence.
func (w *writer) str(s string) {
	w.buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '\\' && c != '"' {
			continue
		}
		w.buf.WriteString(s[start:i])
		switch c {
		case '\t':
			w.buf.WriteString(`\t`)
		case '\r':
			w.buf.WriteString(`\r`)
		case '\n':
			w.buf.WriteString(`\n`)
		case '\\':
			w.buf.WriteString(`\\`)
		case '"':
			w.buf.WriteString(`\"`)
		default:
			w.buf.WriteString(`\u00`)
			w.buf.WriteByte(hexDigits[c>>4])
			w.buf.WriteByte(hexDigits[c&0xf])
		}
		start = i + 1
	}
	w.buf.WriteString(s[start:])
	w.buf.WriteByte('"')
}

// hexDigits are graphql.MarshalString's (upper case).
const hexDigits = "0123456789ABCDEF"

// time writes a non-null DateTime as graphql.MarshalTime does (quoted
// RFC 3339 with nanoseconds, nothing in it to escape) without its closure
// on the heap; a zero time is null with an error in gqlgen, so not here.
func (w *writer) time(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	var b [48]byte
	out := append(b[:0], '"')
	out = t.AppendFormat(out, time.RFC3339Nano)
	w.buf.Write(append(out, '"'))
	return true
}

func (w *writer) object(fields []field, each func(f *field) bool) bool {
	w.buf.WriteByte('{')
	for i := range fields {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		f := &fields[i]
		w.buf.Write(f.key)
		if f.kind == kindTypename {
			w.str(f.typename)
			continue
		}
		if !each(f) {
			return false
		}
	}
	w.buf.WriteByte('}')
	return true
}

func (w *writer) connection(fields []field, c *model.MemoryConnection) bool {
	return w.object(fields, func(f *field) bool {
		switch f.kind {
		case kindNodes:
			if !w.primed(f.fields, c.Nodes) {
				return false
			}
			w.buf.WriteByte('[')
			for i := range c.Nodes {
				if i > 0 {
					w.buf.WriteByte(',')
				}
				if !w.memory(f.fields, &c.Nodes[i]) {
					return false
				}
			}
			w.buf.WriteByte(']')
		case kindEdges:
			if len(c.Edges) > 0 && !w.primedEdges(f.fields, c.Edges) {
				return false
			}
			w.buf.WriteByte('[')
			for i := range c.Edges {
				if i > 0 {
					w.buf.WriteByte(',')
				}
				e := &c.Edges[i]
				ok := w.object(f.fields, func(f *field) bool {
					if f.kind == kindCursor {
						w.str(e.Cursor)
						return true
					}
					return w.memory(f.fields, &e.Node)
				})
				if !ok {
					return false
				}
			}
			w.buf.WriteByte(']')
		case kindPageInfo:
			return w.object(f.fields, func(f *field) bool {
				switch f.kind {
				case kindHasNextPage:
					graphql.MarshalBoolean(c.PageInfo.HasNextPage).MarshalGQL(w.buf)
				case kindHasPreviousPage:
					graphql.MarshalBoolean(c.PageInfo.HasPreviousPage).MarshalGQL(w.buf)
				case kindStartCursor:
					w.optionalString(c.PageInfo.StartCursor)
				case kindEndCursor:
					w.optionalString(c.PageInfo.EndCursor)
				}
				return true
			})
		case kindTotalCount:
			n, err := w.r.MemoryConnection().TotalCount(w.ctx, c)
			if err != nil {
				return false
			}
			graphql.MarshalInt(n).MarshalGQL(w.buf)
		}
		return true
	})
}

func (w *writer) optionalString(s *string) {
	if s == nil {
		w.buf.WriteString("null")
		return
	}
	w.str(*s)
}

// primed reports whether the page's app and categories, when selected,
// are in the loaders already (the memories resolver primed them): loading
// them one memory after the other would wait once per memory.
func (w *writer) primed(memoryFields []field, nodes []stores.Memory) bool {
	if len(nodes) == 0 || !loads(memoryFields) {
		return true
	}
	l := loaders.For(w.ctx)
	return l != nil && l.Primed(&nodes[0])
}

func (w *writer) primedEdges(edgeFields []field, edges []model.MemoryEdge) bool {
	for _, f := range edgeFields {
		if f.kind == kindNode && loads(f.fields) {
			l := loaders.For(w.ctx)
			return l != nil && l.Primed(&edges[0])
		}
	}
	return true
}

func loads(memoryFields []field) bool {
	for _, f := range memoryFields {
		if f.kind == kindApp || f.kind == kindCategories {
			return true
		}
	}
	return false
}

func (w *writer) memory(fields []field, m *stores.Memory) bool {
	return w.object(fields, func(f *field) bool {
		switch f.kind {
		case kindMemoryID:
			id, err := w.memories.ID(w.ctx, m)
			if err != nil {
				return false
			}
			w.str(id)
		case kindContent:
			w.str(m.Content)
		case kindState:
			w.str(string(m.State))
		case kindVisibility:
			w.str(string(m.Visibility))
		case kindVersion:
			graphql.MarshalInt64(m.Version).MarshalGQL(w.buf)
		case kindCreatedAt:
			return w.time(m.CreatedAt)
		case kindUpdatedAt:
			return w.time(m.UpdatedAt)
		case kindDeletedAt:
			if m.DeletedAt == nil {
				w.buf.WriteString("null")
				return true
			}
			return w.time(*m.DeletedAt)
		case kindApp:
			a, err := w.memories.App(w.ctx, m)
			if err != nil {
				return false
			}
			if a == nil {
				w.buf.WriteString("null")
				return true
			}
			return w.app(f.fields, a)
		case kindCategories:
			cs, err := w.memories.Categories(w.ctx, m)
			if err != nil || cs == nil {
				return false
			}
			w.buf.WriteByte('[')
			for i := range cs {
				if i > 0 {
					w.buf.WriteByte(',')
				}
				if !w.category(f.fields, &cs[i]) {
					return false
				}
			}
			w.buf.WriteByte(']')
		}
		return true
	})
}

func (w *writer) app(fields []field, a *stores.App) bool {
	return w.object(fields, func(f *field) bool {
		switch f.kind {
		case kindAppID:
			id, err := w.apps.ID(w.ctx, a)
			if err != nil {
				return false
			}
			w.str(id)
		case kindName:
			w.str(a.Name)
		case kindDescription:
			w.str(a.Description)
		case kindCreatedAt:
			return w.time(a.CreatedAt)
		}
		return true
	})
}

func (w *writer) category(fields []field, c *stores.Category) bool {
	return w.object(fields, func(f *field) bool {
		switch f.kind {
		case kindCategoryID:
			id, err := w.categories.ID(w.ctx, c)
			if err != nil {
				return false
			}
			w.str(id)
		case kindName:
			w.str(c.Name)
		case kindCreatedAt:
			return w.time(c.CreatedAt)
		}
		return true
	})
}
