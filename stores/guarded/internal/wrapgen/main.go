// Command wrapgen writes stores/guarded/wrap_gen.go: a guarded pass-through
// of every store method of every domain of stores.Backends, read from the
// stores package's source, so that a new store method, or a new domain, is
// guarded by running go generate instead of by hand.
//
//	go run ./internal/wrapgen -stores .. -skip Changes -out wrap_gen.go
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"log"
	"os"
	"slices"
	"strings"
)

func main() {
	dir := flag.String("stores", "..", "directory of the stores package")
	out := flag.String("out", "wrap_gen.go", "file to write")
	skip := flag.String("skip", "", "comma-separated Backends fields to leave unwrapped")
	flag.Parse()
	src, err := generate(*dir, strings.Split(*skip, ","))
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

// domain is one field of stores.Backends: its backend interface hands out a
// tenant-bound store interface.
type domain struct {
	field   string // Backends field, e.g. Memories
	backend string // backend interface, e.g. MemoryBackend
	bind    string // the backend's method, e.g. Memories
	store   string // store interface, e.g. MemoryStore
	methods []*ast.Field
}

// source is the parsed stores package.
type source struct {
	interfaces map[string]*ast.InterfaceType
	backends   *ast.StructType
	imports    map[string]string // package name -> path, as the stores files import them
}

func parse(dir string) (source, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return source{}, err
	}
	src := source{interfaces: map[string]*ast.InterfaceType{}, imports: map[string]string{}}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, dir+"/"+name, nil, parser.SkipObjectResolution)
		if err != nil {
			return source{}, err
		}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			src.imports[path[strings.LastIndex(path, "/")+1:]] = path
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			switch t := ts.Type.(type) {
			case *ast.InterfaceType:
				src.interfaces[ts.Name.Name] = t
			case *ast.StructType:
				if ts.Name.Name == "Backends" {
					src.backends = t
				}
			}
			return false
		})
	}
	if src.backends == nil {
		return source{}, fmt.Errorf("no Backends struct in %s", dir)
	}
	return src, nil
}

func (src source) domains(skip []string) ([]domain, error) {
	var out []domain
	for _, f := range src.backends.Fields.List {
		backend, ok := f.Type.(*ast.Ident)
		if !ok || len(f.Names) != 1 {
			return nil, fmt.Errorf("stores.Backends field %v: want one name of a backend interface", f.Names)
		}
		if slices.Contains(skip, f.Names[0].Name) {
			continue
		}
		bi := src.interfaces[backend.Name]
		if bi == nil || len(bi.Methods.List) != 1 {
			return nil, fmt.Errorf("%s: want an interface with one binding method", backend.Name)
		}
		bind := bi.Methods.List[0]
		ft := bind.Type.(*ast.FuncType)
		if ft.Results == nil || len(ft.Results.List) != 1 {
			return nil, fmt.Errorf("%s.%s: want one store result", backend.Name, bind.Names[0].Name)
		}
		store := ft.Results.List[0].Type.(*ast.Ident).Name
		si := src.interfaces[store]
		if si == nil {
			return nil, fmt.Errorf("%s: no such interface", store)
		}
		d := domain{field: f.Names[0].Name, backend: backend.Name, bind: bind.Names[0].Name, store: store}
		for _, m := range si.Methods.List {
			if len(m.Names) != 1 {
				return nil, fmt.Errorf("%s: embedded interfaces are not supported", store)
			}
			d.methods = append(d.methods, m)
		}
		out = append(out, d)
	}
	return out, nil
}

// writer renders type expressions of the stores package as seen from
// package guarded, and collects the imports they need.
type writer struct {
	bytes.Buffer
	src  source
	used map[string]bool
}

func (w *writer) typ(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		if t.IsExported() {
			w.used["stores"] = true
			return "stores." + t.Name
		}
		return t.Name
	case *ast.SelectorExpr:
		pkg := t.X.(*ast.Ident).Name
		w.used[pkg] = true
		return pkg + "." + t.Sel.Name
	case *ast.StarExpr:
		return "*" + w.typ(t.X)
	case *ast.ArrayType:
		return "[]" + w.typ(t.Elt)
	case *ast.MapType:
		return "map[" + w.typ(t.Key) + "]" + w.typ(t.Value)
	case *ast.Ellipsis:
		return "..." + w.typ(t.Elt)
	case *ast.ChanType:
		return map[ast.ChanDir]string{ast.SEND: "chan<- ", ast.RECV: "<-chan ", ast.SEND | ast.RECV: "chan "}[t.Dir] + w.typ(t.Value)
	case *ast.IndexExpr:
		return w.typ(t.X) + "[" + w.typ(t.Index) + "]"
	case *ast.InterfaceType:
		if len(t.Methods.List) == 0 {
			return "any"
		}
	}
	log.Fatalf("unsupported type %T in a store method", e)
	return ""
}

func (w *writer) method(d domain, m *ast.Field) error {
	name := m.Names[0].Name
	ft := m.Type.(*ast.FuncType)
	var params, args []string
	for i, p := range ft.Params.List {
		names := p.Names
		if len(names) == 0 {
			names = []*ast.Ident{ast.NewIdent(fmt.Sprintf("p%d", i))}
		}
		for _, n := range names {
			if n.Name == "s" {
				return fmt.Errorf("%s.%s: a parameter named s shadows the receiver", d.store, name)
			}
			params = append(params, n.Name+" "+w.typ(p.Type))
			arg := n.Name
			if _, variadic := p.Type.(*ast.Ellipsis); variadic {
				arg += "..."
			}
			args = append(args, arg)
		}
	}
	if len(params) == 0 || !strings.HasSuffix(params[0], " context.Context") {
		return fmt.Errorf("%s.%s: the first parameter must be a context.Context", d.store, name)
	}
	var results []string
	if ft.Results != nil {
		for _, r := range ft.Results.List {
			for range max(1, len(r.Names)) {
				results = append(results, w.typ(r.Type))
			}
		}
	}
	if len(results) == 0 || results[len(results)-1] != "error" || len(results) > 2 {
		return fmt.Errorf("%s.%s: want (T, error) or error results", d.store, name)
	}
	ctx := strings.Fields(params[0])[0]
	args[0] = "ctx"
	inner := fmt.Sprintf("s.next.%s(%s)", name, strings.Join(args, ", "))
	_, _ = fmt.Fprintf(w, "func (s %s) %s(%s) (%s) {\n", storeType(d), name, strings.Join(params, ", "), strings.Join(results, ", "))
	if len(results) == 1 {
		_, _ = fmt.Fprintf(w, "\treturn run(%s, s.g, %q, func(ctx context.Context) error { return %s })\n}\n\n", ctx, name, inner)
		return nil
	}
	_, _ = fmt.Fprintf(w, "\treturn call(%s, s.g, %q, func(ctx context.Context) (%s, error) { return %s })\n}\n\n", ctx, name, results[0], inner)
	return nil
}

func backendType(d domain) string { return lower(d.field) + "Backend" }
func storeType(d domain) string   { return lower(d.field) + "Store" }
func lower(s string) string       { return strings.ToLower(s[:1]) + s[1:] }

func generate(dir string, skip []string) ([]byte, error) {
	src, err := parse(dir)
	if err != nil {
		return nil, err
	}
	domains, err := src.domains(skip)
	if err != nil {
		return nil, err
	}
	w := &writer{src: src, used: map[string]bool{"context": true, "stores": true}}
	w.WriteString("// Wrap returns b with every domain it sets wrapped by g: each call of its\n")
	w.WriteString("// stores runs under g's deadline, breaker, metrics and span.\n")
	w.WriteString("func Wrap(b stores.Backends, g *Guard) stores.Backends {\n")
	for _, d := range domains {
		_, _ = fmt.Fprintf(w, "\tif b.%[1]s != nil {\n\t\tb.%[1]s = %[2]s{next: b.%[1]s, g: g}\n\t}\n", d.field, backendType(d))
	}
	w.WriteString("\treturn b\n}\n\n")
	for _, d := range domains {
		_, _ = fmt.Fprintf(w, "type %s struct {\n\tnext stores.%s\n\tg    *Guard\n}\n\n", backendType(d), d.backend)
		_, _ = fmt.Fprintf(w, "func (b %s) %s(t stores.Tenant) stores.%s {\n\treturn %s{next: b.next.%s(t), g: b.g}\n}\n\n",
			backendType(d), d.bind, d.store, storeType(d), d.bind)
		_, _ = fmt.Fprintf(w, "type %s struct {\n\tnext stores.%s\n\tg    *Guard\n}\n\n", storeType(d), d.store)
		for _, m := range d.methods {
			if err := w.method(d, m); err != nil {
				return nil, err
			}
		}
	}
	var head bytes.Buffer
	head.WriteString("// Code generated by go run ./internal/wrapgen; DO NOT EDIT.\n\npackage guarded\n\nimport (\n")
	paths := []string{}
	for pkg := range w.used {
		path := src.imports[pkg]
		if pkg == "stores" {
			path = "github.com/codingbrain/gateway/stores"
		}
		if path == "" {
			return nil, fmt.Errorf("no import path for package %s", pkg)
		}
		paths = append(paths, path)
	}
	// The standard library first, then the modules, as goimports groups them.
	slices.SortFunc(paths, func(a, b string) int {
		if sa, sb := !strings.Contains(a, "."), !strings.Contains(b, "."); sa != sb {
			if sa {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	for i, p := range paths {
		if i > 0 && !strings.Contains(paths[i-1], ".") && strings.Contains(p, ".") {
			head.WriteString("\n")
		}
		fmt.Fprintf(&head, "\t%q\n", p)
	}
	head.WriteString(")\n\n")
	head.Write(w.Bytes())
	return format.Source(head.Bytes())
}
