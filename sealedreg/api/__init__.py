"""HTTP (Starlette): one module per route family, the route table in `app`.

* `app`        — the route table and the app's lifespan
* `access`     — what each route needs, and the middleware that asks auth
* `base`, `blobs`, `uploads`, `manifests`, `tags`, `referrers`, `catalog` — the /v2/ API
* `token`      — the built-in token service (`/token`)
* `gateway`    — the trustless IPFS gateway (`/ipfs/<cid>`)
* `errors`     — OCI error bodies and the code → status table
* `common`, `ranges` — parameters and headers every route shares

Routes talk to the model only through `sealedreg.registry.service.Registry`.
"""
