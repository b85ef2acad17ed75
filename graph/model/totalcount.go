package model

import "context"

// TotalCount counts every item of a connection's list, across all pages,
// under the tenant and filter the list was read with. The list resolver binds
// it; only the totalCount resolver calls it, so an operation that does not
// select totalCount makes no count call.
type TotalCount func(ctx context.Context) (int, error)
