package graphiql

import (
	"compress/gzip"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func newServer(t *testing.T, page http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /graphql", page)
	mux.Handle(AssetPrefix, Assets())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	// An explicit Accept-Encoding disables the transport's transparent gunzip,
	// so callers asking for gzip see the raw bytes.
	req.Header.Set("Accept-Encoding", "identity")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// cspDirectives parses a CSP header into directive -> sources.
func cspDirectives(t *testing.T, csp string) map[string][]string {
	t.Helper()
	m := map[string][]string{}
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) == 0 {
			continue
		}
		if _, dup := m[f[0]]; dup {
			t.Errorf("CSP directive %s repeated: %q", f[0], csp)
		}
		m[f[0]] = f[1:]
	}
	return m
}

func TestPageServesHTMLWithCSP(t *testing.T) {
	srv := newServer(t, Page("/graphql", "", `{"Authorization":"Bearer x"}`))
	resp, body := get(t, srv.URL+"/graphql")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	csp := cspDirectives(t, resp.Header.Get("Content-Security-Policy"))
	want := map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"connect-src":     "'self'",
		"base-uri":        "'none'",
		"frame-ancestors": "'none'",
		"form-action":     "'none'",
	}
	for k, v := range want {
		if got := strings.Join(csp[k], " "); got != v {
			t.Errorf("CSP %s = %q, want %q", k, got, v)
		}
	}
	for k, srcs := range csp {
		for _, s := range srcs {
			if s == "*" || strings.HasPrefix(s, "http") || s == "https:" || s == "'unsafe-eval'" ||
				(s == "'unsafe-inline'" && k != "style-src") {
				t.Errorf("CSP %s allows %s", k, s)
			}
		}
	}
	if !strings.Contains(body, "<title>codingbrain gateway</title>") {
		t.Error("page has no title codingbrain gateway")
	}
	if regexp.MustCompile(`<script(\s[^>]*)?>\s*[^<\s]`).MatchString(body) {
		t.Error("page has an inline script; the CSP forbids it")
	}
	if strings.Contains(body, " style=") || strings.Contains(body, "<style") {
		t.Error("page has inline styles")
	}
	if !strings.Contains(body, `data-endpoint="/graphql"`) {
		t.Error("endpoint not passed to the page")
	}
	if strings.Contains(body, "data-subscription-endpoint") {
		t.Error("subscription endpoint set although none was given")
	}

	head, _ := http.NewRequest(http.MethodHead, srv.URL+"/graphql", nil)
	hresp, err := http.DefaultClient.Do(head)
	if err != nil {
		t.Fatal(err)
	}
	hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK || hresp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("HEAD: status %d, CSP %q", hresp.StatusCode, hresp.Header.Get("Content-Security-Policy"))
	}

	rec := httptest.NewRecorder()
	Page("/graphql", "", "").ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/graphql", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST to the page handler: status %d, want 405", rec.Code)
	}
}

var refRE = regexp.MustCompile(`<(script|link)\b[^>]*?\s(src|href)="([^"]*)"`)

func TestPageReferencesOnlyEmbeddedAssets(t *testing.T) {
	srv := newServer(t, Page("/graphql", "", ""))
	_, body := get(t, srv.URL+"/graphql")

	refs := refRE.FindAllStringSubmatch(body, -1)
	var scripts, styles int
	for _, m := range refs {
		tag, ref := m[1], html.UnescapeString(m[3])
		if tag == "link" && strings.HasPrefix(ref, "data:") { // <link rel="icon" href="data:,">
			continue
		}
		u, err := url.Parse(ref)
		if err != nil {
			t.Errorf("bad reference %q: %v", ref, err)
			continue
		}
		if u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, AssetPrefix) {
			t.Errorf("<%s> references %q, want an absolute path under %s", tag, ref, AssetPrefix)
			continue
		}
		resp, _ := get(t, srv.URL+ref)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", ref, resp.StatusCode)
			continue
		}
		wantCT := "text/css; charset=utf-8"
		if tag == "script" {
			wantCT = "text/javascript; charset=utf-8"
			scripts++
		} else {
			styles++
		}
		if ct := resp.Header.Get("Content-Type"); ct != wantCT {
			t.Errorf("%s: Content-Type %q, want %q", ref, ct, wantCT)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
			t.Errorf("%s: Cache-Control %q, want long-lived", ref, cc)
		}
		if resp.Header.Get("ETag") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: missing ETag or nosniff", ref)
		}
	}
	if scripts != 5 || styles != 3 {
		t.Errorf("page loads %d scripts and %d stylesheets, want 5 and 3", scripts, styles)
	}
	for _, name := range []string{
		"react.production.min.js", "react-dom.production.min.js", "graphiql.min.js",
		"plugin-explorer.umd.js", "graphiql-init.js", "graphiql.min.css", "plugin-explorer.css",
	} {
		if !strings.Contains(body, `"`+AssetPrefix+name+"?v=") {
			t.Errorf("page does not load %s", name)
		}
	}
	// Nothing else on the page points off the host either.
	if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9]`).FindString(body); m != "" {
		t.Errorf("page contains an absolute URL: %q", m)
	}
}

func TestDefaultHeadersAreEscaped(t *testing.T) {
	hostile := `{"Authorization":"Bearer </script><script>alert(1)</script>","X":"a\" onmouseover=\"alert(2)","Y":"<!-- &amp; '"}`
	srv := newServer(t, Page("/graphql\"><script>alert(3)</script>", "/graphql/ws", hostile))
	_, body := get(t, srv.URL+"/graphql")
	if c := strings.Count(body, "<script"); c != 5 {
		t.Errorf("page has %d <script elements, want exactly the 5 asset scripts", c)
	}
	for _, bad := range []string{"</script><script>alert", `" onmouseover=`, "<!--", `"><script>`} {
		if strings.Contains(body, bad) {
			t.Errorf("hostile input appears unescaped: %q", bad)
		}
	}
	attr := func(name string) string {
		m := regexp.MustCompile(`\s` + name + `="([^"]*)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no %s attribute", name)
		}
		return html.UnescapeString(m[1])
	}
	if got := attr("data-default-headers"); got != hostile {
		t.Errorf("data-default-headers round-trips to %q, want %q", got, hostile)
	}
	if got := attr("data-endpoint"); got != "/graphql\"><script>alert(3)</script>" {
		t.Errorf("data-endpoint round-trips to %q", got)
	}
	if got := attr("data-subscription-endpoint"); got != "/graphql/ws" {
		t.Errorf("data-subscription-endpoint = %q", got)
	}
}

func TestSubscriptionCSP(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "http://gw.example:8080/graphql", nil)
	Page("/graphql", "/graphql/ws", "").ServeHTTP(rec, req)
	csp := cspDirectives(t, rec.Header().Get("Content-Security-Policy"))
	if got := strings.Join(csp["connect-src"], " "); got != "'self' ws://gw.example:8080 wss://gw.example:8080" {
		t.Errorf("connect-src %q", got)
	}

	rec = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodGet, "http://gw.example/graphql", nil)
	Page("/graphql", "wss://subs.example/ws", "").ServeHTTP(rec, req)
	csp = cspDirectives(t, rec.Header().Get("Content-Security-Policy"))
	if got := strings.Join(csp["connect-src"], " "); got != "'self' wss://subs.example" {
		t.Errorf("connect-src for absolute ws URL %q", got)
	}

	// A Host that could smuggle CSP syntax is not echoed.
	rec = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodGet, "/graphql", nil)
	req.Host = "evil;script-src*"
	Page("/graphql", "/graphql/ws", "").ServeHTTP(rec, req)
	csp = cspDirectives(t, rec.Header().Get("Content-Security-Policy"))
	if got := strings.Join(csp["connect-src"], " "); got != "'self'" {
		t.Errorf("connect-src with hostile Host %q", got)
	}
	if got := strings.Join(csp["script-src"], " "); got != "'self'" {
		t.Errorf("script-src with hostile Host %q", got)
	}
}

func TestUnknownAssetIs404(t *testing.T) {
	srv := newServer(t, Page("/graphql", "", ""))
	for _, p := range []string{
		"nope.js", "", "assets/graphiql.min.js", "static/graphiql-init.js",
		"%2e%2e/graphiql.go", "graphiql.go", "graphiql.min.js/", "GRAPHIQL.MIN.JS",
	} {
		resp, _ := get(t, srv.URL+AssetPrefix+p)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s%s: status %d, want 404", AssetPrefix, p, resp.StatusCode)
		}
	}
	// Unclean paths straight to the handler (a ServeMux would redirect them first).
	for _, p := range []string{"../graphiql.go", "./graphiql.min.js", "x/../graphiql.min.js"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = AssetPrefix + p
		Assets().ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("direct %s%s: status %d, want 404", AssetPrefix, p, rec.Code)
		}
	}
}

func TestAssetsDetails(t *testing.T) {
	srv := newServer(t, Page("/graphql", "", ""))

	// License texts are served as plain text.
	resp, body := get(t, srv.URL+AssetPrefix+"LICENSE.graphiql")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || !strings.Contains(body, "MIT") {
		t.Errorf("LICENSE.graphiql: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// Without the current ?v= the response must be revalidated.
	resp, _ = get(t, srv.URL+AssetPrefix+"graphiql.min.js")
	if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
		t.Errorf("unversioned request cached immutably: %q", cc)
	}
	etag := resp.Header.Get("ETag")
	resp, _ = get(t, srv.URL+AssetPrefix+"graphiql.min.js", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", resp.StatusCode)
	}

	// gzip for clients that accept it, identical content.
	plainResp, plain := get(t, srv.URL+AssetPrefix+"graphiql.min.css")
	zResp, z := get(t, srv.URL+AssetPrefix+"graphiql.min.css", "Accept-Encoding", "gzip, br")
	if zResp.Header.Get("Content-Encoding") != "gzip" || plainResp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("Content-Encoding: gzip request %q, plain request %q",
			zResp.Header.Get("Content-Encoding"), plainResp.Header.Get("Content-Encoding"))
	}
	if zResp.Header.Get("ETag") == plainResp.Header.Get("ETag") {
		t.Error("gzip and identity responses share an ETag")
	}
	zr, err := gzip.NewReader(strings.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	unz, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if string(unz) != plain || len(z) >= len(plain) {
		t.Errorf("gzip body: %d bytes, decompresses to %d, plain %d", len(z), len(unz), len(plain))
	}
	zResp, _ = get(t, srv.URL+AssetPrefix+"graphiql.min.css", "Accept-Encoding", "gzip;q=0")
	if zResp.Header.Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 still got gzip")
	}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+AssetPrefix+"graphiql.min.js", nil)
	presp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	presp.Body.Close()
	if presp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST asset: status %d, want 405", presp.StatusCode)
	}

	// Works behind http.StripPrefix too.
	rec := httptest.NewRecorder()
	http.StripPrefix(AssetPrefix, Assets()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, AssetPrefix+"graphiql-init.js", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "createFetcher") {
		t.Errorf("behind StripPrefix: status %d", rec.Code)
	}
}

// The vendored CSS must not pull anything (fonts, images) from another origin.
func TestEmbeddedCSSIsSelfContained(t *testing.T) {
	remote := regexp.MustCompile(`(?i)(@import|url\(\s*["']?\s*)(https?:)?//`)
	for name, a := range assets {
		if a.contentType != "text/css; charset=utf-8" {
			continue
		}
		if m := remote.FindString(string(a.data)); m != "" {
			t.Errorf("%s references a remote resource: %q", name, m)
		}
	}
}
