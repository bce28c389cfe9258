-- Ends reservations taken by reserve.lua: settles them with the real usage (or the estimate) or
-- cancels them (the same rules as ScopeState::end in src/local/scope.rs).
--
-- This is the first part of two scripts: alone (with `return 1` after it) it is a settle call;
-- in front of reserve.lua it lets a reservation carry the settles queued since the last call, so
-- a request costs one round trip, not two. It reads its KEYS and ARGV from the start and leaves
-- `settled_keys` and `settled_args`, how many of each it read, for the part after it.
--
-- KEYS: three per scope, as in reserve.lua. ARGV: [1] number of scopes, then ten per scope:
-- second taken in, requests to add, tokens to add (signed), in-flight member ('' = none),
-- day index ('' = no daily budget), day reserved to give back, day spent to add, then the same
-- three for the month. Amounts are integers as strings, so sums stay exact.

local SLOTS = 61
local now_s = tonumber(redis.call('TIME')[1])
local n = tonumber(ARGV[1])

-- Gives back a period's reservation (if the lease still held it) and counts the spend, when the
-- budget is still in that period.
local function settle_period(b, index_field, reserved_field, spent_field, index, reserved, spent, released)
  if index == '' then return end
  local current = redis.call('HGET', b, index_field)
  if not current or tonumber(current) ~= tonumber(index) then return end
  if released and reserved ~= '0' then
    redis.call('HINCRBY', b, reserved_field, '-' .. reserved)
  end
  if spent ~= '0' then
    redis.call('HINCRBY', b, spent_field, spent)
  end
end

for i = 1, n do
  local a = 1 + (i - 1) * 10
  local w, b, f = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local second = ARGV[a + 1]
  local requests, tokens, member = ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  if tonumber(second) + SLOTS > now_s then
    if requests ~= '0' and redis.call('HEXISTS', w, 'r' .. second) == 1 then
      redis.call('HINCRBY', w, 'r' .. second, requests)
    end
    if tokens ~= '0' and redis.call('HEXISTS', w, 't' .. second) == 1 then
      redis.call('HINCRBY', w, 't' .. second, tokens)
    end
  end
  local released = member ~= '' and redis.call('ZREM', f, member) == 1
  settle_period(b, 'dp', 'dr', 'ds', ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], released)
  settle_period(b, 'mp', 'mr', 'ms', ARGV[a + 8], ARGV[a + 9], ARGV[a + 10], released)
end

local settled_keys, settled_args = 3 * n, 1 + 10 * n
