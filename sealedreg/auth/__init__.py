"""Who may do what (docs/auth.md). Auth answers; the API renders.

* `users`     — the htpasswd file (`sealedreg user add|remove|list`)
* `tokens`    — the signing key and the access / refresh JWTs
* `scopes`    — `repository:NAME:pull,push` parsing
* `acl`       — who may do what, per namespace / repository glob
* `throttle`  — failed-login slowdown per client
* `login`     — password checks: bcrypt, throttled, briefly cached
* `identity`  — the values decisions are made of: Identity, Need, Refusal
* `authorize` — the per-request decision: an Identity or a Refusal
* `startup`   — the mode in force, the start-up rule, building it all once
* `caller`    — what endpoints may ask about the caller

Each route's need sits with the route (`sealedreg.api.access`); the API
applies it and renders refusals as OCI error responses.
"""
