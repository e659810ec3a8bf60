-- The express-json scenario: POST /json with a small JSON document (118 bytes) on every request.
-- The body must match JSON_BODY in harness/servers.js, which checks each server's answer to it.
wrk.method = "POST"
wrk.path = "/json"
wrk.body = '{"id":12345,"name":"Pegasus","tags":["http","node","fast"],"active":true,"score":9.5,"owner":{"login":"bench","id":1}}'
wrk.headers["Content-Type"] = "application/json"
