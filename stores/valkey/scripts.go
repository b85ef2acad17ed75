package valkey

import "github.com/redis/go-redis/v9"

// The episodic operations run as Lua scripts: each one reads the server's
// clock and changes an item, its session's sorted sets and the user's index
// as one atomic step, in one round trip. Only commands that Redis 7.0 and
// Valkey 8 both have are used (no hash-field TTL). Every key a script is
// given or derives carries the user's hash tag, so a script stays in one
// cluster slot; item keys are derived inside the scripts from a prefix the
// store built (declaring up to a thousand item keys per call would cost more
// than it protects).
//
// Times are integer milliseconds of the server's clock (TIME). An item is
// live while its expiry is after now; the server drops its body key at that
// instant too (SET ... PXAT), so both views agree.

// scriptLib holds the helpers every script starts with.
const scriptLib = `
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function ms(n) return string.format('%d', n) end

-- bytewise string order (Lua's < follows the server's locale).
local function before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- forget drops items from a session's sets and hash (not their bodies).
local function forget(touch, expiry, meta, ids)
  if #ids > 0 then
    redis.call('ZREM', touch, unpack(ids))
    redis.call('ZREM', expiry, unpack(ids))
    redis.call('HDEL', meta, unpack(ids))
  end
end

-- sweep forgets at most budget expired items of one session (their body
-- keys are already gone: the server expired them).
local function sweep(touch, expiry, meta, now, budget)
  forget(touch, expiry, meta, redis.call('ZRANGE', expiry, '-inf', ms(now), 'BYSCORE', 'LIMIT', 0, budget))
end

-- settle makes a changed session's keys expire with its last item and
-- records that time in the index, or drops the session when it is empty.
local function settle(idxTouch, idxExpiry, touch, expiry, meta, sid)
  local last = redis.call('ZRANGE', expiry, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', touch, expiry, meta)
    redis.call('ZREM', idxTouch, sid)
    redis.call('ZREM', idxExpiry, sid)
    return
  end
  local at = ms(tonumber(last[2]))
  redis.call('PEXPIREAT', touch, at)
  redis.call('PEXPIREAT', expiry, at)
  redis.call('PEXPIREAT', meta, at)
  redis.call('ZADD', idxExpiry, at, sid)
end

-- settleIndex drops at most budget dead sessions from the user's index and
-- makes the index expire with the user's last live session.
local function settleIndex(idxTouch, idxExpiry, now, budget)
  local dead = redis.call('ZRANGE', idxExpiry, '-inf', ms(now), 'BYSCORE', 'LIMIT', 0, budget)
  if #dead > 0 then
    redis.call('ZREM', idxTouch, unpack(dead))
    redis.call('ZREM', idxExpiry, unpack(dead))
  end
  local top = redis.call('ZRANGE', idxExpiry, -1, -1, 'WITHSCORES')
  if #top > 0 then
    local at = ms(tonumber(top[2]))
    redis.call('PEXPIREAT', idxTouch, at)
    redis.call('PEXPIREAT', idxExpiry, at)
  end
end
`

// putScript stores or replaces one item.
// KEYS: index touch, index expiry, session touch, expiry, meta, item.
// ARGV: session id, item id, TTL ms, weight, JSON body, item cap, sweep budget.
// Returns {1, now, created, expires}, or {0} when the session is full.
const putScript = scriptLib + `
local now = clock()
local budget = tonumber(ARGV[7])
sweep(KEYS[3], KEYS[4], KEYS[5], now, budget)
local created = now
local old = redis.call('ZSCORE', KEYS[4], ARGV[2])
if old and tonumber(old) > now and redis.call('EXISTS', KEYS[6]) == 1 then
  local meta = redis.call('HGET', KEYS[5], ARGV[2])
  if meta then created = tonumber(string.match(meta, ' (%d+)$')) or now end
elseif redis.call('ZCOUNT', KEYS[4], '(' .. ms(now), '+inf') >= tonumber(ARGV[6]) then
  return {0}
end
local expires = now + tonumber(ARGV[3])
redis.call('SET', KEYS[6], ARGV[5], 'PXAT', ms(expires))
redis.call('ZADD', KEYS[3], ms(now), ARGV[2])
redis.call('ZADD', KEYS[4], ms(expires), ARGV[2])
redis.call('HSET', KEYS[5], ARGV[2], ARGV[4] .. ' ' .. ms(created))
settle(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1])
redis.call('ZADD', KEYS[1], ms(now), ARGV[1])
settleIndex(KEYS[1], KEYS[2], now, budget)
return {1, now, created, expires}
`

// readScript ranks one session's live items by weight x 2^(-age/half-life)
// (ties by id, bytewise) and returns the best ones; with touch it sets their
// touch time (and the session's) to now, leaving their expiry alone.
// KEYS: index touch, session touch, expiry, meta.
// ARGV: session id, item key prefix, half-life ms, limit, touch (0/1), sweep budget.
// Returns {now, id, body, meta, touched, expires, id, ...}; touched is the
// touch time before this read, the one the score decays from.
const readScript = scriptLib + `
local now = clock()
sweep(KEYS[2], KEYS[3], KEYS[4], now, tonumber(ARGV[6]))
local out = {ms(now)}
local live = redis.call('ZRANGE', KEYS[3], '(' .. ms(now), '+inf', 'BYSCORE', 'WITHSCORES')
if #live == 0 then return out end
local ids, expires = {}, {}
for i = 1, #live, 2 do
  ids[#ids + 1] = live[i]
  expires[live[i]] = live[i + 1]
end
local metas = redis.call('HMGET', KEYS[4], unpack(ids))
local touched = redis.call('ZMSCORE', KEYS[2], unpack(ids))
local halfLife = tonumber(ARGV[3])
local ranked = {}
for i, id in ipairs(ids) do
  local meta, t = metas[i], touched[i]
  if meta and t then
    local age = now - tonumber(t)
    local decay = 1
    if age > 0 then decay = 2 ^ (-age / halfLife) end
    ranked[#ranked + 1] = {id = id, meta = meta, touched = t, score = tonumber(string.match(meta, '^(%S+)')) * decay}
  end
end
table.sort(ranked, function(a, b)
  if a.score ~= b.score then return a.score > b.score end
  return before(a.id, b.id)
end)
local limit, returned, gone = tonumber(ARGV[4]), {}, {}
for _, r in ipairs(ranked) do
  if #returned >= limit then break end
  local body = redis.call('GET', ARGV[2] .. r.id)
  if body then
    returned[#returned + 1] = r.id
    for _, v in ipairs({r.id, body, r.meta, r.touched, expires[r.id]}) do out[#out + 1] = v end
  else
    gone[#gone + 1] = r.id
  end
end
forget(KEYS[2], KEYS[3], KEYS[4], gone)
if ARGV[5] == '1' and #returned > 0 then
  local args = {}
  for _, id in ipairs(returned) do
    args[#args + 1] = ms(now)
    args[#args + 1] = id
  end
  redis.call('ZADD', KEYS[2], 'XX', unpack(args))
  redis.call('ZADD', KEYS[1], 'XX', ms(now), ARGV[1])
end
return out
`

// expireItemScript removes one item now.
// KEYS: index touch, index expiry, session touch, expiry, meta, item.
// ARGV: session id, item id, sweep budget. Returns 1 if the item was live.
const expireItemScript = scriptLib + `
local now = clock()
local at = redis.call('ZSCORE', KEYS[4], ARGV[2])
local live = 0
if at and tonumber(at) > now then live = redis.call('DEL', KEYS[6]) end
forget(KEYS[3], KEYS[4], KEYS[5], {ARGV[2]})
sweep(KEYS[3], KEYS[4], KEYS[5], now, tonumber(ARGV[3]))
settle(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1])
settleIndex(KEYS[1], KEYS[2], now, tonumber(ARGV[3]))
return live
`

// expireSessionScript removes every item of a session now.
// KEYS: index touch, index expiry, session touch, expiry, meta.
// ARGV: session id, item key prefix, sweep budget. Returns how many were live.
const expireSessionScript = scriptLib + `
local now = clock()
local live = redis.call('ZCOUNT', KEYS[4], '(' .. ms(now), '+inf')
local ids = redis.call('ZRANGE', KEYS[4], 0, -1)
for i = 1, #ids, 256 do
  local batch = {}
  for j = i, math.min(i + 255, #ids) do batch[#batch + 1] = ARGV[2] .. ids[j] end
  redis.call('DEL', unpack(batch))
end
redis.call('DEL', KEYS[4])
settle(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1])
settleIndex(KEYS[1], KEYS[2], now, tonumber(ARGV[3]))
return live
`

// sessionsScript lists the user's live sessions, most recently touched
// first, at most a given number; it walks the index from the newest touch
// and skips sessions whose last item expired.
// KEYS: index touch, index expiry.
// ARGV: session key prefix, touch suffix, expiry suffix, max listed, sweep budget.
// Returns {now, id, item count, last touch, expires, id, ...}.
const sessionsScript = scriptLib + `
local now = clock()
local prefix, max = ARGV[1], tonumber(ARGV[4])
settleIndex(KEYS[1], KEYS[2], now, tonumber(ARGV[5]))

-- lastTouch is the latest touch among the session's live items.
local function lastTouch(touch, expiry)
  local start = 0
  while true do
    local page = redis.call('ZRANGE', touch, start, start + 15, 'REV', 'WITHSCORES')
    if #page == 0 then return nil end
    for i = 1, #page, 2 do
      local at = redis.call('ZSCORE', expiry, page[i])
      if at and tonumber(at) > now then return page[i + 1] end
    end
    start = start + 16
  end
end

local out, listed, start = {ms(now)}, 0, 0
while listed < max do
  local page = redis.call('ZRANGE', KEYS[1], start, start + 255, 'REV')
  if #page == 0 then break end
  for _, sid in ipairs(page) do
    if listed >= max then break end
    local at = redis.call('ZSCORE', KEYS[2], sid)
    if at and tonumber(at) > now then
      local expiry = prefix .. sid .. ARGV[3]
      local count = redis.call('ZCOUNT', expiry, '(' .. ms(now), '+inf')
      local touched = lastTouch(prefix .. sid .. ARGV[2], expiry)
      if count > 0 and touched then
        local last = redis.call('ZRANGE', expiry, -1, -1, 'WITHSCORES')
        for _, v in ipairs({sid, tostring(count), touched, last[2]}) do out[#out + 1] = v end
        listed = listed + 1
      end
    end
  end
  start = start + 256
end
return out
`

// The scripts, sent by digest (EVALSHA) and loaded again when the server
// has forgotten them (a restart empties its script cache).
var (
	putItem       = redis.NewScript(putScript)
	readItems     = redis.NewScript(readScript)
	expireItem    = redis.NewScript(expireItemScript)
	expireSession = redis.NewScript(expireSessionScript)
	listSessions  = redis.NewScript(sessionsScript)
)
