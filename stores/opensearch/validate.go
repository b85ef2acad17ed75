package opensearch

import (
	"strings"
	"unicode/utf8"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// Limits on full-text input, the same as stores/embedded's so every backend
// refuses the same input with the same message.
const (
	maxQueryText = 1024
	maxTitle     = 1024
	maxTags      = 100
	maxTag       = 256
)

func checkDocumentID(id string) error {
	if !stores.ValidCodeID(id) || !utf8.ValidString(id) {
		return stores.Invalid("document id must be 1..512 characters without control characters")
	}
	return nil
}

func checkTag(tag string) error {
	if tag == "" || !stores.PlainText(tag, maxTag) {
		return stores.Invalid("tags must be 1..%d characters without control characters", maxTag)
	}
	return nil
}

// checkTags checks each tag; tooMany is the message for more than maxTags.
func checkTags(tags []string, tooMany string) error {
	if len(tags) > maxTags {
		return stores.Invalid(tooMany, maxTags)
	}
	for _, tag := range tags {
		if err := checkTag(tag); err != nil {
			return err
		}
	}
	return nil
}

func checkDocument(d stores.Document, user uuid.UUID) error {
	if err := checkDocumentID(d.ID); err != nil {
		return err
	}
	if len(d.Body) > stores.MaxMemoryContent || !utf8.ValidString(d.Body) {
		return stores.Invalid("document body must be at most %d bytes of UTF-8", stores.MaxMemoryContent)
	}
	if !utf8.ValidString(d.Title) || utf8.RuneCountInString(d.Title) > maxTitle {
		return stores.Invalid("document title must be at most %d characters", maxTitle)
	}
	if err := stores.CheckIndexedVisibility(d.Visibility, d.AuthorID, user); err != nil {
		return err
	}
	return checkTags(d.Tags, "a document has at most %d tags")
}

func checkQuery(q stores.SearchQuery) error {
	if strings.TrimSpace(q.Text) == "" {
		return stores.Invalid("search text must not be empty")
	}
	if !utf8.ValidString(q.Text) || utf8.RuneCountInString(q.Text) > maxQueryText {
		return stores.Invalid("search text must be at most %d characters", maxQueryText)
	}
	return checkTags(q.Tags, "at most %d tags")
}
