// The Lua scripts every change to the shared state goes through. Each one bumps the generation counter
// (<prefix>gen) and publishes "<generation>|<message>" on the change channel in the same atomic step, so a replica
// can order what it hears, and a counter lower than one seen before means Redis lost data (restarted empty or from an
// older snapshot).

/**
 * KEYS gen, doc; ARGV channel, message, expected ('*' anything, '-' absent, or the generation it must still have),
 * text, at. Returns the new generation, 0 when the document was not as expected.
 */
export const DOC_SET = `
if ARGV[3] ~= '*' then
  local cur = redis.call('HGET', KEYS[2], 'g')
  if ARGV[3] == '-' then
    if cur then return 0 end
  elseif cur ~= ARGV[3] then
    return 0
  end
end
local g = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], 'v', ARGV[4], 't', ARGV[5], 'g', g)
redis.call('PUBLISH', ARGV[1], g .. '|' .. ARGV[2])
return g
`;

/** KEYS gen, doc; ARGV text, at. Returns {text, at, generation} of whichever value is stored afterwards. */
export const DOC_CLAIM = `
local cur = redis.call('HMGET', KEYS[2], 'v', 't', 'g')
if cur[1] then return cur end
local g = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], 'v', ARGV[1], 't', ARGV[2], 'g', g)
return {ARGV[1], ARGV[2], tostring(g)}
`;

/**
 * KEYS gen, map, marks; ARGV channel, mode ('set', 'nx' = only absent fields, 'del'), then (field, text, message)
 * triples. Publishes one message per field written; returns the generation (0 when nothing was written).
 */
export const MAP_WRITE = `
local g = 0
for i = 3, #ARGV, 3 do
  local f = ARGV[i]
  local wrote = true
  if ARGV[2] == 'del' then
    redis.call('HDEL', KEYS[2], f)
    redis.call('HDEL', KEYS[3], f)
  elseif ARGV[2] == 'nx' then
    wrote = redis.call('HSETNX', KEYS[2], f, ARGV[i + 1]) == 1
  else
    redis.call('HSET', KEYS[2], f, ARGV[i + 1])
  end
  if wrote then
    if g == 0 then g = redis.call('INCR', KEYS[1]) end
    redis.call('PUBLISH', ARGV[1], g .. '|' .. ARGV[i + 2])
  end
end
return g
`;

/** KEYS map, marks; ARGV (field, ms) pairs. Raises the marks of existing fields; returns every mark (HGETALL). */
export const MAP_TOUCH = `
for i = 1, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[i])) or 0
    if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
  end
end
return redis.call('HGETALL', KEYS[2])
`;

/** KEYS gen, stream; ARGV channel, message, keep, item. */
export const LOG_APPEND = `
local g = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'i', ARGV[4])
redis.call('PUBLISH', ARGV[1], g .. '|' .. ARGV[2])
return g
`;
