-- wrk script for tests/bench/directory.sh: rotate directory searches over
-- metro areas, needs and languages so no single query stays hot.
local metros = {
	"40.71,-74.01", "34.05,-118.24", "41.88,-87.63", "29.76,-95.37",
	"33.45,-112.07", "39.95,-75.17", "47.61,-122.33", "39.74,-104.99",
	"25.76,-80.19", "33.75,-84.39", "42.36,-71.06", "37.77,-122.42",
}
local needs = { "housing", "food", "legal_representation", "medical_care",
	"case_management", "mental_health_care_emergency", "transportation" }
local langs = { "es", "zh", "vi", "ko", "en", "ru" }
local token = os.getenv("TOKEN")
local limit = os.getenv("LIMIT") or "50"
local i = 0

request = function()
	i = i + 1
	local path = string.format(
	    "/v1/services?need=%s&near=%s&radius_km=50&language=%s&limit=%s",
	    needs[i % #needs + 1], metros[i % #metros + 1],
	    langs[i % #langs + 1], limit)
	return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end
