"""The registry index: what content exists and which repository may see it.

SQLite (WAL) under the data directory. A row is written only after the
content it points at is durable in the store, so the index never names
something that is not there (docs/api.md, docs/format.md §3). Every public
method is async and runs its SQL in a worker thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from anyio import to_thread

T = TypeVar("T")

BUSY_TIMEOUT = 30.0
"""Seconds a statement waits for another process's write (a CLI `gc`, `import`
or `publish` beside `serve`) before failing: one writer at a time is SQLite's
rule, and none of ours holds it for long."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    digest TEXT NOT NULL,
    domain TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_id TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (digest, domain)
);
CREATE INDEX IF NOT EXISTS blobs_by_content ON blobs (content_id);
CREATE TABLE IF NOT EXISTS repo_blobs (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    domain TEXT NOT NULL,
    linked REAL,                 -- when last pushed or mounted here: GC's grace period counts from it
    PRIMARY KEY (repo, digest)
);
CREATE TABLE IF NOT EXISTS dag_blocks (
    cid TEXT NOT NULL,
    root TEXT NOT NULL,
    PRIMARY KEY (cid, root)
);
CREATE INDEX IF NOT EXISTS dag_blocks_by_root ON dag_blocks (root);
CREATE TABLE IF NOT EXISTS manifests (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    domain TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    subject TEXT,
    artifact_type TEXT,
    annotations TEXT,
    created REAL NOT NULL,
    refs INTEGER,                -- 1: its blob references are in manifest_refs; NULL: not yet (GC reads it)
    PRIMARY KEY (repo, digest)
);
CREATE INDEX IF NOT EXISTS manifests_by_subject ON manifests (repo, subject);
CREATE TABLE IF NOT EXISTS manifest_refs (
    repo TEXT NOT NULL,
    manifest TEXT NOT NULL,      -- a manifest of repo
    digest TEXT NOT NULL,        -- a blob (config or layer) it references: what GC marks
    PRIMARY KEY (repo, manifest, digest)
);
CREATE INDEX IF NOT EXISTS manifest_refs_by_blob ON manifest_refs (repo, digest);
CREATE INDEX IF NOT EXISTS manifest_refs_by_digest ON manifest_refs (digest);
CREATE TABLE IF NOT EXISTS namespaces (
    namespace TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    root TEXT NOT NULL,          -- the tree as published
    content_root TEXT NOT NULL   -- the tree without its descriptor: what seq counts changes of
);
CREATE TABLE IF NOT EXISTS repo_domains (
    repo TEXT PRIMARY KEY,
    domain TEXT NOT NULL        -- a rotated org domain: the repository's future content goes here
);
CREATE TABLE IF NOT EXISTS grants (
    repo TEXT NOT NULL,
    kid TEXT NOT NULL,
    box TEXT NOT NULL,
    PRIMARY KEY (repo, kid)
);
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (repo, tag)
);
CREATE INDEX IF NOT EXISTS tags_by_digest ON tags (repo, digest);
CREATE TABLE IF NOT EXISTS trees (
    root TEXT PRIMARY KEY,       -- every tree this registry published, until it expires
    namespace TEXT NOT NULL,
    seq INTEGER NOT NULL,
    expires INTEGER,             -- NULL: built before descriptors expired; served while current
    content_known INTEGER        -- 1: the blobs it links are in tree_content; NULL: not yet (GC reads it)
);
CREATE TABLE IF NOT EXISTS tree_content (
    root TEXT NOT NULL,          -- a published tree
    content_id TEXT NOT NULL,    -- a blob's root CID it links: kept, and served, while the tree is
    PRIMARY KEY (root, content_id)
);
CREATE INDEX IF NOT EXISTS tree_content_by_content ON tree_content (content_id);
CREATE TABLE IF NOT EXISTS quarantine (
    digest TEXT NOT NULL,        -- content `sealedreg fsck --repair` found damaged and forgot:
    domain TEXT NOT NULL,        -- a later push of the same bytes stores it afresh
    content_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS gc_sweep (
    cid TEXT NOT NULL,           -- released by a collection whose rows are gone; its bytes go next
    kind TEXT NOT NULL,          -- "block": a block to delete; "root": a DAG root to unpin
    PRIMARY KEY (cid, kind)
);
CREATE TABLE IF NOT EXISTS tree_blocks (
    cid TEXT NOT NULL,           -- a tree's own blocks (directories, small files), served by the gateway
    root TEXT NOT NULL,
    PRIMARY KEY (cid, root)
);
CREATE TABLE IF NOT EXISTS ipns_records (
    namespace TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,   -- the IPNS name (k51…) of the namespace's signing key
    record BLOB NOT NULL         -- the latest signed record, served at /ipns/<name>
);
CREATE TABLE IF NOT EXISTS seen (
    namespace TEXT NOT NULL,     -- a foreign namespace this registry pulled from
    key TEXT NOT NULL,           -- the signing key its descriptor verified against (ed25519:…)
    seq INTEGER NOT NULL,        -- the highest seq verified under that key: nothing older is accepted
    PRIMARY KEY (namespace, key) -- per key, so a forged key's huge seq cannot lock out the real one
);
CREATE TABLE IF NOT EXISTS rotations (
    namespace TEXT NOT NULL,     -- a foreign namespace whose publisher rotated its signing key
    old TEXT NOT NULL,           -- the key it rotated away from (ed25519:…): never trusted again here
    new TEXT NOT NULL,           -- the key it rotated to; both signed the descriptor that said so
    seq INTEGER NOT NULL,        -- the seq of that descriptor
    PRIMARY KEY (namespace, old)
);
CREATE TABLE IF NOT EXISTS unlinked_blobs (
    repo TEXT NOT NULL,          -- a blob DELETEd from this repository: automatic content discovery
    digest TEXT NOT NULL,        -- never links it back; a push or a mount naming it does
    PRIMARY KEY (repo, digest)
);
"""

_MIGRATIONS = (
    ("namespaces", "expires", "ALTER TABLE namespaces ADD COLUMN expires INTEGER"),
    ("repo_blobs", "linked", "ALTER TABLE repo_blobs ADD COLUMN linked REAL"),
    ("manifests", "refs", "ALTER TABLE manifests ADD COLUMN refs INTEGER"),
    ("trees", "content_known", "ALTER TABLE trees ADD COLUMN content_known INTEGER"),
)


@dataclass(frozen=True)
class BlobRecord:
    digest: str
    size: int  # plaintext bytes
    content_id: str  # root CID of the ciphertext DAG
    domain: str  # dedupe domain: "global" or "org:<namespace>"


@dataclass(frozen=True)
class Garbage:
    """What a collection found nothing keeps any more."""

    links: int  # (repository, blob) links no manifest references, older than the grace period
    blobs: int  # stored blobs (and manifests' content) no repository, manifest or live tree keeps
    blob_bytes: int  # their plaintext bytes
    trees: int  # published trees that expired and are no longer current
    blocks: list[str]  # blocks only they used
    roots: list[str]  # their DAG roots (what an IPFS node has pinned)


@dataclass(frozen=True)
class ManifestRecord:
    repo: str
    digest: str
    domain: str
    media_type: str
    size: int
    subject: str | None
    artifact_type: str | None
    annotations: dict[str, str] | None


class Index:
    def __init__(self, path: Path, readonly: bool = False) -> None:
        self._lock = threading.Lock()
        if readonly:  # alongside a running server: WAL lets us read while it writes
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT,
                                       isolation_level=None)
            return
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        for table, column, statement in _MIGRATIONS:
            if column not in [row[1] for row in self._db.execute(f"PRAGMA table_info({table})")]:
                self._db.execute(statement)
        # An index from before `trees` existed: its current trees get a row (what they
        # link unknown), so garbage collection reads them before it collects anything.
        self._db.execute("INSERT OR IGNORE INTO trees (root, namespace, seq, expires) "
                         "SELECT root, namespace, seq, expires FROM namespaces")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    async def ping(self) -> None:
        """Answer a trivial query (readiness); raises if the database cannot."""
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return fn(self._db)

        return await to_thread.run_sync(locked)

    async def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def tx(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return await self._run(tx)

    # -- blobs ------------------------------------------------------------
    async def blob(self, digest: str, domain: str) -> BlobRecord | None:
        row = await self._run(lambda db: db.execute(
            "SELECT digest, size, content_id, domain FROM blobs WHERE digest = ? AND domain = ?",
            (digest, domain)).fetchone())
        return BlobRecord(*row) if row else None

    async def repo_blob(self, repo: str, digest: str) -> BlobRecord | None:
        """The blob, if `repo` may see it."""
        row = await self._run(lambda db: db.execute(
            "SELECT b.digest, b.size, b.content_id, b.domain FROM repo_blobs r "
            "JOIN blobs b ON b.digest = r.digest AND b.domain = r.domain "
            "WHERE r.repo = ? AND r.digest = ?", (repo, digest)).fetchone())
        return BlobRecord(*row) if row else None

    async def add_blob(self, repo: str | None, record: BlobRecord, blocks: tuple[str, ...] = ()) -> None:
        """Record stored content (and the blocks of its DAG); link it into `repo`."""
        def add(db: sqlite3.Connection) -> None:
            _insert_blob(db, record, blocks)
            if repo is not None:
                _link(db, repo, record)

        await self._tx(add)

    async def link_blob(self, repo: str, record: BlobRecord) -> None:
        """Make a known blob visible in `repo` (again: its grace period starts over)."""
        await self._tx(lambda db: _link(db, repo, record))

    async def unlink_blob(self, repo: str, digest: str) -> bool:
        """Remove the blob from `repo` (a `DELETE`); False if it was not there."""
        def unlink(db: sqlite3.Connection) -> bool:
            if db.execute("DELETE FROM repo_blobs WHERE repo = ? AND digest = ?", (repo, digest)).rowcount == 0:
                return False
            db.execute("INSERT OR IGNORE INTO unlinked_blobs (repo, digest) VALUES (?, ?)", (repo, digest))
            return True

        return await self._tx(unlink)

    async def link_discovered(self, repo: str, record: BlobRecord) -> bool:
        """Link a blob found by automatic content discovery, unless it was
        deleted from `repo` (and not pushed or mounted there since): checked
        and linked in one transaction, so a `DELETE` committing meanwhile
        is never undone."""
        def link(db: sqlite3.Connection) -> bool:
            if db.execute("SELECT 1 FROM unlinked_blobs WHERE repo = ? AND digest = ?",
                          (repo, record.digest)).fetchone():
                return False
            _link(db, repo, record)
            return True

        return await self._tx(link)

    async def missing_blobs(self, repo: str, digests: list[str]) -> list[str]:
        def find(db: sqlite3.Connection) -> list[str]:
            return [d for d in digests if not db.execute(
                "SELECT 1 FROM repo_blobs WHERE repo = ? AND digest = ?", (repo, d)).fetchone()]

        return await self._run(find)

    async def block_is_live(self, cid: str, now: float | None = None) -> bool:
        """True when `cid` is a block of a blob or manifest some repository still
        holds, or of a published tree that is current or not yet expired, or of
        a blob such a tree links: what GC keeps is what the gateway serves."""
        now = time.time() if now is None else now
        row = await self._run(lambda db: db.execute(
            "SELECT 1 FROM dag_blocks d JOIN blobs b ON b.content_id = d.root WHERE d.cid = ? AND ("
            " EXISTS (SELECT 1 FROM repo_blobs r WHERE r.digest = b.digest AND r.domain = b.domain) OR"
            " EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest AND m.domain = b.domain))"
            " UNION ALL SELECT 1 FROM tree_blocks tb JOIN trees t ON t.root = tb.root WHERE tb.cid = ? AND"
            " (t.expires > ? OR t.root IN (SELECT root FROM namespaces))"
            " UNION ALL SELECT 1 FROM dag_blocks d JOIN tree_content tc ON tc.content_id = d.root"
            " JOIN trees t ON t.root = tc.root WHERE d.cid = ? AND"
            " (t.expires > ? OR t.root IN (SELECT root FROM namespaces)) LIMIT 1",
            (cid, cid, now, cid, now)).fetchone())
        return row is not None

    # -- manifests and tags -------------------------------------------------
    async def put_manifest(self, record: ManifestRecord, content: BlobRecord, blocks: tuple[str, ...],
                           tags: list[str], refs: list[str] | None = None) -> None:
        """Record a stored manifest, its tags and (`refs`) the blobs it references."""
        await self._tx(lambda db: _put_manifest(db, record, content, blocks, tags, refs))

    async def manifest(self, repo: str, digest: str) -> tuple[ManifestRecord, BlobRecord] | None:
        """The manifest record and where its bytes are stored."""
        row = await self._run(lambda db: db.execute(
            f"SELECT {_MANIFEST_COLUMNS}, b.content_id FROM manifests m "
            "JOIN blobs b ON b.digest = m.digest AND b.domain = m.domain WHERE m.repo = ? AND m.digest = ?",
            (repo, digest)).fetchone())
        if not row:
            return None
        record = _manifest_record(row[:8])
        return record, BlobRecord(record.digest, record.size, row[8], record.domain)

    async def missing_manifests(self, repo: str, digests: list[str]) -> list[str]:
        def find(db: sqlite3.Connection) -> list[str]:
            return [d for d in digests if not db.execute(
                "SELECT 1 FROM manifests WHERE repo = ? AND digest = ?", (repo, d)).fetchone()]

        return await self._run(find)

    async def tag(self, repo: str, tag: str) -> str | None:
        row = await self._run(lambda db: db.execute(
            "SELECT digest FROM tags WHERE repo = ? AND tag = ?", (repo, tag)).fetchone())
        return row[0] if row else None

    async def tags(self, repo: str, last: str | None, limit: int | None) -> list[str]:
        return await self._page("SELECT tag AS k FROM tags WHERE repo = ?", [repo], last, limit)

    async def _page(self, select: str, args: list[Any], last: str | None, limit: int | None) -> list[str]:
        """One page of the single column `k` of `select`, in order, after `last`."""
        after = " WHERE k > ?" if last is not None else ""  # a plain range: SQLite seeks the index
        sql = f"SELECT k FROM ({select}){after} ORDER BY k LIMIT ?"
        params = [*args, *([last] if last is not None else []), -1 if limit is None else limit]
        rows = await self._run(lambda db: db.execute(sql, params).fetchall())
        return [r[0] for r in rows]

    async def import_image(self, repo: str, blobs: list[tuple[BlobRecord, tuple[str, ...]]],
                           manifests: list[tuple[ManifestRecord, BlobRecord, tuple[str, ...], list[str]]]) -> None:
        """Make a whole imported image visible at once, or nothing of it."""
        def put(db: sqlite3.Connection) -> None:
            for record, blocks in blobs:
                _insert_blob(db, record, blocks)
                _link(db, repo, record)
            for record, content, blocks, tags in manifests:
                _put_manifest(db, record, content, blocks, tags)

        await self._tx(put)

    async def delete_manifest(self, repo: str, digest: str) -> bool:
        """Remove a manifest and every tag that points at it."""
        def delete(db: sqlite3.Connection) -> bool:
            cur = db.execute("DELETE FROM manifests WHERE repo = ? AND digest = ?", (repo, digest))
            db.execute("DELETE FROM tags WHERE repo = ? AND digest = ?", (repo, digest))
            db.execute("DELETE FROM manifest_refs WHERE repo = ? AND manifest = ?", (repo, digest))
            return cur.rowcount > 0

        return await self._tx(delete)

    async def delete_tag(self, repo: str, tag: str) -> bool:
        cur = await self._run(lambda db: db.execute("DELETE FROM tags WHERE repo = ? AND tag = ?", (repo, tag)))
        return cur.rowcount > 0

    async def referrers(self, repo: str, subject: str, artifact_type: str | None) -> list[ManifestRecord]:
        sql = f"SELECT {_MANIFEST_COLUMNS} FROM manifests m WHERE m.repo = ? AND m.subject = ?"
        args: list[Any] = [repo, subject]
        if artifact_type is not None:
            sql += " AND m.artifact_type = ?"
            args.append(artifact_type)
        sql += " ORDER BY m.created, m.digest"
        rows = await self._run(lambda db: db.execute(sql, args).fetchall())
        return [_manifest_record(r) for r in rows]

    # -- namespaces ---------------------------------------------------------
    async def namespace_refs(self, namespace: str) -> set[tuple[str, str]]:
        """(repo, blob digest) for every blob a manifest of the namespace references."""
        prefix = namespace + "/"
        rows = await self._run(lambda db: db.execute(
            "SELECT DISTINCT repo, digest FROM manifest_refs WHERE repo = ? OR substr(repo, 1, ?) = ?",
            (namespace, len(prefix), prefix)).fetchall())
        return {(repo, digest) for repo, digest in rows}

    async def namespace_content(self, namespace: str) -> tuple[list[tuple[str, BlobRecord]],
                                                                 list[tuple[str, BlobRecord]],
                                                                 list[tuple[str, str, str]]]:
        """Everything the namespace's repositories hold:
        ((repo, blob), (repo, manifest content), (repo, tag, digest))."""
        prefix = namespace + "/"

        def gather(db: sqlite3.Connection):
            in_ns = "(repo = ? OR substr(repo, 1, ?) = ?)"
            args = (namespace, len(prefix), prefix)
            blobs = db.execute(
                "SELECT r.repo, b.digest, b.size, b.content_id, b.domain FROM repo_blobs r JOIN blobs b "
                f"ON b.digest = r.digest AND b.domain = r.domain WHERE {in_ns.replace('repo', 'r.repo')} "
                "ORDER BY r.repo, b.digest", args).fetchall()
            manifests = db.execute(
                "SELECT m.repo, m.digest, m.size, b.content_id, m.domain FROM manifests m JOIN blobs b "
                f"ON b.digest = m.digest AND b.domain = m.domain WHERE {in_ns.replace('repo', 'm.repo')} "
                "ORDER BY m.repo, m.digest", args).fetchall()
            tags = db.execute(f"SELECT repo, tag, digest FROM tags WHERE {in_ns} ORDER BY repo, tag", args).fetchall()
            return blobs, manifests, tags

        blobs, manifests, tags = await self._run(gather)
        return ([(row[0], BlobRecord(*row[1:])) for row in blobs],
                [(repo, BlobRecord(digest, size, cid, domain)) for repo, digest, size, cid, domain in manifests],
                [tuple(row) for row in tags])

    async def repos_with_blob(self, digest: str, domain: str) -> list[str]:
        rows = await self._run(lambda db: db.execute(
            "SELECT repo FROM repo_blobs WHERE digest = ? AND domain = ?", (digest, domain)).fetchall())
        return [r[0] for r in rows]

    async def repo_domain(self, repo: str) -> str | None:
        row = await self._run(lambda db: db.execute(
            "SELECT domain FROM repo_domains WHERE repo = ?", (repo,)).fetchone())
        return row[0] if row else None

    async def set_repo_domain(self, repo: str, domain: str) -> None:
        await self._tx(lambda db: db.execute(
            "INSERT OR REPLACE INTO repo_domains (repo, domain) VALUES (?, ?)", (repo, domain)))

    async def grants(self, repo: str) -> dict[str, str]:
        """Recipients granted `repo` besides its organisation: kid → x25519 key text."""
        rows = await self._run(lambda db: db.execute(
            "SELECT kid, box FROM grants WHERE repo = ? ORDER BY kid", (repo,)).fetchall())
        return dict(rows)

    async def grant(self, repo: str, kid: str, box: str) -> None:
        await self._tx(lambda db: db.execute(
            "INSERT OR REPLACE INTO grants (repo, kid, box) VALUES (?, ?, ?)", (repo, kid, box)))

    async def revoke(self, repo: str, kid: str) -> bool:
        cur = await self._run(lambda db: db.execute("DELETE FROM grants WHERE repo = ? AND kid = ?", (repo, kid)))
        return cur.rowcount > 0

    async def namespace_state(self, namespace: str) -> tuple[int, str, str, int | None] | None:
        """(seq, root, content root, expires) of the namespace's last built tree."""
        row = await self._run(lambda db: db.execute(
            "SELECT seq, root, content_root, expires FROM namespaces WHERE namespace = ?", (namespace,)).fetchone())
        return (row[0], row[1], row[2], row[3]) if row else None

    async def set_namespace_state(self, namespace: str, seq: int, root: str, content_root: str,
                                  expires: int | None = None, blocks: tuple[str, ...] = (),
                                  content: tuple[str, ...] = ()) -> None:
        """Record a newly built tree as the namespace's current one, its own
        blocks and the blobs it links (`content`), so the gateway serves them
        and GC keeps them until the tree expires."""
        def record(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO namespaces (namespace, seq, root, content_root, expires) "
                       "VALUES (?, ?, ?, ?, ?)", (namespace, seq, root, content_root, expires))
            db.execute("INSERT OR REPLACE INTO trees (root, namespace, seq, expires, content_known) "
                       "VALUES (?, ?, ?, ?, 1)", (root, namespace, seq, expires))
            db.executemany("INSERT OR IGNORE INTO tree_blocks (cid, root) VALUES (?, ?)",
                           [(cid, root) for cid in blocks])
            db.executemany("INSERT OR IGNORE INTO tree_content (root, content_id) VALUES (?, ?)",
                           [(root, cid) for cid in content])

        await self._tx(record)

    async def published_roots(self, namespace: str) -> list[str]:
        """Every tree root this registry built for `namespace`."""
        rows = await self._run(lambda db: db.execute("SELECT root FROM trees WHERE namespace = ?",
                                                     (namespace,)).fetchall())
        return [r[0] for r in rows]

    async def ipns_record(self, name: str) -> bytes | None:
        row = await self._run(lambda db: db.execute("SELECT record FROM ipns_records WHERE name = ?",
                                                    (name,)).fetchone())
        return bytes(row[0]) if row else None

    async def set_ipns_record(self, namespace: str, name: str, record: bytes) -> None:
        await self._tx(lambda db: db.execute(
            "INSERT OR REPLACE INTO ipns_records (namespace, name, record) VALUES (?, ?, ?)",
            (namespace, name, record)))

    async def seen_seq(self, namespace: str, key: str) -> int:
        """The highest descriptor seq verified for a foreign namespace under
        signing key `key` (0: never pulled)."""
        row = await self._run(lambda db: db.execute("SELECT seq FROM seen WHERE namespace = ? AND key = ?",
                                                    (namespace, key)).fetchone())
        return int(row[0]) if row else 0

    async def see_seq(self, namespace: str, key: str, seq: int) -> None:
        """Raise the highest seen seq of (namespace, key) (never lowers it)."""
        await self._tx(lambda db: db.execute(
            "INSERT INTO seen (namespace, key, seq) VALUES (?, ?, ?) "
            "ON CONFLICT(namespace, key) DO UPDATE SET seq = max(seq, excluded.seq)", (namespace, key, seq)))

    async def successor(self, namespace: str, key: str) -> str | None:
        """The key a foreign namespace's publisher rotated to from `key`, if it did."""
        row = await self._run(lambda db: db.execute("SELECT new FROM rotations WHERE namespace = ? AND old = ?",
                                                    (namespace, key)).fetchone())
        return str(row[0]) if row else None

    async def record_rotation(self, namespace: str, old: str, new: str, seq: int) -> None:
        """Remember that `old` was rotated to `new` at `seq` (the first sighting stays)."""
        await self._tx(lambda db: db.execute(
            "INSERT OR IGNORE INTO rotations (namespace, old, new, seq) VALUES (?, ?, ?, ?)",
            (namespace, old, new, seq)))

    # -- garbage collection (sealedreg.registry.gc) ---------------------------
    async def manifests_without_refs(self) -> list[tuple[str, str, str, BlobRecord]]:
        """(repo, digest, media type, where its bytes are) of every manifest whose
        blob references are not recorded yet: pushed before they were, or imported."""
        rows = await self._run(lambda db: db.execute(
            "SELECT m.repo, m.digest, m.media_type, m.size, b.content_id, m.domain FROM manifests m "
            "JOIN blobs b ON b.digest = m.digest AND b.domain = m.domain WHERE m.refs IS NULL").fetchall())
        return [(repo, digest, media_type, BlobRecord(digest, size, cid, domain))
                for repo, digest, media_type, size, cid, domain in rows]

    async def set_manifest_refs(self, repo: str, digest: str, refs: list[str]) -> None:
        """Record what a manifest read back references, unless it went meanwhile."""
        def record(db: sqlite3.Connection) -> None:
            if db.execute("SELECT 1 FROM manifests WHERE repo = ? AND digest = ? AND refs IS NULL",
                          (repo, digest)).fetchone():
                _set_refs(db, repo, digest, refs)

        await self._tx(record)

    async def trees_without_content(self, now: float) -> list[str]:
        """Every live tree whose own blocks and linked blobs are not recorded yet."""
        rows = await self._run(lambda db: db.execute(
            "SELECT root FROM trees WHERE content_known IS NULL AND "
            "(expires > ? OR root IN (SELECT root FROM namespaces)) ORDER BY root", (now,)).fetchall())
        return [r[0] for r in rows]

    async def stored_content(self, cids: list[str]) -> set[str]:
        """Which of `cids` are the root of a stored blob or manifest."""
        def find(db: sqlite3.Connection) -> set[str]:
            return {c for c in cids if db.execute("SELECT 1 FROM blobs WHERE content_id = ? LIMIT 1",
                                                   (c,)).fetchone()}

        return await self._run(find)

    async def set_tree_content(self, root: str, content: list[str], blocks: list[str]) -> None:
        """Record what a tree links (`content`: blobs' roots) and its own `blocks`."""
        def record(db: sqlite3.Connection) -> None:
            db.executemany("INSERT OR IGNORE INTO tree_content (root, content_id) VALUES (?, ?)",
                           [(root, cid) for cid in content])
            db.executemany("INSERT OR IGNORE INTO tree_blocks (cid, root) VALUES (?, ?)",
                           [(cid, root) for cid in blocks])
            db.execute("UPDATE trees SET content_known = 1 WHERE root = ?", (root,))

        await self._tx(record)

    async def collect(self, now: float, grace: float, dry_run: bool = False) -> "Garbage":
        """Mark and, unless `dry_run`, forget: in one transaction, find what
        nothing keeps any more (docs/operations.md "Garbage collection"), delete
        its rows and queue its blocks and roots in `gc_sweep` for the store to
        release. The caller holds the sweep lock, so no writer is between
        storing content and recording it."""
        return await self._tx(lambda db: _collect(db, now, now - grace, dry_run))

    async def pending_sweep(self) -> tuple[list[str], list[str]]:
        """(blocks, roots) queued by a collection and still unreferenced: a crash
        between forgetting and releasing leaves them here for the next run."""
        rows = await self._run(lambda db: db.execute(
            "SELECT cid, kind FROM gc_sweep s WHERE CASE kind "
            " WHEN 'block' THEN NOT EXISTS (SELECT 1 FROM dag_blocks WHERE cid = s.cid)"
            "  AND NOT EXISTS (SELECT 1 FROM tree_blocks WHERE cid = s.cid)"
            " ELSE NOT EXISTS (SELECT 1 FROM blobs WHERE content_id = s.cid)"
            "  AND NOT EXISTS (SELECT 1 FROM trees WHERE root = s.cid) END ORDER BY cid").fetchall())
        return [c for c, k in rows if k == "block"], [c for c, k in rows if k == "root"]

    async def swept(self) -> None:
        """The store released everything queued: empty the queue."""
        await self._run(lambda db: db.execute("DELETE FROM gc_sweep"))

    # -- consistency checks (sealedreg.registry.fsck) --------------------------
    async def all_content(self) -> list[BlobRecord]:
        """Every stored blob and manifest, in a stable order."""
        rows = await self._run(lambda db: db.execute(
            "SELECT digest, size, content_id, domain FROM blobs ORDER BY digest, domain").fetchall())
        return [BlobRecord(*row) for row in rows]

    async def holders(self, record: BlobRecord) -> list[str]:
        """Repositories that hold `record`, as a blob or as a manifest."""
        rows = await self._run(lambda db: db.execute(
            "SELECT repo FROM repo_blobs WHERE digest = ? AND domain = ? UNION "
            "SELECT repo FROM manifests WHERE digest = ? AND domain = ? ORDER BY 1",
            (record.digest, record.domain, record.digest, record.domain)).fetchall())
        return [r[0] for r in rows]

    async def dag_of(self, content_id: str) -> list[str]:
        """The blocks recorded for a stored DAG."""
        rows = await self._run(lambda db: db.execute("SELECT cid FROM dag_blocks WHERE root = ? ORDER BY cid",
                                                     (content_id,)).fetchall())
        return [r[0] for r in rows]

    async def live_trees(self, now: float) -> list[tuple[str, str, bool, list[str]]]:
        """(namespace, root, current, own blocks) of every tree current or not yet expired."""
        def find(db: sqlite3.Connection) -> list[tuple[str, str, bool, list[str]]]:
            current = {r[0] for r in db.execute("SELECT root FROM namespaces")}
            rows = db.execute("SELECT namespace, root FROM trees WHERE expires > ? OR root IN "
                              "(SELECT root FROM namespaces) ORDER BY namespace, seq", (now,)).fetchall()
            return [(ns, root, root in current,
                     [r[0] for r in db.execute("SELECT cid FROM tree_blocks WHERE root = ?", (root,))])
                    for ns, root in rows]

        return await self._run(find)

    async def expire_tree(self, root: str, now: float) -> None:
        """Stop serving a (damaged, no longer current) tree: it counts as expired from now."""
        await self._run(lambda db: db.execute("UPDATE trees SET expires = ? WHERE root = ? AND root NOT IN "
                                              "(SELECT root FROM namespaces)", (int(now), root)))

    async def quarantine(self, record: BlobRecord, reason: str) -> None:
        """Forget damaged content (its rows, not its repositories' links or
        manifests): reads then answer unknown, and the next push of the same
        bytes stores it afresh. Kept in `quarantine` for the record."""
        def forget(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM blobs WHERE digest = ? AND domain = ?", (record.digest, record.domain))
            if not db.execute("SELECT 1 FROM blobs WHERE content_id = ?", (record.content_id,)).fetchone():
                db.execute("DELETE FROM dag_blocks WHERE root = ?", (record.content_id,))
            db.execute("INSERT INTO quarantine (digest, domain, content_id, reason, at) VALUES (?, ?, ?, ?, ?)",
                       (record.digest, record.domain, record.content_id, reason, time.time()))

        await self._tx(forget)

    # -- repositories -------------------------------------------------------
    async def repo_exists(self, repo: str) -> bool:
        row = await self._run(lambda db: db.execute(
            "SELECT 1 FROM manifests WHERE repo = ? UNION ALL SELECT 1 FROM repo_blobs WHERE repo = ? LIMIT 1",
            (repo, repo)).fetchone())
        return row is not None

    async def repositories(self, last: str | None, limit: int | None) -> list[str]:
        return await self._page("SELECT repo AS k FROM manifests UNION SELECT repo FROM repo_blobs", [], last, limit)

    # -- browsing (the /ui/ page) --------------------------------------------
    async def browse_content(self) -> tuple[list[tuple[str, BlobRecord]], list[tuple[ManifestRecord, str]],
                                            list[tuple[str, str, str]]]:
        """Everything every repository holds, for the browse page (`registry.browse`):
        ((repo, blob), (manifest, its content id), (repo, tag, digest)), ordered by repository."""
        def gather(db: sqlite3.Connection):
            blobs = db.execute(
                "SELECT r.repo, b.digest, b.size, b.content_id, b.domain FROM repo_blobs r JOIN blobs b "
                "ON b.digest = r.digest AND b.domain = r.domain ORDER BY r.repo, b.digest").fetchall()
            manifests = db.execute(
                f"SELECT {_MANIFEST_COLUMNS}, b.content_id FROM manifests m JOIN blobs b "
                "ON b.digest = m.digest AND b.domain = m.domain ORDER BY m.repo, m.created, m.digest").fetchall()
            tags = db.execute("SELECT repo, tag, digest FROM tags ORDER BY repo, tag").fetchall()
            return blobs, manifests, tags

        blobs, manifests, tags = await self._run(gather)
        return ([(row[0], BlobRecord(*row[1:])) for row in blobs],
                [(_manifest_record(row[:8]), row[8]) for row in manifests],
                [(repo, tag, digest) for repo, tag, digest in tags])

    async def publish_states(self) -> dict[str, tuple[int, str, int | None, str | None, bytes | None]]:
        """Per namespace with a built tree: (seq, root, expires, IPNS name, latest IPNS record);
        the last two None when it was never published by IPNS."""
        rows = await self._run(lambda db: db.execute(
            "SELECT n.namespace, n.seq, n.root, n.expires, i.name, i.record FROM namespaces n "
            "LEFT JOIN ipns_records i ON i.namespace = n.namespace").fetchall())
        return {ns: (seq, root, expires, name, bytes(record) if record is not None else None)
                for ns, seq, root, expires, name, record in rows}


_MANIFEST_COLUMNS = "m.repo, m.digest, m.domain, m.media_type, m.size, m.subject, m.artifact_type, m.annotations"


def _manifest_record(row: tuple) -> ManifestRecord:
    return ManifestRecord(*row[:7], json.loads(row[7]) if row[7] else None)


def _link(db: sqlite3.Connection, repo: str, record: BlobRecord) -> None:
    db.execute("INSERT INTO repo_blobs (repo, digest, domain, linked) VALUES (?, ?, ?, ?) "
               "ON CONFLICT(repo, digest) DO UPDATE SET linked = excluded.linked",
               (repo, record.digest, record.domain, time.time()))
    db.execute("DELETE FROM unlinked_blobs WHERE repo = ? AND digest = ?", (repo, record.digest))


def _put_manifest(db: sqlite3.Connection, record: ManifestRecord, content: BlobRecord, blocks: tuple[str, ...],
                  tags: list[str], refs: list[str] | None = None) -> None:
    _insert_blob(db, content, blocks)
    db.execute(
        "INSERT OR REPLACE INTO manifests (repo, digest, domain, media_type, size, subject, artifact_type, "
        "annotations, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (record.repo, record.digest, record.domain, record.media_type, record.size, record.subject,
         record.artifact_type, json.dumps(record.annotations) if record.annotations else None, time.time()))
    if refs is not None:
        _set_refs(db, record.repo, record.digest, refs)
    for tag in tags:
        db.execute("INSERT OR REPLACE INTO tags (repo, tag, digest) VALUES (?, ?, ?)", (record.repo, tag, record.digest))


def _insert_blob(db: sqlite3.Connection, record: BlobRecord, blocks: tuple[str, ...]) -> None:
    db.execute("INSERT OR IGNORE INTO blobs (digest, domain, size, content_id, created) VALUES (?, ?, ?, ?, ?)",
               (record.digest, record.domain, record.size, record.content_id, time.time()))
    db.executemany("INSERT OR IGNORE INTO dag_blocks (cid, root) VALUES (?, ?)",
                   [(cid, record.content_id) for cid in blocks])


def _set_refs(db: sqlite3.Connection, repo: str, manifest: str, refs: list[str]) -> None:
    db.execute("DELETE FROM manifest_refs WHERE repo = ? AND manifest = ?", (repo, manifest))
    db.executemany("INSERT OR IGNORE INTO manifest_refs (repo, manifest, digest) VALUES (?, ?, ?)",
                   [(repo, manifest, digest) for digest in refs])
    db.execute("UPDATE manifests SET refs = 1 WHERE repo = ? AND digest = ?", (repo, manifest))


_MARK = (
    # Links a manifest of the repository references, or pushed within the grace period. A repository
    # with a manifest whose references are unknown keeps all its links.
    """CREATE TEMP TABLE gc_live_links AS SELECT r.repo, r.digest, r.domain FROM repo_blobs r WHERE
       EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo = r.repo AND mr.digest = r.digest)
       OR COALESCE(r.linked, 0) >= :cutoff
       OR EXISTS (SELECT 1 FROM manifests m WHERE m.repo = r.repo AND m.refs IS NULL)""",
    "CREATE INDEX temp.gc_live_links_blob ON gc_live_links (digest, domain)",
    "CREATE INDEX temp.gc_live_links_repo ON gc_live_links (repo, digest)",
    # Trees that are current, or published and not yet expired: pullers may be mid-resolution.
    """CREATE TEMP TABLE gc_live_trees AS SELECT root FROM trees WHERE expires > :now
       UNION SELECT root FROM namespaces""",
    "CREATE INDEX temp.gc_live_trees_root ON gc_live_trees (root)",
    # Content: blobs a live link holds, manifests' own bytes, blobs a manifest references (even
    # one whose link was deleted: in any domain, to be safe), anything stored within the grace
    # period (an upload whose manifest has not come yet), and blobs a live tree links.
    """CREATE TEMP TABLE gc_live_content AS SELECT b.content_id AS cid FROM blobs b WHERE
       EXISTS (SELECT 1 FROM gc_live_links l WHERE l.digest = b.digest AND l.domain = b.domain)
       OR EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest AND m.domain = b.domain)
       OR EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.digest = b.digest)
       OR b.created >= :cutoff
       UNION SELECT tc.content_id FROM tree_content tc JOIN gc_live_trees t ON t.root = tc.root""",
    "CREATE INDEX temp.gc_live_content_cid ON gc_live_content (cid)",
    # A block goes only when no live DAG and no live tree has it (blocks are shared by CID).
    """CREATE TEMP TABLE gc_dead_blocks AS
       SELECT DISTINCT d.cid FROM dag_blocks d WHERE d.root NOT IN (SELECT cid FROM gc_live_content)
         AND NOT EXISTS (SELECT 1 FROM dag_blocks d2 JOIN gc_live_content c ON c.cid = d2.root
                         WHERE d2.cid = d.cid)
         AND NOT EXISTS (SELECT 1 FROM tree_blocks tb JOIN gc_live_trees t ON t.root = tb.root WHERE tb.cid = d.cid)
       UNION
       SELECT DISTINCT tb.cid FROM tree_blocks tb WHERE tb.root NOT IN (SELECT root FROM gc_live_trees)
         AND NOT EXISTS (SELECT 1 FROM tree_blocks tb2 JOIN gc_live_trees t ON t.root = tb2.root
                         WHERE tb2.cid = tb.cid)
         AND NOT EXISTS (SELECT 1 FROM dag_blocks d JOIN gc_live_content c ON c.cid = d.root WHERE d.cid = tb.cid)""",
)

_FORGET = (
    """DELETE FROM repo_blobs WHERE NOT EXISTS (SELECT 1 FROM gc_live_links l
       WHERE l.repo = repo_blobs.repo AND l.digest = repo_blobs.digest)""",
    "DELETE FROM blobs WHERE content_id NOT IN (SELECT cid FROM gc_live_content)",
    "DELETE FROM dag_blocks WHERE root NOT IN (SELECT cid FROM gc_live_content)",
    "DELETE FROM tree_blocks WHERE root NOT IN (SELECT root FROM gc_live_trees)",
    "DELETE FROM tree_content WHERE root NOT IN (SELECT root FROM gc_live_trees)",
    "DELETE FROM trees WHERE root NOT IN (SELECT root FROM gc_live_trees)",
    "INSERT OR REPLACE INTO gc_sweep (cid, kind) SELECT cid, 'block' FROM gc_dead_blocks",
    "INSERT OR REPLACE INTO gc_sweep (cid, kind) SELECT cid, 'root' FROM gc_dead_roots",
)


def _collect(db: sqlite3.Connection, now: float, cutoff: float, dry_run: bool) -> Garbage:
    params = {"now": now, "cutoff": cutoff}
    unknown = db.execute("SELECT root FROM trees WHERE content_known IS NULL AND (expires > ? OR root IN "
                         "(SELECT root FROM namespaces)) UNION ALL SELECT root FROM namespaces "
                         "WHERE root NOT IN (SELECT root FROM trees) LIMIT 1", (now,)).fetchone()
    if unknown:  # the caller records every live tree's content first; never guess what it links
        raise ValueError(f"tree {unknown[0]} links blobs that are not recorded: not collecting")
    for table in ("gc_live_links", "gc_live_trees", "gc_live_content", "gc_dead_blocks", "gc_dead_roots"):
        db.execute(f"DROP TABLE IF EXISTS temp.{table}")
    try:
        for statement in _MARK:
            db.execute(statement, params) if ":" in statement else db.execute(statement)
        db.execute("""CREATE TEMP TABLE gc_dead_roots AS
            SELECT DISTINCT content_id AS cid FROM blobs WHERE content_id NOT IN (SELECT cid FROM gc_live_content)
            UNION SELECT root FROM trees WHERE root NOT IN (SELECT root FROM gc_live_trees)""")
        links = db.execute("SELECT count(*) FROM repo_blobs r WHERE NOT EXISTS (SELECT 1 FROM gc_live_links l "
                           "WHERE l.repo = r.repo AND l.digest = r.digest)").fetchone()[0]
        blobs, blob_bytes = db.execute("SELECT count(*), COALESCE(sum(size), 0) FROM blobs WHERE content_id NOT IN "
                                       "(SELECT cid FROM gc_live_content)").fetchone()
        trees = db.execute("SELECT count(*) FROM trees WHERE root NOT IN (SELECT root FROM gc_live_trees)"
                           ).fetchone()[0]
        blocks = [r[0] for r in db.execute("SELECT cid FROM gc_dead_blocks ORDER BY cid")]
        roots = [r[0] for r in db.execute("SELECT cid FROM gc_dead_roots ORDER BY cid")]
        if not dry_run:
            for statement in _FORGET:
                db.execute(statement)
        return Garbage(links, blobs, blob_bytes, trees, blocks, roots)
    finally:
        for table in ("gc_live_links", "gc_live_trees", "gc_live_content", "gc_dead_blocks", "gc_dead_roots"):
            db.execute(f"DROP TABLE IF EXISTS temp.{table}")
