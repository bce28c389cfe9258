-- Reserves one request in every scope or in none (the same rules as src/local/scope.rs).
--
-- Runs after settle.lua in the same script (see there): its KEYS and ARGV come after the
-- settles', so the indices below are offset by `settled_keys` and `settled_args`.
--
-- KEYS, three per scope i: [3i-2] window hash (fields r<second>, t<second>), [3i-1] budget hash
-- (dp, ds, dr: day index, spent, reserved; mp, ms, mr: the same for the month), [3i] in-flight
-- sorted set (members "id|day|day amount|month|month amount", scored by lease expiry in ms).
-- ARGV: [1] lease ms, [2] grant id, [3] number of scopes, then eight per scope: rpm, tpm,
-- concurrent, day cap, month cap ('' = unlimited), tokens to take, day amount, month amount
-- (computed by the caller: estimate capped at the limit).
-- Returns {1, second, day, month, headroom...} or {0, scope (0-based), limit code, retry ms,
-- headroom...}; headroom: has requests, limit, remaining, reset ms, the same for tokens.

local SLOTS = 61
local DAY_MS = 86400000

local time = redis.call('TIME')
local now_s = tonumber(time[1])
local now_ms = now_s * 1000 + math.floor(tonumber(time[2]) / 1000)
local day = math.floor(now_s / 86400)
local day_end = (day + 1) * DAY_MS

-- Days since the epoch of a Gregorian date, and back (Howard Hinnant's algorithms).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m > 2) and (m - 3) or (m + 9)
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = (mp < 10) and (mp + 3) or (mp - 9)
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m
end

local year, mon = civil_from_days(day)
local month = year * 12 + mon - 1
local next_year, next_mon = year, mon + 1
if next_mon == 13 then next_year, next_mon = year + 1, 1 end
local month_end = days_from_civil(next_year, next_mon, 1) * DAY_MS

-- Integers as Redis arguments: never in exponent notation.
local function int(x)
  return string.format('%d', x)
end

local function opt(v)
  if v == '' then return nil end
  return tonumber(v)
end

local function leaves_in(second)
  return math.max((second + SLOTS) * 1000 - now_ms, 1)
end

local lease_ms = tonumber(ARGV[settled_args + 1])
local id = ARGV[settled_args + 2]
local n = tonumber(ARGV[settled_args + 3])

-- Phase 1: read (and tidy) every scope; stop at the first without room.
local scopes = {}
local refused = nil
for i = 1, n do
  local a = settled_args + 3 + (i - 1) * 8
  local s = {
    w = KEYS[settled_keys + 3 * i - 2], b = KEYS[settled_keys + 3 * i - 1], f = KEYS[settled_keys + 3 * i],
    rpm = opt(ARGV[a + 1]), tpm = opt(ARGV[a + 2]), conc = opt(ARGV[a + 3]),
    dcap = opt(ARGV[a + 4]), mcap = opt(ARGV[a + 5]),
    need = ARGV[a + 6], damt = ARGV[a + 7], mamt = ARGV[a + 8],
    reqs = {}, toks = {}, requests = 0, tokens = 0,
  }
  s.limited = s.rpm or s.tpm or s.conc or s.dcap or s.mcap
  s.lease = s.conc or s.dcap or s.mcap
  scopes[i] = s
  if s.limited then
    -- Budgets move to the current periods.
    local dp, ds, dr, mp, ms, mr = 0, 0, 0, 0, 0, 0
    if s.dcap or s.mcap then
      local v = redis.call('HMGET', s.b, 'dp', 'ds', 'dr', 'mp', 'ms', 'mr')
      dp, ds, dr = tonumber(v[1]), tonumber(v[2]) or 0, tonumber(v[3]) or 0
      mp, ms, mr = tonumber(v[4]), tonumber(v[5]) or 0, tonumber(v[6]) or 0
      if s.dcap and dp ~= day then
        redis.call('HSET', s.b, 'dp', int(day), 'ds', 0, 'dr', 0)
        dp, ds, dr = day, 0, 0
      end
      if s.mcap and mp ~= month then
        redis.call('HSET', s.b, 'mp', int(month), 'ms', 0, 'mr', 0)
        mp, ms, mr = month, 0, 0
      end
      redis.call('PEXPIRE', s.b, int(month_end - now_ms + DAY_MS))
    end
    -- Expired leases give back what they reserved.
    if s.lease then
      local expired = redis.call('ZRANGEBYSCORE', s.f, '-inf', int(now_ms))
      for _, member in ipairs(expired) do
        local ld, lda, lm, lma = string.match(member, '^[^|]*|([^|]*)|(%d+)|([^|]*)|(%d+)$')
        if ld and ld ~= '' and tonumber(ld) == dp and lda ~= '0' then
          redis.call('HINCRBY', s.b, 'dr', '-' .. lda)
          dr = dr - tonumber(lda)
        end
        if lm and lm ~= '' and tonumber(lm) == mp and lma ~= '0' then
          redis.call('HINCRBY', s.b, 'mr', '-' .. lma)
          mr = mr - tonumber(lma)
        end
      end
      if #expired > 0 then
        redis.call('ZREMRANGEBYSCORE', s.f, '-inf', int(now_ms))
      end
    end
    -- The sliding minute: seconds that left it are deleted.
    if s.rpm or s.tpm then
      local fields = redis.call('HGETALL', s.w)
      local stale = {}
      for j = 1, #fields, 2 do
        local field = fields[j]
        local second = tonumber(string.sub(field, 2))
        if second + SLOTS <= now_s then
          stale[#stale + 1] = field
        elseif second <= now_s then
          local v = tonumber(fields[j + 1])
          if string.sub(field, 1, 1) == 'r' then
            s.reqs[second] = v
            s.requests = s.requests + v
          else
            s.toks[second] = v
            s.tokens = s.tokens + v
          end
        end
      end
      if #stale > 0 then
        redis.call('HDEL', s.w, unpack(stale))
      end
    end
    -- Of the limits without room, the one that frees last (ties: the first).
    local worst, worst_retry = nil, -1
    local function refuse(code, retry)
      if retry > worst_retry then worst, worst_retry = code, retry end
    end
    if s.rpm and s.requests >= s.rpm then
      local left = s.requests
      local retry = SLOTS * 1000
      for second = now_s - SLOTS + 1, now_s do
        left = left - (s.reqs[second] or 0)
        if left < s.rpm then retry = leaves_in(second) break end
      end
      refuse(1, retry)
    end
    if s.tpm and s.tokens + tonumber(s.need) > s.tpm then
      local left = s.tokens
      local retry = SLOTS * 1000
      for second = now_s - SLOTS + 1, now_s do
        left = left - (s.toks[second] or 0)
        if left + tonumber(s.need) <= s.tpm then retry = leaves_in(second) break end
      end
      refuse(2, retry)
    end
    if s.conc and redis.call('ZCARD', s.f) >= s.conc then
      refuse(3, 1000)
    end
    if s.dcap and ds + dr + tonumber(s.damt) > s.dcap then
      refuse(4, math.max(day_end - now_ms, 1))
    end
    if s.mcap and ms + mr + tonumber(s.mamt) > s.mcap then
      refuse(5, math.max(month_end - now_ms, 1))
    end
    if worst then
      refused = {i - 1, worst, worst_retry}
      break
    end
  end
end

-- The first scope's windows (after this reservation when taken).
local function headroom(taken)
  local s = scopes[1]
  local out = {0, 0, 0, 0, 0, 0, 0, 0}
  if not s or not s.limited then return out end
  local function window(limit, used, by_second, added)
    local reset = 0
    for second = now_s - SLOTS + 1, now_s do
      local v = by_second[second] or 0
      if second == now_s then v = v + added end
      if v > 0 then reset = leaves_in(second) break end
    end
    return {1, limit, math.max(limit - used - added, 0), reset}
  end
  if s.rpm then
    local added = taken and 1 or 0
    local r = window(s.rpm, s.requests, s.reqs, added)
    out[1], out[2], out[3], out[4] = r[1], r[2], r[3], r[4]
  end
  if s.tpm then
    local added = taken and tonumber(s.need) or 0
    local r = window(s.tpm, s.tokens, s.toks, added)
    out[5], out[6], out[7], out[8] = r[1], r[2], r[3], r[4]
  end
  return out
end

local function reply(head, tail)
  for _, v in ipairs(tail) do head[#head + 1] = v end
  return head
end

if refused then
  return reply({0, refused[1], refused[2], refused[3]}, headroom(false))
end

-- Phase 2: take from every scope.
for i = 1, n do
  local s = scopes[i]
  if s.limited then
    if s.rpm or s.tpm then
      if s.rpm then redis.call('HINCRBY', s.w, 'r' .. int(now_s), 1) end
      if s.tpm then redis.call('HINCRBY', s.w, 't' .. int(now_s), s.need) end
      redis.call('PEXPIRE', s.w, (SLOTS + 1) * 1000)
    end
    if s.dcap and s.damt ~= '0' then redis.call('HINCRBY', s.b, 'dr', s.damt) end
    if s.mcap and s.mamt ~= '0' then redis.call('HINCRBY', s.b, 'mr', s.mamt) end
    if s.lease then
      local member = id .. '|' .. (s.dcap and int(day) or '') .. '|' .. s.damt .. '|' .. (s.mcap and int(month) or '') .. '|' .. s.mamt
      redis.call('ZADD', s.f, int(now_ms + lease_ms), member)
      redis.call('PEXPIRE', s.f, int(lease_ms + 60000))
    end
  end
end

return reply({1, now_s, day, month}, headroom(true))
