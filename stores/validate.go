package stores

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Input checks every backend runs before it stores anything, so that all of
// them refuse the same input with the same words. PostgreSQL cannot store a
// NUL character, so no backend accepts one.

// MaxQueryIDLength bounds a feedback event's query id.
const MaxQueryIDLength = 128

// CheckContent checks a memory's content: 1..MaxMemoryContent bytes of
// UTF-8 without NUL.
func CheckContent(content string) error {
	switch {
	case content == "":
		return Invalid("content must not be empty")
	case len(content) > MaxMemoryContent:
		return Invalid("content must be at most %d bytes", MaxMemoryContent)
	case !utf8.ValidString(content):
		return Invalid("content must be valid UTF-8")
	case strings.ContainsRune(content, 0):
		// PostgreSQL text cannot hold NUL, so no backend accepts it.
		return Invalid("content must not contain NUL characters")
	}
	return nil
}

// CheckName trims a name and checks it is 1..MaxNameLength characters of
// UTF-8 without control characters. It returns the trimmed name.
func CheckName(what, name string) (string, error) {
	name = strings.TrimSpace(name)
	return name, CheckLabel(what, name, MaxNameLength)
}

// CheckLabel checks s as given: 1..max characters of UTF-8, no control characters.
func CheckLabel(what, s string, max int) error {
	switch {
	case s == "":
		return Invalid("%s must not be empty", what)
	case !utf8.ValidString(s):
		return Invalid("%s must be valid UTF-8", what)
	case utf8.RuneCountInString(s) > max:
		return Invalid("%s must be at most %d characters", what, max)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return Invalid("%s must not contain control characters", what)
	}
	return nil
}

// CheckNewApp checks a new app's name and description and returns the
// name as stored (trimmed).
func CheckNewApp(name, description string) (string, error) {
	name, err := CheckName("app name", name)
	if err != nil {
		return "", err
	}
	return name, CheckDescription(description)
}

// CheckFilterText refuses filter text no PostgreSQL query could carry.
func CheckFilterText(what, s string) error {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return Invalid("%s must be UTF-8 without NUL characters", what)
	}
	return nil
}

// CheckDescription checks a description: at most MaxMemoryContent bytes of
// UTF-8 without NUL.
func CheckDescription(d string) error {
	switch {
	case len(d) > MaxMemoryContent:
		return Invalid("description must be at most %d bytes", MaxMemoryContent)
	case !utf8.ValidString(d):
		return Invalid("description must be valid UTF-8")
	case strings.ContainsRune(d, 0):
		return Invalid("description must not contain NUL characters")
	}
	return nil
}

// CheckCategoryNames trims and checks category names and drops duplicates,
// keeping the first occurrence. Names are case-sensitive.
func CheckCategoryNames(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		n, err := CheckName("category name", n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// CheckedMemory is a NewMemory that passed CheckNewMemories, normalised:
// its categories trimmed and without duplicates, its metadata the JSON text
// of an object.
type CheckedMemory struct {
	AppID      uuid.UUID
	Content    string
	Metadata   string
	Categories []string
	Visibility Visibility // ORG when the input left it empty
}

// CheckNewMemories checks a batch of new memories as a whole, before any is
// stored: a batch with one bad memory stores nothing.
func CheckNewMemories(in []NewMemory) ([]CheckedMemory, error) {
	if len(in) > MaxBatchSize {
		return nil, Invalid("at most %d memories per batch", MaxBatchSize)
	}
	out := make([]CheckedMemory, len(in))
	for i, m := range in {
		if err := CheckContent(m.Content); err != nil {
			return nil, err
		}
		meta, err := CheckJSONObject("metadata", m.Metadata)
		if err != nil {
			return nil, err
		}
		cats, err := CheckCategoryNames(m.Categories)
		if err != nil {
			return nil, err
		}
		visibility, err := CheckNewVisibility(m.Visibility)
		if err != nil {
			return nil, err
		}
		out[i] = CheckedMemory{AppID: m.AppID, Content: m.Content, Metadata: meta, Categories: cats, Visibility: visibility}
	}
	return out, nil
}

// CheckedMemoryUpdate is a MemoryUpdate's new values as CheckMemoryUpdate
// accepts them.
type CheckedMemoryUpdate struct {
	Metadata   *string  // the JSON text, or nil to keep the metadata
	Categories []string // the checked names; only meaningful when the update sets them
}

// CheckMemoryUpdate checks the values an update sets, before any is stored.
func CheckMemoryUpdate(u MemoryUpdate) (CheckedMemoryUpdate, error) {
	var out CheckedMemoryUpdate
	if u.Content != nil {
		if err := CheckContent(*u.Content); err != nil {
			return out, err
		}
	}
	if u.Metadata != nil {
		meta, err := CheckJSONObject("metadata", u.Metadata)
		if err != nil {
			return out, err
		}
		out.Metadata = &meta
	}
	if u.Categories != nil {
		cats, err := CheckCategoryNames(u.Categories)
		if err != nil {
			return out, err
		}
		out.Categories = cats
	}
	return out, nil
}

// CheckJSONObject checks that m is a JSON object every backend can store
// and returns its JSON text; nil is {}. PostgreSQL's jsonb refuses the NUL
// escape, so every backend refuses it alike.
func CheckJSONObject(what string, m map[string]any) (string, error) {
	if m == nil {
		return "{}", nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", Invalid("%s must be a JSON object", what)
	}
	if bytes.Contains(raw, []byte(`\u0000`)) {
		return "", Invalid("%s must not contain NUL characters", what)
	}
	return string(raw), nil
}

// CheckNewFeedback checks a feedback event's fields.
func CheckNewFeedback(in NewFeedbackEvent) error {
	if err := CheckLabel("query id", in.QueryID, MaxQueryIDLength); err != nil {
		return err
	}
	if err := CheckLabel("tool", in.Tool, MaxNameLength); err != nil {
		return err
	}
	if err := CheckLabel("query type", in.QueryType, MaxNameLength); err != nil {
		return err
	}
	if !in.Outcome.Valid() {
		return Invalid("unknown outcome %q", in.Outcome)
	}
	if in.LatencyMs != nil && *in.LatencyMs < 0 {
		return Invalid("latency must not be negative")
	}
	if in.VariantKey != "" && in.ExperimentID == nil {
		return Invalid("a variant key needs an experiment id")
	}
	if in.VariantKey != "" {
		if err := CheckLabel("variant key", in.VariantKey, MaxNameLength); err != nil {
			return err
		}
	}
	return nil
}

// PlainText reports whether s is valid UTF-8 of at most limit characters
// without control characters.
func PlainText(s string, limit int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > limit {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Limits on full-text input.
const (
	maxQueryText = 1024
	maxTitle     = 1024
	maxTags      = 100
	maxTag       = 256
)

// CheckDocumentID checks a full-text document id.
func CheckDocumentID(id string) error {
	if !ValidCodeID(id) || !utf8.ValidString(id) {
		return Invalid("document id must be 1..512 characters without control characters")
	}
	return nil
}

// CheckNewVisibility returns the visibility of a new memory: "" is ORG, an
// unknown value is ErrInvalid.
func CheckNewVisibility(v Visibility) (Visibility, error) {
	switch {
	case v == "":
		return VisibilityOrg, nil
	case !v.Valid():
		return "", Invalid("visibility must be PRIVATE or ORG")
	}
	return v, nil
}

// CheckIndexedVisibility refuses a document or vector point whose visibility
// is unknown, or PRIVATE and not written by its author, user.
func CheckIndexedVisibility(v Visibility, author, user uuid.UUID) error {
	switch {
	case v != "" && !v.Valid():
		return Invalid("visibility must be PRIVATE or ORG")
	case v == VisibilityPrivate && author != user:
		return Invalid("a private document or point is written by its author only")
	}
	return nil
}

func checkTag(tag string) error {
	if tag == "" || !PlainText(tag, maxTag) {
		return Invalid("tags must be 1..%d characters without control characters", maxTag)
	}
	return nil
}

// checkTags checks each tag; tooMany is the message for more than maxTags.
func checkTags(tags []string, tooMany string) error {
	if len(tags) > maxTags {
		return Invalid(tooMany, maxTags)
	}
	for _, tag := range tags {
		if err := checkTag(tag); err != nil {
			return err
		}
	}
	return nil
}

// checkDocument checks a full-text document before it is indexed.
func checkDocument(d Document) error {
	if err := CheckDocumentID(d.ID); err != nil {
		return err
	}
	if err := checkVersion(d.Version, d.Deleted); err != nil {
		return err
	}
	if len(d.Body) > MaxMemoryContent || !utf8.ValidString(d.Body) {
		return Invalid("document body must be at most %d bytes of UTF-8", MaxMemoryContent)
	}
	if !utf8.ValidString(d.Title) || utf8.RuneCountInString(d.Title) > maxTitle {
		return Invalid("document title must be at most %d characters", maxTitle)
	}
	return checkTags(d.Tags, "a document has at most %d tags")
}

// CheckSearchQuery refuses a query text or tags no backend can search by.
func CheckSearchQuery(q SearchQuery) error {
	if strings.TrimSpace(q.Text) == "" {
		return Invalid("search text must not be empty")
	}
	if !utf8.ValidString(q.Text) || utf8.RuneCountInString(q.Text) > maxQueryText {
		return Invalid("search text must be at most %d characters", maxQueryText)
	}
	return checkTags(q.Tags, "at most %d tags")
}

// CheckModelName checks the name of an embedding model (it names the
// model's vector collection).
func CheckModelName(model string) error {
	if !ValidModelName(model) {
		return Invalid("model name must be 1..64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

// CheckVector refuses an empty, over-long or non-finite vector.
func CheckVector(v []float32) error {
	if len(v) == 0 {
		return Invalid("vector must not be empty")
	}
	if len(v) > MaxVectorDimension {
		return Invalid("vector must have at most %d dimensions", MaxVectorDimension)
	}
	for _, x := range v {
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return Invalid("vector values must be finite numbers")
		}
	}
	return nil
}

// ReservedPayloadKey reports whether a payload or filter key is one the
// vector backends keep for themselves.
func ReservedPayloadKey(k string) bool { return k == "org_id" || k == "memory_id" }

// CheckPoints checks a batch of points before any is written: the batch
// size, each id and vector, one dimension for the whole batch, and the
// payload keys (the backends check the values as they convert them).
func CheckPoints(points []VectorPoint) error {
	if len(points) > MaxBatchSize {
		return Invalid("at most %d points at once", MaxBatchSize)
	}
	dim := 0
	for _, p := range points {
		if p.ID == uuid.Nil {
			return Invalid("point id must not be the nil UUID")
		}
		if err := checkVersion(p.Version, p.Deleted); err != nil {
			return err
		}
		if p.Deleted {
			continue // a tombstone carries no vector
		}
		if err := CheckVector(p.Vector); err != nil {
			return err
		}
		if dim == 0 {
			dim = len(p.Vector)
		}
		if len(p.Vector) != dim {
			return Invalid("every vector of a batch must have the same dimension")
		}
		if len(p.Payload) > MaxPayloadKeys {
			return Invalid("payload must have at most %d keys", MaxPayloadKeys)
		}
		for k := range p.Payload {
			if ReservedPayloadKey(k) {
				return Invalid("payload key %q is reserved", k)
			}
			if k == "" || !utf8.ValidString(k) || len(k) > MaxPayloadKey {
				return Invalid("payload keys must be 1..%d bytes of UTF-8", MaxPayloadKey)
			}
		}
	}
	return nil
}

// checkVersion refuses a negative version, and a delete without one (an
// unversioned delete goes through DeleteDocuments or DeleteVectors).
func checkVersion(version int64, deleted bool) error {
	switch {
	case version < 0 || version > MaxDerivedVersion:
		return Invalid("version must be between 0 and %d", int64(MaxDerivedVersion))
	case deleted && version == 0:
		return Invalid("a versioned delete needs a positive version")
	}
	return nil
}

// CheckVectorSearch checks a nearest-neighbour search before it is sent: the
// limit, the query vector and the filter keys (the backends check the
// values as they convert them).
func CheckVectorSearch(vector []float32, filter map[string]any, limit int) error {
	if limit < 1 || limit > MaxVectorLimit {
		return Invalid("limit must be between 1 and %d", MaxVectorLimit)
	}
	if err := CheckVector(vector); err != nil {
		return err
	}
	for k := range filter {
		if ReservedPayloadKey(k) {
			return Invalid("filter key %q is reserved", k)
		}
	}
	return nil
}

// CheckPointIDs checks the size of a batch of point ids.
func CheckPointIDs(ids []uuid.UUID) error {
	if len(ids) > MaxBatchSize {
		return Invalid("at most %d points at once", MaxBatchSize)
	}
	return nil
}

// CheckedExperiment is a NewExperiment that passed CheckNewExperiment: its
// name trimmed, each variant's config the JSON text of an object.
type CheckedExperiment struct {
	Name     string
	Variants []CheckedVariant
}

// CheckedVariant is one variant of a CheckedExperiment, in the input's order.
type CheckedVariant struct {
	Key    string
	Weight int
	Config string
}

// CheckNewExperiment checks a new experiment and its variants as a whole.
func CheckNewExperiment(in NewExperiment) (CheckedExperiment, error) {
	name, err := CheckName("experiment name", in.Name)
	if err != nil {
		return CheckedExperiment{}, err
	}
	if err := CheckDescription(in.Description); err != nil {
		return CheckedExperiment{}, err
	}
	if len(in.Variants) == 0 || len(in.Variants) > MaxVariants {
		return CheckedExperiment{}, Invalid("an experiment needs 1 to %d variants", MaxVariants)
	}
	out := CheckedExperiment{Name: name, Variants: make([]CheckedVariant, len(in.Variants))}
	for i, v := range in.Variants {
		if err := CheckLabel("variant key", v.Key, MaxNameLength); err != nil {
			return CheckedExperiment{}, err
		}
		if strings.TrimSpace(v.Key) != v.Key {
			return CheckedExperiment{}, Invalid("variant key must not start or end with spaces")
		}
		for _, prev := range out.Variants[:i] {
			if prev.Key == v.Key {
				return CheckedExperiment{}, Invalid("variant key %q is used twice", v.Key)
			}
		}
		if v.Weight <= 0 {
			return CheckedExperiment{}, Invalid("variant %q needs a positive weight", v.Key)
		}
		config, err := CheckJSONObject("variant config", v.Config)
		if err != nil {
			return CheckedExperiment{}, err
		}
		out.Variants[i] = CheckedVariant{Key: v.Key, Weight: v.Weight, Config: config}
	}
	return out, nil
}

// CheckStatuses refuses a status filter naming an unknown status.
func CheckStatuses(statuses []ExperimentStatus) error {
	for _, st := range statuses {
		if !st.Valid() {
			return Invalid("unknown experiment status %q", st)
		}
	}
	return nil
}

// CheckTransition checks the target status and the reason of a transition
// (whether the experiment may move there is the store's to say).
func CheckTransition(to ExperimentStatus, reason string) error {
	if !to.Valid() {
		return Invalid("unknown experiment status %q", to)
	}
	if CheckDescription(reason) != nil {
		return Invalid("reason must be at most %d bytes of UTF-8", MaxMemoryContent)
	}
	return nil
}

// CheckMemoryFilter refuses what no backend can filter memories by.
func CheckMemoryFilter(f MemoryFilter) error {
	for _, st := range f.States {
		if !st.Valid() {
			return Invalid("unknown memory state %q", st)
		}
	}
	return CheckFilterText("text filter", f.TextContains)
}

// CheckSettableState checks the state SetMemoryState moves a memory to:
// DELETED is reached by deleting, not by setting it.
func CheckSettableState(state MemoryState) error {
	if !state.Valid() || state == MemoryDeleted {
		return Invalid("state must be ACTIVE, PAUSED or ARCHIVED (delete a memory to mark it DELETED)")
	}
	return nil
}

// CheckFeedbackFilter refuses what no backend can filter feedback by.
func CheckFeedbackFilter(f FeedbackFilter) error {
	if err := CheckFilterText("tool filter", f.Tool); err != nil {
		return err
	}
	if err := CheckFilterText("query type filter", f.QueryType); err != nil {
		return err
	}
	for _, o := range f.Outcomes {
		if !o.Valid() {
			return Invalid("unknown outcome %q", o)
		}
	}
	return nil
}

// CheckTraversal checks a traversal's start symbol ids, direction, edge
// kinds and depth (1..maxDepth, the backend's cap).
func CheckTraversal(ids []string, dir Direction, kinds []EdgeKind, depth, maxDepth int) error {
	if err := CheckCodeLookup("symbol", ids); err != nil {
		return err
	}
	if dir != Dependencies && dir != Dependents {
		return Invalid("unknown traversal direction %q", string(dir))
	}
	if depth < 1 || depth > maxDepth {
		return Invalid("depth must be between 1 and %d", maxDepth)
	}
	for _, k := range kinds {
		if !k.Valid() {
			return Invalid("unknown edge kind %q", string(k))
		}
	}
	return nil
}

// CheckPage checks the page a list call asks for (the graph layer caps
// first before; a store still refuses a page of nothing).
func CheckPage(p PageArgs) error {
	if p.First <= 0 {
		return Invalid("first must be positive")
	}
	return nil
}

// CheckDocuments checks a batch of full-text documents before any is
// indexed, as written by user (a private document by its author only).
func CheckDocuments(docs []Document, user uuid.UUID) error {
	if len(docs) > MaxBatchSize {
		return Invalid("at most %d documents at once", MaxBatchSize)
	}
	for _, d := range docs {
		if err := checkDocument(d); err != nil {
			return err
		}
		if err := CheckIndexedVisibility(d.Visibility, d.AuthorID, user); err != nil {
			return err
		}
	}
	return nil
}

// CheckDocumentIDs checks a batch of full-text document ids.
func CheckDocumentIDs(ids []string) error {
	if len(ids) > MaxBatchSize {
		return Invalid("at most %d documents at once", MaxBatchSize)
	}
	for _, id := range ids {
		if err := CheckDocumentID(id); err != nil {
			return err
		}
	}
	return nil
}

// PrivateOwner returns the user in whose own id space a document or vector
// point of this visibility and author lives: its author when it is PRIVATE,
// uuid.Nil (the org's shared id space) otherwise. Ids are unique per space,
// so another user writing or deleting the same id reaches a different,
// shared document and never the private one; and a memory whose visibility
// changes moves between its author's space and the shared one.
func PrivateOwner(v Visibility, author uuid.UUID) uuid.UUID {
	if v == VisibilityPrivate {
		return author
	}
	return uuid.Nil
}
