"""Registry auth: users (bcrypt htpasswd), tokens (JWT), ACL, throttling.

* `users`      — the htpasswd file (`sealedreg user add|remove|list`)
* `tokens`     — the signing key and the access / refresh JWTs
* `scopes`     — `repository:NAME:pull,push` parsing
* `acl`        — who may do what, per namespace / repository glob
* `throttle`   — failed-login slowdown per client
* `service`    — the per-request decision and the start-up rule
* `middleware` — the /v2/ route → scope table, applied before any endpoint
* `caller`     — what endpoints may ask about the caller

See docs/auth.md.
"""
