package neo4j

import "github.com/codingbrain/gateway/stores"

// checkBatch refuses a write batch larger than the stores allow at once.
func checkBatch(n int, what string) error {
	if n > stores.MaxCodeBatch {
		return stores.Invalid("at most %d %s at once", stores.MaxCodeBatch, what)
	}
	return nil
}
