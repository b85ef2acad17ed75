package resolvers

import "github.com/codingbrain/gateway/stores"

// checkModelName refuses a model name that cannot name a collection.
func checkModelName(name string) error {
	if !stores.ValidModelName(name) {
		return stores.Invalid("model must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}
