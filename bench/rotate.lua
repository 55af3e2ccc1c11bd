-- wrk script: requests the paths listed in the file named by ORIGO_PATHS, in turn.
-- ORIGO_DELAY_MS=<n> makes every connection wait n ms before each request (a paced load, below
-- saturation, instead of as fast as possible).
local paths = {}
for line in io.lines(os.getenv("ORIGO_PATHS")) do
  if line ~= "" then paths[#paths + 1] = line end
end
local i = math.random(#paths)
local pause = tonumber(os.getenv("ORIGO_DELAY_MS") or "")
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
if pause then
  delay = function() return pause end
end
