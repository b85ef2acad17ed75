package resolvers

import (
	"slices"
	"strings"

	"github.com/codingbrain/gateway/stores"
)

// maxSearchText bounds the words of a search, in characters.
const maxSearchText = 1024

// checkDocumentID refuses a document id the index cannot store.
func checkDocumentID(id string) error {
	if !stores.ValidCodeID(id) {
		return stores.Invalid("a document id must be 1 to 512 characters without control characters")
	}
	return nil
}

// searchList names the result list of one search for its cursors: the
// words and the tags, so a cursor continues only the search that issued it.
func searchList(text string, tags []string) string {
	sorted := slices.Clone(tags)
	slices.Sort(sorted)
	return "search\x00" + text + "\x00" + strings.Join(slices.Compact(sorted), "\x00")
}
