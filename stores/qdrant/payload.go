package qdrant

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	qc "github.com/qdrant/go-client/qdrant"

	"github.com/codingbrain/gateway/stores"
)

// pointNamespace is the UUIDv5 namespace of Qdrant point ids. Changing it
// would orphan every stored point.
var pointNamespace = uuid.MustParse("4daab3fd-f3f8-44a3-a613-1ccfbef0fb1b")

// pointID derives the Qdrant id of an org's point. Qdrant ids are unique per
// collection while the gateway's are unique per org: another org writing the
// same id must store a point of its own, so the id is a name-based UUID over
// both. A PRIVATE point's id also names its owner (stores.PrivateOwner), so
// another user of the org writing or deleting the same id reaches another point.
func pointID(org, id, owner uuid.UUID) *qc.PointId {
	name := make([]byte, 0, 48)
	name = append(name, org[:]...)
	name = append(name, id[:]...)
	if owner != uuid.Nil {
		name = append(name, owner[:]...)
	}
	return qc.NewIDUUID(uuid.NewSHA1(pointNamespace, name).String())
}

// scalar converts a payload scalar (string, bool, any integer or float type)
// to a Qdrant value; false when v is not one or is out of bounds.
func scalar(v any) (*qc.Value, bool) {
	switch x := v.(type) {
	case string:
		return qc.NewValueString(x), utf8.ValidString(x) && len(x) <= stores.MaxPayloadString
	case bool:
		return qc.NewValueBool(x), true
	case int:
		return qc.NewValueInt(int64(x)), true
	case int8:
		return qc.NewValueInt(int64(x)), true
	case int16:
		return qc.NewValueInt(int64(x)), true
	case int32:
		return qc.NewValueInt(int64(x)), true
	case int64:
		return qc.NewValueInt(x), true
	case uint8:
		return qc.NewValueInt(int64(x)), true
	case uint16:
		return qc.NewValueInt(int64(x)), true
	case uint32:
		return qc.NewValueInt(int64(x)), true
	case uint:
		return qc.NewValueInt(int64(x)), uint64(x) <= math.MaxInt64
	case uint64:
		return qc.NewValueInt(int64(x)), x <= math.MaxInt64
	case float32:
		return qc.NewValueDouble(float64(x)), finite(float64(x))
	case float64:
		return qc.NewValueDouble(x), finite(x)
	}
	return nil, false
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// encodePayload checks a caller's payload values (scalars and string lists;
// stores.CheckPoints checked the keys) and returns it as one Qdrant object value.
func encodePayload(p map[string]any) (*qc.Value, error) {
	fields := make(map[string]*qc.Value, len(p))
	for k, v := range p {
		if value, ok := scalar(v); ok {
			fields[k] = value
			continue
		}
		list, err := stores.PayloadStrings(k, v)
		if err != nil {
			return nil, err
		}
		values := make([]*qc.Value, len(list))
		for i, s := range list {
			values[i] = qc.NewValueString(s)
		}
		fields[k] = qc.NewValueFromList(values...)
	}
	return qc.NewValueFromFields(fields), nil
}

// decodePayload returns the caller's payload of a stored point: strings,
// bools, int64, float64 and string lists, as stores/embedded gives them back.
// It is never nil.
func decodePayload(stored map[string]*qc.Value) map[string]any {
	return decodeFields(stored[userKey].GetStructValue().GetFields())
}

func decodeFields(fields map[string]*qc.Value) map[string]any {
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		out[k] = decodeValue(v)
	}
	return out
}

func decodeValue(v *qc.Value) any {
	switch x := v.GetKind().(type) {
	case *qc.Value_StringValue:
		return x.StringValue
	case *qc.Value_BoolValue:
		return x.BoolValue
	case *qc.Value_IntegerValue:
		return x.IntegerValue
	case *qc.Value_DoubleValue:
		return x.DoubleValue
	case *qc.Value_ListValue:
		items := x.ListValue.GetValues()
		strs := make([]string, 0, len(items))
		for _, item := range items {
			s, ok := item.GetKind().(*qc.Value_StringValue)
			if !ok {
				return decodeList(items)
			}
			strs = append(strs, s.StringValue)
		}
		return strs
	case *qc.Value_StructValue:
		return decodeFields(x.StructValue.GetFields())
	}
	return nil
}

// decodeList decodes a list holding other values than strings (written by
// another client: the gateway stores only string lists).
func decodeList(items []*qc.Value) []any {
	out := make([]any, len(items))
	for i, item := range items {
		out[i] = decodeValue(item)
	}
	return out
}

// exactFloat is the bound below which every integer is a float64: a range
// condition [x, x] matches such an integer exactly, whether stored as an
// integer or as a float.
const exactFloat = 1 << 53

// filterConditions turns a caller's filter (key -> scalar, all must equal)
// into Qdrant conditions on the caller's payload object. Strings and bools
// are match conditions; numbers are a [x, x] range, which compares integer
// and float payloads by value as stores/embedded does.
func filterConditions(filter map[string]any) ([]*qc.Condition, error) {
	conds := make([]*qc.Condition, 0, len(filter))
	for k, v := range filter {
		// Checked before (stores.CheckVectorSearch) and again here, where
		// the condition is built: a reserved key must never reach a condition.
		if stores.ReservedPayloadKey(k) {
			return nil, stores.Invalid("filter key %q is reserved", k)
		}
		value, ok := scalar(v)
		if !ok {
			return nil, stores.Invalid("filter value of %q must be a string, a number or a boolean", k)
		}
		path, err := userPath(k)
		if err != nil {
			return nil, err
		}
		switch x := value.GetKind().(type) {
		case *qc.Value_StringValue:
			conds = append(conds, qc.NewMatchKeyword(path, x.StringValue))
		case *qc.Value_BoolValue:
			conds = append(conds, qc.NewMatchBool(path, x.BoolValue))
		case *qc.Value_IntegerValue:
			if x.IntegerValue > -exactFloat && x.IntegerValue < exactFloat {
				conds = append(conds, equalNumber(path, float64(x.IntegerValue)))
			} else {
				conds = append(conds, qc.NewMatchInt(path, x.IntegerValue))
			}
		case *qc.Value_DoubleValue:
			conds = append(conds, equalNumber(path, x.DoubleValue))
		}
	}
	return conds, nil
}

func equalNumber(path string, f float64) *qc.Condition {
	return qc.NewRange(path, &qc.Range{Gte: qc.PtrOf(f), Lte: qc.PtrOf(f)})
}

// userPath returns the Qdrant JSON path of a caller's payload key: the key
// quoted under the payload object, so that dots, brackets and spaces in it
// are part of the name. Qdrant's path syntax has no escape for '"' or '\',
// so a filter on a key holding one is refused.
func userPath(k string) (string, error) {
	if strings.ContainsAny(k, `"\`) {
		return "", stores.Invalid(`filter keys must not contain '"' or '\'`)
	}
	return userKey + `."` + k + `"`, nil
}
