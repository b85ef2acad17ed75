package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
)

// @stream, as the incremental-delivery proposal has it, for lists: the
// initial payload holds the first initialCount items and the rest follow as
// `items` parts. gqlgen executes @stream'ed lists whole (it has no @stream),
// and every list of this schema comes from one batched store call, so the
// items exist together: the split is done on each execution's result, and
// the remaining items are sent right after the payload that holds their
// list. A client that renders the first items of a long list (a hundred
// recall hits with their memories) can start before it has parsed the rest.

// streamPlan is, for one level of a selection, the response keys below which
// something is streamed or deferred.
type streamPlan map[string]*streamField

// streamField is one response key of a streamPlan.
type streamField struct {
	// stream is set when the field itself is a streamed list.
	stream *streamDirective
	// deferred is set when every selection of the key sits in a deferred
	// fragment: gqlgen writes such a field as null in its parent's payload
	// before sending it in a later part, and the proposal wants it absent.
	deferred bool
	// children is the plan of the list items' or object's selection.
	children streamPlan
}

type streamDirective struct {
	initialCount int
	label        string
}

// planStreams returns the plan of a selection set, nil when nothing in it is
// streamed. Fragments merge into their parent level, as the response does.
// @stream on a field that is not a list is an error.
func planStreams(doc *ast.QueryDocument, set ast.SelectionSet, vars map[string]any) (streamPlan, error) {
	plan := streamPlan{}
	var bad error
	seen := map[string]bool{}
	var collect func(set ast.SelectionSet, deferred bool)
	collect = func(set ast.SelectionSet, deferred bool) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				key := responseKey(s)
				children, err := planStreams(doc, s.SelectionSet, vars)
				if err != nil {
					bad = err
				}
				f := &streamField{children: children, deferred: deferred}
				if d := s.Directives.ForName("stream"); d != nil {
					if s.Definition == nil || s.Definition.Type.Elem == nil {
						bad = fmt.Errorf("@stream applies to lists, and %s is not one", key)
					}
					args := d.ArgumentMap(vars)
					if args["if"] != false {
						f.stream = &streamDirective{initialCount: streamCount(args["initialCount"])}
						f.stream.label, _ = args["label"].(string)
					}
				}
				if f.stream == nil && f.children == nil && !f.deferred {
					if old := plan[key]; old != nil {
						old.deferred = false // also selected outside a deferred fragment
					}
					continue
				}
				if old := plan[key]; old != nil {
					f = mergeStreamFields(old, f)
				}
				plan[key] = f
			case *ast.InlineFragment:
				collect(s.SelectionSet, deferred || isDeferred(s.Directives, vars))
			case *ast.FragmentSpread:
				if seen[s.Name] {
					continue
				}
				seen[s.Name] = true
				if def := doc.Fragments.ForName(s.Name); def != nil {
					collect(def.SelectionSet, deferred || isDeferred(s.Directives, vars))
				}
			}
		}
	}
	collect(set, false)
	if len(plan) == 0 {
		return nil, bad
	}
	return plan, bad
}

// isDeferred reports whether directives defer their fragment.
func isDeferred(directives ast.DirectiveList, vars map[string]any) bool {
	d := directives.ForName("defer")
	return d != nil && d.ArgumentMap(vars)["if"] != false
}

func mergeStreamFields(a, b *streamField) *streamField {
	out := &streamField{stream: a.stream, deferred: a.deferred && b.deferred, children: streamPlan{}}
	if out.stream == nil {
		out.stream = b.stream
	}
	for _, p := range []streamPlan{a.children, b.children} {
		for k, f := range p {
			if old := out.children[k]; old != nil {
				f = mergeStreamFields(old, f)
			}
			out.children[k] = f
		}
	}
	return out
}

func streamCount(v any) int {
	n, _ := intArgument(v)
	return max(n, 0)
}

// at returns the plan of the object at path (list indices skipped), for a
// payload gqlgen delivers below the root.
func (p streamPlan) at(path ast.Path) streamPlan {
	for _, el := range path {
		name, ok := el.(ast.PathName)
		if !ok {
			continue
		}
		f := p[string(name)]
		if f == nil {
			return nil
		}
		p = f.children
	}
	return p
}

// streamedItems is one part of a streamed list: items from the index at the
// end of path on.
type streamedItems struct {
	items []json.RawMessage
	path  ast.Path
	label string
}

// splitStreams cuts every streamed list of data (an object at path, planned
// by plan) after its initialCount items, and drops the fields deferred to a
// later part, and returns the data with the cut lists and the items cut, in
// document order. The top level of a deferred payload (deferred says so) is
// the deferred fields themselves, so it keeps them.
func splitStreams(data json.RawMessage, path ast.Path, plan streamPlan, deferred bool) (json.RawMessage, []streamedItems, error) {
	if plan == nil || len(data) == 0 || string(data) == "null" {
		return data, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out bytes.Buffer
	var cut []streamedItems
	top := &streamField{children: plan}
	if deferred {
		top.children = streamPlan{}
		for k, f := range plan {
			kept := *f
			kept.deferred = false
			top.children[k] = &kept
		}
	}
	if err := rewriteValue(dec, &out, append(ast.Path{}, path...), top, &cut); err != nil {
		return nil, nil, err
	}
	return out.Bytes(), cut, nil
}

// rewriteValue copies one JSON value from dec to out, cutting streamed lists
// as f plans them.
func rewriteValue(dec *json.Decoder, out *bytes.Buffer, path ast.Path, f *streamField, cut *[]streamedItems) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			out.WriteByte('{')
			for written := 0; dec.More(); {
				keyTok, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := keyTok.(string)
				var child *streamField
				if f != nil {
					child = f.children[key]
				}
				if child != nil && child.deferred {
					var skipped json.RawMessage
					if err := dec.Decode(&skipped); err != nil {
						return err
					}
					continue
				}
				if written > 0 {
					out.WriteByte(',')
				}
				written++
				writeJSONString(out, key)
				out.WriteByte(':')
				if err := rewriteValue(dec, out, append(path, ast.PathName(key)), child, cut); err != nil {
					return err
				}
			}
			_, err := dec.Token()
			out.WriteByte('}')
			return err
		case '[':
			out.WriteByte('[')
			var later streamedItems
			for i := 0; dec.More(); i++ {
				if f != nil && f.stream != nil && i >= f.stream.initialCount {
					var item json.RawMessage
					if err := dec.Decode(&item); err != nil {
						return err
					}
					if later.items == nil {
						later.path = append(append(ast.Path{}, path...), ast.PathIndex(i))
						later.label = f.stream.label
					}
					later.items = append(later.items, item)
					continue
				}
				if i > 0 {
					out.WriteByte(',')
				}
				var itemPlan *streamField
				if f != nil {
					itemPlan = &streamField{children: f.children}
				}
				if err := rewriteValue(dec, out, append(path, ast.PathIndex(i)), itemPlan, cut); err != nil {
					return err
				}
			}
			_, err := dec.Token()
			out.WriteByte(']')
			if later.items != nil {
				*cut = append(*cut, later)
			}
			return err
		}
		return fmt.Errorf("unexpected %v", t)
	case string:
		writeJSONString(out, t)
	case json.Number:
		out.WriteString(t.String())
	case bool:
		out.WriteString(strconv.FormatBool(t))
	case nil:
		out.WriteString("null")
	}
	return nil
}

func writeJSONString(w io.Writer, s string) {
	b, _ := json.Marshal(s)
	_, _ = w.Write(b)
}
