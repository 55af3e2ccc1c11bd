-- wrk script: requests the paths listed in the file named by ORIGO_PATHS, in turn.
local paths = {}
for line in io.lines(os.getenv("ORIGO_PATHS")) do
  if line ~= "" then paths[#paths + 1] = line end
end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
