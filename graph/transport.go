package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// This file speaks GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/)
// for plain requests: it negotiates the response's media type from Accept,
// decodes the request's parameters strictly, and answers request errors with
// the status codes the spec gives each media type. Streams (WebSocket, SSE)
// are gqlgen's transports; this file only decides when a request is one.

// format is the media type of a response.
type format int

const (
	formatNone            format = iota
	formatGraphQLResponse        // application/graphql-response+json: the spec's own type, status codes carry request errors
	formatJSON                   // application/json: the legacy type, every well-formed request answers 200
	formatMultipart              // multipart/mixed: incremental delivery (@defer)
	formatEventStream            // text/event-stream: graphql-sse, for subscriptions
)

const (
	mediaGraphQLResponse = "application/graphql-response+json"
	mediaJSON            = "application/json"
	mediaMultipart       = "multipart/mixed"
	mediaEventStream     = "text/event-stream"
)

func (f format) contentType() string {
	switch f {
	case formatJSON:
		return mediaJSON + "; charset=utf-8"
	case formatEventStream:
		return mediaEventStream
	default:
		return mediaGraphQLResponse + "; charset=utf-8"
	}
}

// negotiation is what a request's Accept allows.
type negotiation struct {
	// best is the supported media type the client prefers most
	// (formatNone: it accepts nothing we can send).
	best format
	// document is the preferred of the two single-document types (GraphQL
	// response JSON or JSON), formatNone when the client accepts neither.
	document format
	// multipart tells whether the client accepts incremental delivery.
	multipart bool
}

// errorFormat is the type request errors are written in: a client that
// accepts no JSON type at all still gets a readable JSON body.
func (n negotiation) errorFormat() format {
	if n.document == formatNone {
		return formatJSON
	}
	return n.document
}

type acceptEntry struct {
	mediaType string
	q         float64
}

// negotiate reads an Accept header: entries by quality (ties keep the
// client's order), the first one we support wins. A missing Accept, */* and
// application/* mean application/json, which every client reads (as the
// spec and graphql-http's audits ask).
func negotiate(accept string) negotiation {
	if strings.TrimSpace(accept) == "" {
		return negotiation{best: formatJSON, document: formatJSON}
	}
	var entries []acceptEntry
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if parsed, err := strconv.ParseFloat(v, 64); err == nil {
				q = parsed
			}
		}
		if q > 0 {
			entries = append(entries, acceptEntry{mediaType: mt, q: q})
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].q > entries[j].q })
	var n negotiation
	for _, e := range entries {
		var f format
		switch e.mediaType {
		case mediaGraphQLResponse:
			f = formatGraphQLResponse
		case mediaJSON, "application/*", "*/*":
			f = formatJSON
		case mediaMultipart, "multipart/*":
			f = formatMultipart
			n.multipart = true
		case mediaEventStream, "text/*":
			f = formatEventStream
		default:
			continue
		}
		if n.best == formatNone {
			n.best = f
		}
		if n.document == formatNone && (f == formatGraphQLResponse || f == formatJSON) {
			n.document = f
		}
	}
	return n
}

type negotiationKey struct{}

func negotiationFrom(ctx context.Context) negotiation {
	if n, ok := ctx.Value(negotiationKey{}).(negotiation); ok {
		return n
	}
	return negotiation{best: formatJSON, document: formatJSON}
}

// paramsError is a request whose parameters could not be read: a body
// that is no JSON object or is too large (an HTTP error: its status under
// every media type), or parameters of the wrong type (a GraphQL request
// error: see requestStatus).
type paramsError struct {
	status    int
	message   string
	malformed bool // the body itself is unusable
}

// write answers the error.
func (e *paramsError) write(w http.ResponseWriter, r *http.Request) {
	status := e.status
	if !e.malformed {
		status = requestStatus(r, status)
	}
	writeError(w, r, status, e.message, CodeBadUserInput)
}

// requestStatus is the status of a GraphQL request error (wrong parameters,
// a parse or validation error, a limit) for the client's media type:
// status under application/graphql-response+json, 200 under
// application/json, where the spec has every well-formed request answer 200.
func requestStatus(r *http.Request, status int) int {
	if negotiationFrom(r.Context()).errorFormat() == formatJSON {
		return http.StatusOK
	}
	return status
}

// errorResponse is a response without a data entry: request errors never
// started execution, so the spec wants data absent, not null.
type errorResponse struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// writeRequestErrors answers errors found before execution in the media type
// the client negotiated.
func writeRequestErrors(w http.ResponseWriter, r *http.Request, status int, errs gqlerror.List) {
	f := negotiationFrom(r.Context()).errorFormat()
	w.Header().Set("Content-Type", f.contentType())
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="codingbrain"`)
	}
	w.WriteHeader(status)
	body, err := json.Marshal(errorResponse{Errors: errs})
	if err != nil {
		body = []byte(`{"errors":[{"message":"the error could not be encoded","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`)
	}
	_, _ = w.Write(body)
}

// writeError answers one request error before the executor runs.
func writeError(w http.ResponseWriter, r *http.Request, status int, message, code string) {
	writeRequestErrors(w, r, status, gqlerror.List{{Message: message, Extensions: map[string]any{"code": code}}})
}

// Methods the GraphQL endpoint answers.
const allowedMethods = "GET, POST, OPTIONS"

// negotiateHTTP is the front of the GraphQL endpoint for everything but
// WebSocket upgrades: it refuses methods and request media types the spec
// does not allow, picks the response's media type, and tells the streaming
// transports apart from plain requests by that choice alone, so a client that
// lists text/event-stream after JSON (urql's default) gets plain JSON.
func negotiateHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebsocket(r) {
			next.ServeHTTP(w, r)
			return
		}
		n := negotiate(r.Header.Get("Accept"))
		r = r.WithContext(context.WithValue(r.Context(), negotiationKey{}, n))
		switch r.Method {
		case http.MethodGet, http.MethodOptions:
		case http.MethodPost:
			if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
				writeError(w, r, http.StatusUnsupportedMediaType, err.Error(), CodeBadUserInput)
				return
			}
		default:
			w.Header().Set("Allow", allowedMethods)
			writeError(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed: use POST (or GET for queries)", r.Method), CodeBadUserInput)
			return
		}
		if n.best == formatNone {
			writeError(w, r, http.StatusNotAcceptable, "the Accept header names no media type this endpoint sends: accept application/graphql-response+json or application/json", CodeBadUserInput)
			return
		}
		// The streaming transports look at Accept; from here on it says
		// exactly what was chosen, so nothing else can claim the request.
		r.Header = r.Header.Clone()
		if n.best == formatEventStream && r.Method == http.MethodPost {
			r.Header.Set("Accept", mediaEventStream)
			r = r.WithContext(context.WithValue(r.Context(), streamingKey{}, true))
		} else {
			if n.document == formatNone && !n.multipart {
				writeError(w, r, http.StatusNotAcceptable, "server-sent events are for subscriptions over POST; accept application/graphql-response+json or application/json for this request", CodeBadUserInput)
				return
			}
			r.Header.Set("Accept", n.errorFormat().contentType())
		}
		next.ServeHTTP(w, r)
	})
}

// checkContentType accepts JSON in UTF-8, the one request body the spec requires.
func checkContentType(header string) error {
	if header == "" {
		return fmt.Errorf("a POST needs Content-Type: application/json")
	}
	mt, params, err := mime.ParseMediaType(header)
	if err != nil || mt != mediaJSON {
		return fmt.Errorf("Content-Type %q is not supported: send application/json", header)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("charset %q is not supported: send UTF-8", cs)
	}
	return nil
}

// readParams decodes a plain request's GraphQL parameters: the JSON body of
// a POST, the URL of a GET. Each parameter must have its spec'd JSON type;
// anything else is a request error.
func readParams(r *http.Request) (*graphql.RawParams, *paramsError) {
	p := &graphql.RawParams{Headers: r.Header}
	bad := func(format string, args ...any) (*graphql.RawParams, *paramsError) {
		return nil, &paramsError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
	}
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		p.Query, p.OperationName = q.Get("query"), q.Get("operationName")
		for name, into := range map[string]*map[string]any{"variables": &p.Variables, "extensions": &p.Extensions} {
			if raw := q.Get(name); raw != "" {
				if err := decodeObject([]byte(raw), into); err != nil {
					return bad("the %s parameter must be a JSON object: %v", name, err)
				}
			}
		}
		return p, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if isBodyTooLarge(err) {
			return nil, &paramsError{status: http.StatusRequestEntityTooLarge, message: "the request body is too large", malformed: true}
		}
		return bad("the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return bad("the request body is empty: send a JSON object with a query")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, &paramsError{status: http.StatusBadRequest, message: fmt.Sprintf("the request body is not a JSON object: %v", err), malformed: true}
	}
	for name, into := range map[string]*string{"query": &p.Query, "operationName": &p.OperationName} {
		if raw, ok := fields[name]; ok && !isNull(raw) {
			if err := json.Unmarshal(raw, into); err != nil {
				return bad("the %s parameter must be a string", name)
			}
		}
	}
	for name, into := range map[string]*map[string]any{"variables": &p.Variables, "extensions": &p.Extensions} {
		if raw, ok := fields[name]; ok && !isNull(raw) {
			if err := decodeObject(raw, into); err != nil {
				return bad("the %s parameter must be a JSON object", name)
			}
		}
	}
	return p, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// decodeObject decodes a JSON object with numbers kept exact (gqlgen coerces
// json.Number to the argument's type).
func decodeObject(raw []byte, into *map[string]any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return fmt.Errorf("not an object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(into)
}

type paramsKey struct{}

// withParams keeps a plain request's decoded parameters for the transport,
// so that the body is read and decoded once.
func withParams(r *http.Request, p *graphql.RawParams) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), paramsKey{}, p))
}

// plainTransport executes plain GET and POST requests: one JSON document, or
// multipart/mixed parts when the operation defers fragments and the client
// accepts incremental delivery.
type plainTransport struct{ log *slog.Logger }

var _ graphql.Transport = plainTransport{}

func (plainTransport) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet || r.Method == http.MethodPost
}

func (t plainTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	params, _ := ctx.Value(paramsKey{}).(*graphql.RawParams)
	if params == nil {
		var perr *paramsError
		if params, perr = readParams(r); perr != nil {
			perr.write(w, r)
			return
		}
	}
	start := graphql.Now()
	params.ReadTime = graphql.TraceTiming{Start: start, End: start}
	oc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs)
		writeRequestErrors(w, r, statusOf(r, resp.Errors), resp.Errors)
		return
	}
	if r.Method == http.MethodGet && oc.Operation.Operation != ast.Query {
		w.Header().Set("Allow", "POST")
		writeError(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("a %s must be sent with POST", oc.Operation.Operation), CodeBadUserInput)
		return
	}
	n := negotiationFrom(ctx)
	incremental := usesIncremental(oc.Doc, oc.Operation)
	if incremental && !n.multipart {
		writeError(w, r, http.StatusNotAcceptable, "this operation uses @defer or @stream: send Accept: multipart/mixed to receive its parts", CodeBadUserInput)
		return
	}
	if !incremental && n.document != formatNone {
		responses, ctx := exec.DispatchOperation(ctx, oc)
		w.Header().Set("Content-Type", n.document.contentType())
		t.writeJSON(ctx, w, responses(ctx))
		return
	}
	plan, err := planStreams(oc.Doc, oc.Operation.SelectionSet, oc.Variables)
	if err != nil {
		writeError(w, r, requestStatus(r, http.StatusBadRequest), err.Error(), CodeBadUserInput)
		return
	}
	t.writeMultipart(ctx, w, dispatchIncremental(ctx, exec, oc, plan))
}

// part is one payload of an incremental response, from one of the
// executions an operation was split into.
type part struct {
	resp *graphql.Response // nil when the execution ended without one (a cancelled request)
	// items, when set, is a streamed list's remaining items (resp is nil).
	items *streamedItems
	// initial marks the payload every other part follows.
	initial bool
	// last marks the final payload of its execution.
	last bool
}

// dispatchIncremental runs an operation whose client takes incremental
// delivery. gqlgen defers fragments below the root itself, but runs root
// fields (recall, search, vectorSearch: the slow ones) together; so the
// root selection is split here: the fields not deferred make the initial
// payload, and each fragment deferred at the root runs as its own execution
// of the same operation, at once and concurrently, its result sent as an
// incremental payload at the root path when it is ready. Every execution
// shares the request's loaders and limits (measured on the whole document).
//
// Lists under @stream are cut by plan in each payload, their remaining
// items sent right after it.
func dispatchIncremental(ctx context.Context, exec graphql.GraphExecutor, oc *graphql.OperationContext, plan streamPlan) <-chan part {
	initial, deferred := splitRootDefers(oc)
	parts := make(chan part, len(deferred)+1)
	run := func(set ast.SelectionSet, label string, initial bool) {
		responses, ctx := exec.DispatchOperation(ctx, withSelection(oc, set))
		for {
			resp := responses(ctx)
			if resp == nil {
				parts <- part{initial: initial, last: true}
				return
			}
			last := resp.HasNext == nil || !*resp.HasNext
			if !initial && resp.Path == nil {
				// A fragment deferred at the root: its data goes at the root.
				resp.Path, resp.Label = ast.Path{}, label
			}
			var streamed []streamedItems
			if data, cut, err := splitStreams(resp.Data, resp.Path, plan.at(resp.Path), !initial); err == nil {
				resp.Data, streamed = data, cut
			}
			parts <- part{resp: resp, initial: initial, last: last && len(streamed) == 0}
			for i := range streamed {
				parts <- part{items: &streamed[i], last: last && i == len(streamed)-1}
			}
			if last {
				return
			}
			initial = false
		}
	}
	for _, d := range deferred {
		go run(d.set, d.label, false)
	}
	go run(initial, "", true)
	return parts
}

// rootDefer is a fragment deferred at the root of an operation.
type rootDefer struct {
	label string
	set   ast.SelectionSet
}

// splitRootDefers separates the root selections deferred with @defer (and
// no if: false) from the others.
func splitRootDefers(oc *graphql.OperationContext) (initial ast.SelectionSet, deferred []rootDefer) {
	for _, sel := range oc.Operation.SelectionSet {
		var d *ast.Directive
		var set ast.SelectionSet
		switch s := sel.(type) {
		case *ast.InlineFragment:
			d, set = s.Directives.ForName("defer"), s.SelectionSet
		case *ast.FragmentSpread:
			if def := oc.Doc.Fragments.ForName(s.Name); def != nil {
				d, set = s.Directives.ForName("defer"), def.SelectionSet
			}
		}
		if d == nil || d.ArgumentMap(oc.Variables)["if"] == false {
			initial = append(initial, sel)
			continue
		}
		label, _ := d.ArgumentMap(oc.Variables)["label"].(string)
		deferred = append(deferred, rootDefer{label: label, set: set})
	}
	return initial, deferred
}

// withSelection is oc executing another root selection set; the cached
// document is shared, never changed.
func withSelection(oc *graphql.OperationContext, set ast.SelectionSet) *graphql.OperationContext {
	op := *oc.Operation
	op.SelectionSet = set
	return &graphql.OperationContext{
		RawQuery: oc.RawQuery, Variables: oc.Variables, OperationName: oc.OperationName, Doc: oc.Doc,
		Extensions: oc.Extensions, Headers: oc.Headers, Operation: &op,
		DisableIntrospection: oc.DisableIntrospection, RecoverFunc: oc.RecoverFunc,
		ResolverMiddleware: oc.ResolverMiddleware, RootResolverMiddleware: oc.RootResolverMiddleware,
		Stats: oc.Stats,
	}
}

// statusOf is the HTTP status of errors raised before execution: the
// authentication, permission and rate errors keep theirs under every media
// type; the others are GraphQL request errors (requestStatus).
func statusOf(r *http.Request, errs gqlerror.List) int {
	for _, e := range errs {
		switch e.Extensions["code"] {
		case CodeUnauthenticated:
			return http.StatusUnauthorized
		case CodeForbidden:
			return http.StatusForbidden
		case CodeRateLimited:
			return http.StatusTooManyRequests
		case "PERSISTED_QUERY_NOT_FOUND":
			// Clients of Automatic Persisted Queries read this one from a
			// 200 and retry with the text.
			return http.StatusOK
		}
	}
	return requestStatus(r, http.StatusBadRequest)
}

// writeJSON writes one response; a response that cannot be encoded (a bug)
// becomes an internal error instead of a panic in the middle of a write.
func (t plainTransport) writeJSON(ctx context.Context, w io.Writer, resp any) {
	if r, ok := resp.(*graphql.Response); ok {
		if body, ok := encodeData(r); ok {
			_, _ = w.Write(body)
			return
		}
	}
	body, err := json.Marshal(resp)
	if err != nil {
		t.log.ErrorContext(ctx, "response not encodable", "request_id", RequestID(ctx), "error", err.Error())
		body, _ = json.Marshal(errorResponse{Errors: gqlerror.List{{
			Message:    fmt.Sprintf("internal error (request id %s)", RequestID(ctx)),
			Extensions: map[string]any{"code": CodeInternal},
		}}})
	}
	_, _ = w.Write(body)
}

// encodeData encodes a response without errors the way json.Marshal does,
// without json.Marshal's second pass over the data: the executor writes
// its data compact already, so of what json.Marshal does to a RawMessage
// (compacting, escaping <, >, & and U+2028/9) only the escaping is left.
// ok is false for the responses it leaves to json.Marshal.
func encodeData(r *graphql.Response) (body []byte, ok bool) {
	if len(r.Errors) > 0 || r.Label != "" || r.Path != nil || r.HasNext != nil {
		return nil, false
	}
	var buf bytes.Buffer
	buf.Grow(len(r.Data) + 256)
	buf.WriteString(`{"data":`)
	if len(r.Data) == 0 {
		buf.WriteString("null")
	} else {
		json.HTMLEscape(&buf, r.Data)
	}
	if len(r.Extensions) > 0 {
		ext, err := json.Marshal(r.Extensions)
		if err != nil {
			return nil, false
		}
		buf.WriteString(`,"extensions":`)
		buf.Write(ext)
	}
	buf.WriteByte('}')
	return buf.Bytes(), true
}

// multipartBoundary separates the parts of an incremental response ("-", as
// Apollo Client and gqlgen's own transport use).
const multipartBoundary = "-"

// writeMultipart sends the initial payload, then every deferred result in an
// `incremental` list (the format Apollo Client, urql and graphql-http read)
// as soon as it is ready; hasNext tells whether any execution still runs.
func (t plainTransport) writeMultipart(ctx context.Context, w http.ResponseWriter, parts <-chan part) {
	w.Header().Set("Content-Type", `multipart/mixed; boundary="`+multipartBoundary+`"; deferSpec=20220824`)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	running := cap(parts) // executions that may still send a payload
	sentInitial := false
	var held []incrementalResult // deferred results not yet sent (they wait for the initial payload)
	for p := range parts {
		if p.last {
			running--
		}
		hasNext := running > 0
		switch {
		case p.items != nil:
			held = append(held, incrementalResult{Items: p.items.items, Path: p.items.path, Label: p.items.label})
		case p.resp == nil:
		case p.initial:
			p.resp.HasNext = ptr(hasNext || len(held) > 0)
			t.writePart(ctx, w, p.resp)
			sentInitial = true
		default:
			held = append(held, incrementalResult{Data: p.resp.Data, Errors: p.resp.Errors, Path: p.resp.Path, Label: p.resp.Label, Extensions: p.resp.Extensions})
		}
		if sentInitial && len(held) > 0 {
			t.writePart(ctx, w, &incrementalPayload{Incremental: held, HasNext: hasNext})
			held = nil
		}
		_ = rc.Flush()
		if running == 0 {
			break
		}
	}
	_, _ = io.WriteString(w, "\r\n--"+multipartBoundary+"--\r\n")
	_ = rc.Flush()
}

func ptr[T any](v T) *T { return &v }

func (t plainTransport) writePart(ctx context.Context, w io.Writer, payload any) {
	_, _ = io.WriteString(w, "\r\n--"+multipartBoundary+"\r\nContent-Type: application/json; charset=utf-8\r\n\r\n")
	t.writeJSON(ctx, w, payload)
}

// incrementalPayload is a subsequent part of an incremental response.
type incrementalPayload struct {
	Incremental []incrementalResult `json:"incremental"`
	HasNext     bool                `json:"hasNext"`
}

// incrementalResult is one deferred fragment's result; its path is always
// there, [] for a fragment deferred at the root.
type incrementalResult struct {
	Errors     gqlerror.List     `json:"errors,omitempty"`
	Data       json.RawMessage   `json:"data,omitempty"`
	Items      []json.RawMessage `json:"items,omitempty"`
	Path       ast.Path          `json:"path"`
	Label      string            `json:"label,omitempty"`
	Extensions map[string]any    `json:"extensions,omitempty"`
}

// usesIncremental reports whether the operation, through its fragments,
// defers or streams anything. Fragments are visited once each, so a cycle
// cannot loop (the validator refuses cycles anyway).
func usesIncremental(doc *ast.QueryDocument, op *ast.OperationDefinition) bool {
	seen := map[string]bool{}
	var walk func(ast.SelectionSet) bool
	walk = func(set ast.SelectionSet) bool {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if s.Directives.ForName("stream") != nil || walk(s.SelectionSet) {
					return true
				}
			case *ast.InlineFragment:
				if s.Directives.ForName("defer") != nil || walk(s.SelectionSet) {
					return true
				}
			case *ast.FragmentSpread:
				if s.Directives.ForName("defer") != nil {
					return true
				}
				if seen[s.Name] {
					continue
				}
				seen[s.Name] = true
				if def := doc.Fragments.ForName(s.Name); def != nil && walk(def.SelectionSet) {
					return true
				}
			}
		}
		return false
	}
	return walk(op.SelectionSet)
}

// clientAddress is the key of the anonymous rate limit: the peer's IP (a
// proxy in front should set its own limits; X-Forwarded-For is not trusted).
func clientAddress(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}
