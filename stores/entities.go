package stores

// IsEntity marks the types the gateway serves as federation entities (a
// router fetches them by id through `_entities`). The method carries no
// behaviour: gqlgen's federation runtime types its entity union as an
// interface with this one marker method, and these domain types are bound
// to the schema directly, so the marker has to live beside them.
func (Memory) IsEntity() {}

// IsEntity marks Experiment as a federation entity (see Memory.IsEntity).
func (Experiment) IsEntity() {}

// IsEntity marks CodeRepo as a federation entity (see Memory.IsEntity).
func (CodeRepo) IsEntity() {}

// IsEntity marks CodeSymbol as a federation entity (see Memory.IsEntity).
func (CodeSymbol) IsEntity() {}
