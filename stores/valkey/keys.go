package valkey

import "github.com/codingbrain/gateway/stores"

// Key layout. Every key of a user starts with ep:{<org>:<user>}: the braces
// are a Valkey cluster hash tag, so all of one user's keys (every session,
// its items and the user's session index) hash to one slot, and a script may
// act on a session and the index together. Ids are checked with
// stores.ValidEpisodicID, whose alphabet ([A-Za-z0-9._:-]) has neither '/'
// nor braces: '/' separates the parts, so no session or item id can make one
// key read as another (a ':' inside an id would, with ':' separators).
//
//	ep:{org:user}/index/touch       sorted set: session id -> last touch (ms)
//	ep:{org:user}/index/expiry      sorted set: session id -> when its last item expires (ms)
//	ep:{org:user}/s/<sid>/touch     sorted set: item id -> last touch (ms)
//	ep:{org:user}/s/<sid>/expiry    sorted set: item id -> expiry (ms)
//	ep:{org:user}/s/<sid>/meta      hash: item id -> "<weight> <created ms>"
//	ep:{org:user}/s/<sid>/i/<iid>   string: the item's JSON body, with its TTL (PXAT)
//
// Session and index keys expire (PEXPIREAT) with their last item, so an
// abandoned session leaves nothing behind.
const (
	keyPrefix         = "ep:"
	indexTouchSuffix  = "/index/touch"
	indexExpirySuffix = "/index/expiry"
	sessionInfix      = "/s/"
	touchSuffix       = "/touch"
	expirySuffix      = "/expiry"
	metaSuffix        = "/meta"
	itemInfix         = "/i/"
)

// userKeys names the keys of one tenant. It is made only from a validated
// tenant, inside the tenant-bound store.
type userKeys struct{ user string }

func keysFor(t stores.Tenant) userKeys {
	return userKeys{user: keyPrefix + "{" + t.OrgID.String() + ":" + t.UserID.String() + "}"}
}

func (k userKeys) indexTouch() string  { return k.user + indexTouchSuffix }
func (k userKeys) indexExpiry() string { return k.user + indexExpirySuffix }

// sessionPrefix is what every key of every session of the user starts with;
// the sessions script appends a session id and a suffix to it.
func (k userKeys) sessionPrefix() string { return k.user + sessionInfix }

// sessionKeys names the keys of one session whose id the caller validated.
type sessionKeys struct {
	touch, expiry, meta string
	itemPrefix          string // + a validated item id = the item's key
}

func (k userKeys) session(sessionID string) sessionKeys {
	p := k.sessionPrefix() + sessionID
	return sessionKeys{touch: p + touchSuffix, expiry: p + expirySuffix, meta: p + metaSuffix, itemPrefix: p + itemInfix}
}

func (s sessionKeys) item(itemID string) string { return s.itemPrefix + itemID }
