// Command execgen runs gqlgen (`go generate ./graph/...` calls it) with one
// plugin that keeps trivial fields and lists off goroutines: gqlgen gives a
// goroutine to every resolver field and to every element of a list of
// objects, which on a page of memories costs more CPU than the stores.
//
//   - The fields of inlineFields are resolved in the goroutine of their
//     object: their resolvers compute from the object alone and never wait;
//     so are loaderFields, which wait only on a loader.
//   - A list of objects none of whose fields can wait (transitively) is
//     marshalled in a plain loop (execution.MarshalSlice).
//   - A list of primedObjects, whose fields wait only on loaders, is
//     marshalled in a plain loop when its resolver primed the loaders for
//     its selection, else concurrently (execution.MarshalPrimedSlice).
//
// gqlgen has no switch for either (v0.17.98: only the Mutation type runs
// sequentially), so the plugin picks the fields and lists from gqlgen's
// codegen data before the templates run, and replaces their calls in the
// generated file after they ran (execution.ResolveInline for
// FieldSet.ResolveConcurrently, execution.MarshalSlice for
// MarshalSliceConcurrently, same arguments). It also gives every object a
// deferred group that computes its path only when a field is deferred
// (execution.NewDeferredGroup). A generated file that does not
// have the calls it expects fails the generation rather than being
// generated differently.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"go/types"
	"os"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
	"github.com/vektah/gqlparser/v2/ast"
)

// inlineFields are resolver fields that compute from their object alone.
var inlineFields = []string{
	"Memory.id", "App.id", "Category.id", "FeedbackEvent.id", "FeedbackEvent.variantKey",
	"Experiment.id", "Variant.id", "CodeRepo.id", "CodeFile.id", "CodeSymbol.id",
}

// loaderFields are resolved in the goroutine of their object too, but they
// wait on a loader unless it was primed: the lists holding them keep a
// goroutine per element (so that their loads form one batch) unless their
// resolver primed the loaders (primedObjects). Outside such lists, an
// object's loader fields load one after the other.
var loaderFields = []string{"Memory.app", "Memory.categories"}

// primedObjects are the element types of the lists resolvers may prime
// (loaders.MarkPrimed): the memories of a page and their edges.
var primedObjects = []string{"Memory", "MemoryEdge"}

const (
	concurrentField = "out.ResolveConcurrently(ec.OperationContext, &deferred, i,"
	inlineField     = "execution.ResolveInline(ctx, field, out, ec.OperationContext, &deferred, i,"
	eagerGroup      = "deferred := graphql.NewDeferredGroup(ctx)"
	lazyGroup       = "deferred := execution.NewDeferredGroup(ctx, fields)"
	concurrentCall  = "graphql.MarshalSliceConcurrently(ctx, len(v), "
	executionPkg    = "github.com/codingbrain/gateway/graph/execution"
)

func main() {
	if err := generate(); err != nil {
		fmt.Fprintln(os.Stderr, "execgen:", err)
		os.Exit(1)
	}
}

func generate() error {
	cfg, err := config.LoadConfigFromDefaultLocations()
	if err != nil {
		return err
	}
	p := &plugin{rewrites: map[string]string{}, direct: map[string]string{}}
	if err := api.Generate(cfg, api.AddPlugin(p)); err != nil {
		return err
	}
	return p.rewrite(cfg.Exec.Filename)
}

// plugin is the gqlgen plugin. rewrites maps the generated marshal function
// of a list to the call replacing its MarshalSliceConcurrently; inline are
// the fields (Object.field) whose ResolveConcurrently becomes ResolveInline.
type plugin struct {
	rewrites map[string]string
	inline   []string
	// direct maps the call resolving a stored field of a basic type to the
	// call marshalling the struct field itself.
	direct map[string]string
}

func (p *plugin) Name() string { return "execgen" }

// GenerateCode runs before gqlgen renders its templates: it marks the
// inline fields and picks the lists to rewrite.
func (p *plugin) GenerateCode(data *codegen.Data) error {
	for _, name := range slices.Concat(inlineFields, loaderFields) {
		typ, field, _ := strings.Cut(name, ".")
		o := data.Objects.ByName(typ)
		if f := fieldOf(o, field); f == nil || !f.IsConcurrent() || o.Root {
			return fmt.Errorf("inline field %s is not a concurrent field of an object in the schema", name)
		}
		p.inline = append(p.inline, name)
	}
	inline := func(o *codegen.Object, f *codegen.Field) bool {
		return slices.Contains(inlineFields, o.Name+"."+f.Name)
	}
	// A stored field of a basic Go type (string, number, boolean, an enum
	// over one) or a time has nothing to resolve and cannot fail or be null
	// (a zero time excepted, see directMarshal): it is
	// marshalled straight from the struct, without a field context and the
	// field middleware (nothing but resolvers needs them: markInternalErrors
	// has no error to mark, traceResolver traces resolvers only). Field
	// directives would run there, so with one in the schema nothing is.
	if len(data.AllDirectives.LocationDirectives(string(ast.LocationField))) == 0 {
		for _, o := range data.Objects {
			if o.Root || o.Stream {
				continue
			}
			for _, f := range o.Fields {
				resolved := "out.Values[i] = ec._" + o.Name + "_" + f.Name + "(ctx, field, obj)"
				if direct := directMarshal(f, resolved); direct != "" {
					p.direct[resolved] = direct
				}
			}
		}
	}
	blocking := map[string]bool{}
	var waits func(o *codegen.Object, seen map[string]bool) bool
	waits = func(o *codegen.Object, seen map[string]bool) bool {
		if v, ok := blocking[o.Name]; ok {
			return v
		}
		if seen[o.Name] {
			return false // a cycle: decided by its other fields
		}
		seen[o.Name] = true
		result := false
		for _, f := range o.Fields {
			if f.IsConcurrent() && !inline(o, f) {
				result = true
				break
			}
			def := f.TypeReference.Definition
			switch def.Kind {
			case ast.Interface, ast.Union:
				result = true
			case ast.Object:
				if child := data.Objects.ByName(def.Name); child == nil || waits(child, seen) {
					result = true
				}
			}
			if result {
				break
			}
		}
		blocking[o.Name] = result
		return result
	}
	for _, t := range data.ReferencedTypes {
		if !t.IsSlice() || t.Elem() == nil || t.Definition.Kind != ast.Object {
			continue
		}
		obj := data.Objects.ByName(t.Definition.Name)
		if obj == nil {
			continue
		}
		switch {
		case slices.Contains(primedObjects, obj.Name):
			p.rewrites[t.MarshalFunc()] = "execution.MarshalPrimedSlice(ctx, v, "
		case !waits(obj, map[string]bool{}):
			p.rewrites[t.MarshalFunc()] = "execution.MarshalSlice(ctx, len(v), "
		}
	}
	for _, name := range primedObjects {
		if data.Objects.ByName(name) == nil {
			return fmt.Errorf("primed object %s is not in the schema", name)
		}
	}
	return nil
}

// directMarshal is the statement marshalling f straight from its struct
// field (resolved is the statement gqlgen generated), "" when f is not a
// stored field of a basic Go type or a time. A zero time marshals to null,
// an error at the field's path, which needs the field context: a zero time
// goes the way gqlgen generated.
func directMarshal(f *codegen.Field, resolved string) string {
	t := f.TypeReference
	if !f.IsVariable() || f.IsResolver || f.IsConcurrent() || f.HasHaser || f.IsBatch() || len(f.Args) > 0 || len(f.Directives) > 0 || t.IsSlice() {
		return ""
	}
	direct := "out.Values[i] = ec." + t.MarshalFunc() + "(ctx, field.Selections, obj." + f.GoFieldName + ")"
	if _, basic := t.GO.Underlying().(*types.Basic); basic {
		return direct
	}
	if named, ok := t.GO.(*types.Named); ok && named.Obj().Pkg() != nil && named.Obj().Pkg().Path() == "time" && named.Obj().Name() == "Time" {
		return "if obj." + f.GoFieldName + ".IsZero() {\n" + resolved + "\n} else {\n" + direct + "\n}"
	}
	return ""
}

func fieldOf(o *codegen.Object, name string) *codegen.Field {
	if o == nil {
		return nil
	}
	for _, f := range o.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// rewrite replaces the MarshalSliceConcurrently call of each chosen list's
// marshal function in the generated file, and imports the execution package.
func (p *plugin) rewrite(filename string) error {
	src, err := os.ReadFile(filename)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(p.rewrites))
	for name := range p.rewrites {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		head := []byte("func (ec *executionContext) " + name + "(")
		start := bytes.Index(src, head)
		if start < 0 {
			return fmt.Errorf("%s: no function %s", filename, name)
		}
		end := bytes.Index(src[start:], []byte("\n}\n"))
		if end < 0 {
			return fmt.Errorf("%s: function %s does not end", filename, name)
		}
		body := src[start : start+end]
		if bytes.Count(body, []byte(concurrentCall)) != 1 {
			return fmt.Errorf("%s: %s does not call %s once: gqlgen's output changed", filename, name, concurrentCall)
		}
		body = bytes.Replace(body, []byte(concurrentCall), []byte(p.rewrites[name]), 1)
		src = slices.Concat(src[:start], body, src[start+end:])
	}
	for _, name := range p.inline {
		typ, field, _ := strings.Cut(name, ".")
		head := []byte("func (ec *executionContext) _" + typ + "(ctx context.Context, sel ast.SelectionSet, obj ")
		start := bytes.Index(src, head)
		if start < 0 {
			return fmt.Errorf("%s: no function _%s", filename, typ)
		}
		end := bytes.Index(src[start:], []byte("\n}\n"))
		if end < 0 {
			return fmt.Errorf("%s: function _%s does not end", filename, typ)
		}
		body := src[start : start+end]
		call := []byte("\t\tcase \"" + field + "\":\n\t\t\t" + concurrentField)
		if bytes.Count(body, call) != 1 {
			return fmt.Errorf("%s: _%s does not resolve %s with %s once: gqlgen's output changed", filename, typ, field, concurrentField)
		}
		body = bytes.Replace(body, call, []byte("\t\tcase \""+field+"\":\n\t\t\t"+inlineField), 1)
		src = slices.Concat(src[:start], body, src[start+end:])
	}
	calls := make([]string, 0, len(p.direct))
	for call := range p.direct {
		calls = append(calls, call)
	}
	slices.Sort(calls)
	for _, call := range calls {
		if n := bytes.Count(src, []byte(call)); n != 1 {
			return fmt.Errorf("%s: %d calls %s: gqlgen's output changed", filename, n, call)
		}
		src = bytes.Replace(src, []byte(call), []byte(p.direct[call]), 1)
	}
	// Every object's deferred group: the path only when a field is deferred.
	if bytes.Count(src, []byte(eagerGroup)) == 0 {
		return fmt.Errorf("%s: no %s: gqlgen's output changed", filename, eagerGroup)
	}
	src = bytes.ReplaceAll(src, []byte(eagerGroup), []byte(lazyGroup))
	imp := []byte("import (\n")
	i := bytes.Index(src, imp)
	if i < 0 {
		return fmt.Errorf("%s: no import block", filename)
	}
	src = slices.Concat(src[:i+len(imp)], []byte("\t\""+executionPkg+"\"\n"), src[i+len(imp):])
	out, err := format.Source(src)
	if err != nil {
		return fmt.Errorf("%s: %w", filename, err)
	}
	return os.WriteFile(filename, out, 0o644)
}
