-- grants.sql: who may execute what, applied after every other code file.
-- The API's role may execute only rpc.call (SECURITY DEFINER, pinned
-- search_path), which dispatches to the route functions of schema api;
-- the worker's role only the worker's entry points. Nothing else in the
-- code schemas is reachable from outside.

REVOKE ALL ON SCHEMA rpc, api, lib, casework, directory, referral, report, worker
    FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA rpc, api, lib, casework,
    directory, referral, report, worker FROM PUBLIC;

GRANT USAGE ON SCHEMA rpc TO concord_api;
GRANT EXECUTE ON FUNCTION rpc.call(text, jsonb, jsonb, jsonb) TO concord_api;

GRANT USAGE ON SCHEMA worker TO concord_worker;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA worker TO concord_worker;
