package tenantio

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// The data of each kind of record line. Field names are the format's
// (docs/EXPORT.md): change them only with a new FormatVersion.

type appRecord struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
}

type categoryRecord struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

type memoryRecord struct {
	ID         uuid.UUID       `json:"id"`
	AppID      uuid.UUID       `json:"app_id"`
	AuthorID   uuid.UUID       `json:"author_id"`
	Content    string          `json:"content"`
	Metadata   json.RawMessage `json:"metadata"`
	State      string          `json:"state"`
	Version    int64           `json:"version"`
	Visibility string          `json:"visibility"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	DeletedAt  *time.Time      `json:"deleted_at,omitempty"`
	Categories []uuid.UUID     `json:"categories"`
}

type variantRecord struct {
	ID       uuid.UUID       `json:"id"`
	Key      string          `json:"key"`
	Weight   int64           `json:"weight"`
	Config   json.RawMessage `json:"config"`
	Position int             `json:"position"`
}

type experimentRecord struct {
	ID          uuid.UUID       `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Status      string          `json:"status"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	Variants    []variantRecord `json:"variants"`
}

type statusChangeRecord struct {
	ExperimentID uuid.UUID `json:"experiment_id"`
	FromStatus   *string   `json:"from_status"`
	ToStatus     string    `json:"to_status"`
	ChangedBy    uuid.UUID `json:"changed_by"`
	Reason       string    `json:"reason"`
	ChangedAt    time.Time `json:"changed_at"`
}

type assignmentRecord struct {
	ExperimentID uuid.UUID `json:"experiment_id"`
	UserID       uuid.UUID `json:"user_id"`
	VariantID    uuid.UUID `json:"variant_id"`
	AssignedAt   time.Time `json:"assigned_at"`
}

type feedbackRecord struct {
	ID           uuid.UUID  `json:"id"`
	UserID       uuid.UUID  `json:"user_id"`
	QueryID      string     `json:"query_id"`
	MemoryID     *uuid.UUID `json:"memory_id,omitempty"`
	Tool         string     `json:"tool"`
	QueryType    string     `json:"query_type"`
	Outcome      string     `json:"outcome"`
	LatencyMS    *int64     `json:"latency_ms,omitempty"`
	ExperimentID *uuid.UUID `json:"experiment_id,omitempty"`
	VariantKey   *string    `json:"variant_key,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
}

// episodicRecord is a live item; TTLMillis is what remained of its life when
// it was exported, and the import gives it that much again.
type episodicRecord struct {
	UserID    uuid.UUID      `json:"user_id"`
	SessionID string         `json:"session_id"`
	ID        string         `json:"id"`
	Content   string         `json:"content"`
	MemoryID  *uuid.UUID     `json:"memory_id,omitempty"`
	Metadata  map[string]any `json:"metadata"`
	Weight    float64        `json:"weight"`
	CreatedAt time.Time      `json:"created_at"`
	ExpiresAt time.Time      `json:"expires_at"`
	TTLMillis int64          `json:"ttl_ms"`
}

type codeRepoRecord struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type codeFileRecord struct {
	ID        string    `json:"id"`
	RepoID    string    `json:"repo_id"`
	Path      string    `json:"path"`
	Language  string    `json:"language"`
	UpdatedAt time.Time `json:"updated_at"`
}

type codeSymbolRecord struct {
	ID        string    `json:"id"`
	RepoID    string    `json:"repo_id"`
	FileID    string    `json:"file_id"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	Signature string    `json:"signature"`
	StartLine int       `json:"start_line"`
	EndLine   int       `json:"end_line"`
	UpdatedAt time.Time `json:"updated_at"`
}

type codeEdgeRecord struct {
	From string `json:"from"`
	To   string `json:"to"`
	Kind string `json:"kind"`
}

type vectorRecord struct {
	Model      string         `json:"model"`
	ID         uuid.UUID      `json:"id"`
	MemoryID   *uuid.UUID     `json:"memory_id,omitempty"`
	AuthorID   uuid.UUID      `json:"author_id"`
	Visibility string         `json:"visibility,omitempty"`
	Payload    map[string]any `json:"payload"`
	Vector     []float32      `json:"vector"`
}
