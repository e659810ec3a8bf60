-- The echo scenario: POST /echo/a/b/c?foo=echo&bar=69 with a 1 KiB text body on every request.
-- The body must match ECHO_BODY in harness/servers.js, which checks each server's answer to it.
wrk.method = "POST"
wrk.path = "/echo/a/b/c?foo=echo&bar=69"
wrk.body = string.rep("0123456789abcdef", 64)
wrk.headers["Content-Type"] = "text/plain; charset=utf-8"
