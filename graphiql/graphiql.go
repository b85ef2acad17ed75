// Package graphiql serves the GraphiQL IDE from assets embedded in the binary.
//
// Nothing the page loads leaves the host: React, GraphiQL, its explorer plugin
// and their CSS (fonts included, as data: URLs) are vendored in assets/ by
// refresh.sh, and the page's bootstrap script lives in static/. The page is
// sent with a Content-Security-Policy that allows scripts only from the same
// origin and no inline script.
//
// Typical wiring:
//
//	mux.Handle("GET /graphql", graphiql.Page("/graphql", "", ""))
//	mux.Handle(graphiql.AssetPrefix, graphiql.Assets())
package graphiql

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// AssetPrefix is the URL path under which Assets serves its files.
const AssetPrefix = "/graphiql/"

// Title is shown as the page title and as GraphiQL's logo text.
const Title = "codingbrain gateway"

//go:embed assets static
var embedded embed.FS

type asset struct {
	name        string
	data        []byte
	contentType string
	version     string // first 16 hex digits of the sha256 of data

	gzipOnce sync.Once
	gzipData []byte // nil if compressing does not pay
}

var assets = loadAssets()

func loadAssets() map[string]*asset {
	m := make(map[string]*asset)
	for _, dir := range []string{"assets", "static"} {
		entries, err := fs.ReadDir(embedded, dir)
		if err != nil {
			panic(fmt.Sprintf("graphiql: reading embedded %s: %v", dir, err))
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			name := e.Name()
			if _, dup := m[name]; dup {
				panic(fmt.Sprintf("graphiql: asset %q exists in more than one embedded directory", name))
			}
			data, err := embedded.ReadFile(dir + "/" + name)
			if err != nil {
				panic(fmt.Sprintf("graphiql: reading embedded %s/%s: %v", dir, name, err))
			}
			sum := sha256.Sum256(data)
			m[name] = &asset{
				name:        name,
				data:        data,
				contentType: contentTypeOf(name),
				version:     hex.EncodeToString(sum[:])[:16],
			}
		}
	}
	return m
}

func contentTypeOf(name string) string {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".map", ".json":
		return "application/json"
	default: // LICENSE.*, VERSIONS
		return "text/plain; charset=utf-8"
	}
}

// assetURL returns the absolute URL path of a named asset, with a content
// version in the query so that the long-lived cache headers stay correct when
// the assets change.
func assetURL(name string) string {
	a, ok := assets[name]
	if !ok {
		panic(fmt.Sprintf("graphiql: page references missing asset %q", name))
	}
	return AssetPrefix + name + "?v=" + a.version
}

func (a *asset) gzipped() []byte {
	a.gzipOnce.Do(func() {
		if !strings.HasPrefix(a.contentType, "text/") && a.contentType != "application/json" {
			return
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if _, err := zw.Write(a.data); err != nil {
			return // served uncompressed
		}
		if err := zw.Close(); err != nil {
			return
		}
		if buf.Len() < len(a.data)*9/10 {
			a.gzipData = buf.Bytes()
		}
	})
	return a.gzipData
}

// Assets serves the embedded GraphiQL files under AssetPrefix. Mount it with
//
//	mux.Handle(graphiql.AssetPrefix, graphiql.Assets())
//
// (http.StripPrefix in front is fine too). Requests whose ?v= matches the
// file's content version (as the page writes them) get a one-year immutable
// cache lifetime; others are revalidated with ETag. Text files are served
// gzip-compressed to clients that accept it. Unknown names answer 404.
func Assets() http.Handler {
	return http.HandlerFunc(serveAsset)
}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, AssetPrefix), "/")
	a, ok := assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, no-cache")
	}
	data, etag := a.data, `"`+a.version+`"`
	if gz := a.gzipped(); gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			data, etag = gz, `"`+a.version+`-gz"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"asset": assetURL,
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{asset "graphiql.min.css"}}">
<link rel="stylesheet" href="{{asset "plugin-explorer.css"}}">
<link rel="stylesheet" href="{{asset "graphiql-page.css"}}">
</head>
<body>
<div id="graphiql" data-endpoint="{{.Endpoint}}"
{{- with .SubscriptionEndpoint}} data-subscription-endpoint="{{.}}"{{end}}
{{- with .DefaultHeaders}} data-default-headers="{{.}}"{{end}}>Loading GraphiQL…</div>
<script src="{{asset "react.production.min.js"}}"></script>
<script src="{{asset "react-dom.production.min.js"}}"></script>
<script src="{{asset "graphiql.min.js"}}"></script>
<script src="{{asset "plugin-explorer.umd.js"}}"></script>
<script src="{{asset "graphiql-init.js"}}"></script>
</body>
</html>
`))

type pageData struct {
	Title                string
	Endpoint             string
	SubscriptionEndpoint string
	DefaultHeaders       string
}

// Page serves the GraphiQL page at its mount path (GET) and its assets under AssetPrefix.
// endpoint: the GraphQL URL the page posts to (e.g. "/graphql"); subscriptionEndpoint: "" for none
// (a ws URL path like "/graphql/ws", or an absolute ws:// or wss:// URL), defaultHeaders: JSON object
// text put into GraphiQL's header editor ("" for none; used in development to prefill the dev token).
//
// The page itself only references AssetPrefix; mount Assets() there as well.
// The response carries a strict Content-Security-Policy: scripts only from the
// same origin (no inline script, no eval), network connections only to the same
// origin (plus, with a subscription endpoint, websockets to the same host or to
// the given ws URL's host), no frames, no plugins, no embedding in other sites.
func Page(endpoint, subscriptionEndpoint, defaultHeaders string) http.Handler {
	var body bytes.Buffer
	err := pageTemplate.Execute(&body, pageData{
		Title:                Title,
		Endpoint:             endpoint,
		SubscriptionEndpoint: subscriptionEndpoint,
		DefaultHeaders:       defaultHeaders,
	})
	if err != nil {
		panic(fmt.Sprintf("graphiql: rendering page: %v", err))
	}
	html := body.Bytes()
	wsOrigin := subscriptionOrigin(subscriptionEndpoint)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", contentSecurityPolicy(subscriptionEndpoint != "", wsOrigin, r.Host))
		h.Set("Cache-Control", "no-store") // may carry a development token
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Content-Length", fmt.Sprint(len(html)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(html) // an error means the client left; there is no one to tell
		}
	})
}

// safeHost matches host[:port] values that are safe to put in a CSP source
// expression: DNS names, IPv4 and bracketed IPv6 literals, optional port.
var safeHost = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)

// subscriptionOrigin returns "ws://host" / "wss://host" for an absolute
// websocket subscription URL, or "" for a path (resolved against the page's host).
func subscriptionOrigin(subscriptionEndpoint string) string {
	u, err := url.Parse(subscriptionEndpoint)
	if err != nil || u.Host == "" || !safeHost.MatchString(u.Host) {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "wss":
		return strings.ToLower(u.Scheme) + "://" + u.Host
	}
	return ""
}

func contentSecurityPolicy(subscriptions bool, wsOrigin, host string) string {
	connect := []string{"'self'"}
	if subscriptions {
		if wsOrigin != "" {
			connect = append(connect, wsOrigin)
		} else if safeHost.MatchString(host) {
			// CSP3 lets 'self' match ws:/wss: on the same host, but not every
			// browser implements that: name the host explicitly.
			connect = append(connect, "ws://"+host, "wss://"+host)
		}
	}
	sort.Strings(connect[1:])
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		// GraphiQL's dialogs (react-remove-scroll) insert <style> elements and
		// CodeMirror builds some HTML with style attributes; styles cannot run code.
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data:",
		"font-src 'self' data:",
		"connect-src " + strings.Join(connect, " "),
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}
