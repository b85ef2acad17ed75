// Package tenantio exports one organisation from every store as a versioned,
// checksummed NDJSON stream and imports such a stream under the same or
// another org id, or into an existing org (merge). docs/EXPORT.md documents
// the format; this file is its single implementation.
package tenantio

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/google/uuid"
)

// FormatName identifies an export stream in its header line.
const FormatName = "codingbrain-tenant-export"

// FormatVersion is the newest format this binary writes and reads. A stream
// of a newer version is refused before anything is written.
const FormatVersion = 1

// maxLine bounds one line of a stream: a memory is at most 64 KiB of content
// and 64 KiB of metadata, escaped JSON at most doubles that; vectors are at
// most 4096 floats.
const maxLine = 1 << 20

// The kinds of record lines, in the order an export writes them: every
// record comes after the records it refers to.
const (
	KindHeader       = "header"
	KindApp          = "app"
	KindCategory     = "category"
	KindMemory       = "memory"
	KindExperiment   = "experiment"
	KindStatusChange = "experiment_status"
	KindAssignment   = "assignment"
	KindFeedback     = "feedback"
	KindEpisodic     = "episodic_item"
	KindCodeRepo     = "code_repo"
	KindCodeFile     = "code_file"
	KindCodeSymbol   = "code_symbol"
	KindCodeEdge     = "code_edge"
	KindVector       = "vector"
	KindTrailer      = "trailer"
)

// recordKinds is every kind a version-1 stream may hold between its header
// and its trailer.
var recordKinds = map[string]bool{
	KindApp: true, KindCategory: true, KindMemory: true, KindExperiment: true, KindStatusChange: true,
	KindAssignment: true, KindFeedback: true, KindEpisodic: true, KindCodeRepo: true, KindCodeFile: true,
	KindCodeSymbol: true, KindCodeEdge: true, KindVector: true,
}

// Header is the first line of a stream.
type Header struct {
	Kind       string    `json:"kind"`
	Format     string    `json:"format"`
	Version    int       `json:"version"`
	Org        uuid.UUID `json:"org"`
	ExportedAt time.Time `json:"exported_at"`
	Vectors    bool      `json:"vectors"`
}

// Trailer is the last line of a stream. SHA256 is the hex SHA-256 of every
// byte before the trailer line (the header and record lines, each with its
// newline); Records counts the record lines per kind.
type Trailer struct {
	Kind    string         `json:"kind"`
	Records map[string]int `json:"records"`
	Lines   int            `json:"lines"`
	SHA256  string         `json:"sha256"`
}

// line is the envelope of a record line.
type line struct {
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

// writer writes a stream, hashing as it goes. It holds one line at a time.
type writer struct {
	progress *progress
	out      *bufio.Writer
	sum      hash.Hash
	counts   map[string]int
	lines    int
}

func newWriter(out io.Writer, h Header) (*writer, error) {
	w := &writer{out: bufio.NewWriterSize(out, 64<<10), sum: sha256.New(), counts: map[string]int{}}
	h.Kind, h.Format, h.Version = KindHeader, FormatName, FormatVersion
	if err := w.writeLine(h); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *writer) writeLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode export line: %w", err)
	}
	b = append(b, '\n')
	w.sum.Write(b)
	w.lines++
	_, err = w.out.Write(b)
	return err
}

// record writes one record line of kind.
func (w *writer) record(kind string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s: %w", kind, err)
	}
	w.counts[kind]++
	w.progress.tick(w.lines)
	return w.writeLine(line{Kind: kind, Data: raw})
}

// close writes the trailer and flushes.
func (w *writer) close() (Trailer, error) {
	t := Trailer{Kind: KindTrailer, Records: w.counts, Lines: w.lines, SHA256: hex.EncodeToString(w.sum.Sum(nil))}
	b, err := json.Marshal(t)
	if err != nil {
		return Trailer{}, err
	}
	if _, err := w.out.Write(append(b, '\n')); err != nil {
		return Trailer{}, err
	}
	return t, w.out.Flush()
}

// ErrInvalidStream is wrapped by every refusal of a stream's content:
// truncated, tampered, malformed, or of a newer format.
var ErrInvalidStream = errors.New("invalid export stream")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidStream, fmt.Sprintf(format, args...))
}

// reader reads a stream line by line, hashing as it goes; next returns each
// record, and io.EOF once the trailer has verified. It holds one line.
type reader struct {
	in      *bufio.Reader
	sum     hash.Hash
	header  Header
	counts  map[string]int
	lines   int
	trailer *Trailer
}

func newReader(in io.Reader) (*reader, error) {
	r := &reader{in: bufio.NewReaderSize(in, 64<<10), sum: sha256.New(), counts: map[string]int{}}
	b, err := r.readLine()
	if err != nil {
		return nil, invalid("no header line: %v", err)
	}
	if err := json.Unmarshal(b, &r.header); err != nil || r.header.Kind != KindHeader || r.header.Format != FormatName {
		return nil, invalid("the first line is not a %s header", FormatName)
	}
	if r.header.Version > FormatVersion {
		return nil, invalid("format version %d is newer than this binary reads (%d); import it with a newer gateway", r.header.Version, FormatVersion)
	}
	if r.header.Version < 1 || r.header.Org == uuid.Nil {
		return nil, invalid("the header has no valid version or org")
	}
	r.sum.Write(b)
	r.lines = 1
	return r, nil
}

// readLine returns the next line with its newline; a last line without one
// is a truncated stream.
func (r *reader) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.in.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return nil, invalid("line %d is longer than %d bytes", r.lines+1, maxLine)
		}
		switch {
		case err == nil:
			return buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return nil, invalid("line %d is cut short (no newline): the stream is truncated", r.lines+1)
		default:
			return nil, err
		}
	}
}

// next returns the kind and data of the next record, or io.EOF after a
// trailer whose counts and checksum match what was read, followed by nothing.
func (r *reader) next() (string, json.RawMessage, error) {
	if r.trailer != nil {
		return "", nil, io.EOF
	}
	b, err := r.readLine()
	if errors.Is(err, io.EOF) {
		return "", nil, invalid("the stream ends after %d lines without a trailer: it is truncated", r.lines)
	}
	if err != nil {
		return "", nil, err
	}
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		return "", nil, invalid("line %d is not a JSON record", r.lines+1)
	}
	if l.Kind == KindTrailer {
		return "", nil, r.verify(b)
	}
	if !recordKinds[l.Kind] {
		return "", nil, invalid("line %d has an unknown kind %q", r.lines+1, l.Kind)
	}
	r.sum.Write(b)
	r.lines++
	r.counts[l.Kind]++
	return l.Kind, l.Data, nil
}

func (r *reader) verify(b []byte) error {
	var t Trailer
	if err := json.Unmarshal(b, &t); err != nil {
		return invalid("the trailer is malformed")
	}
	if got := hex.EncodeToString(r.sum.Sum(nil)); t.SHA256 != got || t.Lines != r.lines {
		return invalid("checksum mismatch: the stream was altered or cut (trailer sha256 %.12s…, %d lines; read %.12s…, %d lines)", t.SHA256, t.Lines, got, r.lines)
	}
	for kind, n := range r.counts {
		if t.Records[kind] != n {
			return invalid("the trailer counts %d %s records, the stream holds %d", t.Records[kind], kind, n)
		}
	}
	if len(t.Records) != len(r.counts) {
		return invalid("the trailer counts kinds the stream does not hold")
	}
	if _, err := r.in.ReadByte(); !errors.Is(err, io.EOF) {
		return invalid("data follows the trailer")
	}
	r.trailer = &t
	return io.EOF
}
