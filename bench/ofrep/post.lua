-- wrk script: POST an OFREP evaluation request to the URL's path.
-- The client key comes from the environment (DAYLIGHT_KEY).
wrk.method = "POST"
wrk.body = '{"context":{"targetingKey":"u1","game":"omaha"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("DAYLIGHT_KEY") or "")
