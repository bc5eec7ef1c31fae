import Foundation
import Logging
import MatrixModel
import NIOCore
import PostgresNIO
import Synchronization

/// The scale-out backend: PostgreSQL through a PostgresNIO connection pool. Several Axon
/// processes may share one database: stream positions come from a locked counter row, room
/// writes take a transaction-scoped advisory lock per room.
public final class PostgresStorage: Storage {
    let client: PostgresClient
    let logger: Logger
    private let runTask: Task<Void, Never>
    private let closed = Atomic<Bool>(false)
    public let caches: StorageCaches

    /// - Parameter url: `postgres://user[:password]@host[:port]/database`.
    /// - maximumConnections: the pool's size on this node; nodes × this must stay under the
    ///   server's `max_connections`.
    public init(
        url: String, maximumConnections: Int = 40, cacheBudgetBytes: Int = StorageCaches.defaultBudgetBytes,
        logger: Logger = Logger(label: "axon.postgres")
    ) async throws {
        caches = StorageCaches(budgetBytes: cacheBudgetBytes)
        guard let components = URLComponents(string: url), let host = components.host else {
            throw StorageError.notFound("invalid PostgreSQL URL")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: components.user ?? "postgres",
            password: components.password, database: database.isEmpty ? nil : database, tls: .disable)
        configuration.options.maximumConnections = maximumConnections
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
        let client = self.client
        runTask = Task { await client.run() }
        try await PostgresMigrations.migrate(self)
    }

    public func close() async throws {
        closed.store(true, ordering: .relaxed)
        runTask.cancel()
    }

    public var cacheStatistics: [CacheStatistics] { caches.statistics }

    public func saveReport(_ report: ContentReport) async throws {
        try await query(
            """
            INSERT INTO reports (reporter, room_id, event_id, user_id, reason, created_ts)
            VALUES (\(report.reporter), \(report.roomID), \(report.eventID), \(report.userID), \(report.reason), \(report.createdAt))
            """)
    }

    public func reports() async throws -> [ContentReport] {
        try await query("SELECT \(unescaped: Self.reportColumns) FROM reports ORDER BY id").map(Self.report)
    }

    /// LISTENs on `axon_stream` on one pooled connection, reconnecting after failures. Cache
    /// changes (`c <change>`, see `CacheChange`) are applied here; stream changes go to `handler`.
    public func listenForChanges(_ handler: @escaping @Sendable (StreamChange) -> Void) async throws {
        let caches = self.caches
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: "axon_stream") { notifications in
                        // Whatever other nodes changed before this LISTEN (at start, or while
                        // reconnecting) was never reported here: nothing cached can be trusted.
                        caches.removeAll()
                        for try await notification in notifications {
                            let payload = notification.payload
                            if payload.hasPrefix("c ") {
                                caches.apply(CacheChange.parse(payload.dropFirst(2)))
                            } else if let change = StreamChange(payload: payload) {
                                handler(change)
                            }
                        }
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                // Shutdown (cancellation, or the pool closing under the listener) ends listening; it is not a fault.
                if Task.isCancelled || closed.load(ordering: .relaxed) { return }
                logger.warning("LISTEN axon_stream failed; retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// A query outside any transaction. A statement that may write runs in a transaction of
    /// its own, so that what its triggers report reaches this node's caches (`transaction`).
    @discardableResult
    func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        if Self.mayWrite(query.sql) {
            let logger = self.logger
            return try await transaction { connection in try await connection.rows(query, logger: logger) }
        }
        do {
            return try await client.query(query, logger: logger).collect()
        } catch let error as PSQLError {
            throw Self.mapped(error)
        }
    }

    /// Anything but a plain `SELECT`, or a `WITH` that is a plain read (the state-chain
    /// queries), may write rows a trigger watches.
    /// A word is compared whole, in any case and whatever follows it: missing a write here
    /// would leave this node's caches stale, while a false alarm only costs a transaction.
    static func mayWrite(_ sql: String) -> Bool {
        let first = sql.drop(while: { !$0.isLetter }).prefix(while: \.isLetter).uppercased()
        if first == "SELECT" { return false }
        guard first == "WITH" else { return true }
        return sql.split(whereSeparator: { !$0.isLetter }).contains { ["INSERT", "UPDATE", "DELETE"].contains($0.uppercased()) }
    }

    /// Runs `body` in one transaction (rolled back when it throws). Before committing it reads
    /// the cache changes the transaction's triggers recorded (`axon.cache_changes`, local to the
    /// transaction) and applies them once committed; other nodes learn them from `pg_notify`.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let logger = self.logger
        do {
            let (result, changes) = try await client.withTransaction(logger: logger) { connection in
                let result = try await body(connection)
                let changes = try await connection.rows("SELECT current_setting('axon.cache_changes', true)", logger: logger)
                    .first?.decode(String?.self) ?? nil
                return (result, changes)
            }
            if let changes, !changes.isEmpty { caches.apply(CacheChange.parse(Substring(changes))) }
            return result
        } catch let error as PSQLError {
            throw Self.mapped(error)
        } catch let error as PostgresTransactionError {
            if let closure = error.closureError {
                if let psql = closure as? PSQLError { throw Self.mapped(psql) }
                throw closure
            }
            throw error
        }
    }

    /// Takes the next stream position; called last in a transaction so positions commit in order.
    static func nextPosition(_ connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        try await connection.rows("UPDATE stream_positions SET position = position + 1 WHERE id = 1 RETURNING position", logger: logger)[0]
            .decode(Int64.self)
    }

    static func mapped(_ error: PSQLError) -> any Error {
        switch error.serverInfo?[.sqlState] {
        case "23505": return StorageError.conflict(error.serverInfo?[.message] ?? "unique constraint violated")
        case "22021", "22P05": return StorageError.invalidText(error.serverInfo?[.message] ?? "invalid text")
        default: break
        }
        return error
    }
}

extension PostgresConnection {
    @discardableResult
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        do {
            return try await self.query(query, logger: logger).collect()
        } catch let error as PSQLError {
            throw PostgresStorage.mapped(error)
        }
    }
}

/// Versioned migrations, applied under an advisory lock so that nodes starting together do
/// not race. Never edit a released migration: add a new one.
enum PostgresMigrations {
    static let lockID: Int64 = 0x4158_4F4E  // "AXON"

    static func migrate(_ storage: PostgresStorage) async throws {
        try await storage.transaction { connection in
            try await connection.rows("SELECT pg_advisory_xact_lock(\(lockID))", logger: storage.logger)
            try await connection.rows(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)", logger: storage.logger)
            let applied = Set(
                try await connection.rows("SELECT name FROM schema_migrations", logger: storage.logger)
                    .map { try $0.decode(String.self) })
            for (name, statements) in migrations where !applied.contains(name) {
                for statement in statements {
                    try await connection.rows(PostgresQuery(unsafeSQL: statement), logger: storage.logger)
                }
                try await connection.rows("INSERT INTO schema_migrations (name) VALUES (\(name))", logger: storage.logger)
            }
            return ()
        }
    }

    static let migrations: [(String, [String])] = [
        (
            "001_accounts",
            [
                """
                CREATE TABLE users (
                    user_id TEXT PRIMARY KEY, user_id_lower TEXT NOT NULL, password_hash TEXT,
                    is_admin BOOLEAN NOT NULL DEFAULT FALSE, is_guest BOOLEAN NOT NULL DEFAULT FALSE,
                    deactivated BOOLEAN NOT NULL DEFAULT FALSE, created_ts BIGINT NOT NULL, profile TEXT NOT NULL DEFAULT '{}')
                """,
                "CREATE INDEX users_lower ON users(user_id_lower)",
                "CREATE SEQUENCE generated_user_numbers",
                """
                CREATE TABLE devices (
                    user_id TEXT NOT NULL REFERENCES users(user_id), device_id TEXT NOT NULL, display_name TEXT,
                    last_seen_ip TEXT, last_seen_ts BIGINT, created_ts BIGINT NOT NULL, PRIMARY KEY (user_id, device_id))
                """,
                """
                CREATE TABLE access_tokens (
                    token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, device_id TEXT NOT NULL, created_ts BIGINT NOT NULL,
                    FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE)
                """,
                "CREATE INDEX access_tokens_device ON access_tokens(user_id, device_id)",
                """
                CREATE TABLE uia_sessions (
                    session_id TEXT PRIMARY KEY, operation TEXT NOT NULL, user_id TEXT, completed TEXT NOT NULL,
                    created_ts BIGINT NOT NULL)
                """,
            ]
        ),
        (
            "002_rooms",
            [
                "CREATE TABLE stream_positions (id INTEGER PRIMARY KEY CHECK (id = 1), position BIGINT NOT NULL)",
                "INSERT INTO stream_positions (id, position) VALUES (1, 0)",
                """
                CREATE TABLE rooms (
                    room_id TEXT PRIMARY KEY, version TEXT NOT NULL, creator TEXT NOT NULL,
                    is_public BOOLEAN NOT NULL DEFAULT FALSE, latest_event_id TEXT, latest_depth BIGINT NOT NULL DEFAULT 0,
                    current_state_group BIGINT)
                """,
                """
                CREATE TABLE events (
                    event_id TEXT PRIMARY KEY, room_id TEXT NOT NULL, stream_ordering BIGINT NOT NULL UNIQUE,
                    depth BIGINT NOT NULL, type TEXT NOT NULL, state_key TEXT, sender TEXT NOT NULL,
                    origin_server_ts BIGINT NOT NULL, json TEXT NOT NULL, state_group BIGINT NOT NULL,
                    redacted_because TEXT, sender_device TEXT, txn_id TEXT)
                """,
                "CREATE INDEX events_room_topological ON events(room_id, depth, stream_ordering)",
                "CREATE INDEX events_room_stream ON events(room_id, stream_ordering)",
                """
                CREATE TABLE state_groups (
                    id BIGSERIAL PRIMARY KEY, room_id TEXT NOT NULL, prev_group BIGINT, chain_length INTEGER NOT NULL)
                """,
                """
                CREATE TABLE state_group_entries (
                    group_id BIGINT NOT NULL, type TEXT NOT NULL, state_key TEXT NOT NULL, event_id TEXT NOT NULL,
                    PRIMARY KEY (group_id, type, state_key))
                """,
                """
                CREATE TABLE current_state (
                    room_id TEXT NOT NULL, type TEXT NOT NULL, state_key TEXT NOT NULL, event_id TEXT NOT NULL,
                    PRIMARY KEY (room_id, type, state_key))
                """,
                """
                CREATE TABLE room_memberships (
                    room_id TEXT NOT NULL, user_id TEXT NOT NULL, membership TEXT NOT NULL, event_id TEXT NOT NULL,
                    stream_ordering BIGINT NOT NULL, forgotten BOOLEAN NOT NULL DEFAULT FALSE, PRIMARY KEY (room_id, user_id))
                """,
                "CREATE INDEX room_memberships_user ON room_memberships(user_id)",
                """
                CREATE TABLE event_transactions (
                    user_id TEXT NOT NULL, device_id TEXT NOT NULL, scope TEXT NOT NULL, txn_id TEXT NOT NULL,
                    event_id TEXT NOT NULL, PRIMARY KEY (user_id, device_id, scope, txn_id))
                """,
                "CREATE TABLE room_aliases (alias TEXT PRIMARY KEY, room_id TEXT NOT NULL, creator TEXT NOT NULL)",
                "CREATE INDEX room_aliases_room ON room_aliases(room_id)",
            ]
        ),
        (
            "003_account_data_filters",
            [
                """
                CREATE TABLE account_data (
                    user_id TEXT NOT NULL, room_id TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL,
                    stream_ordering BIGINT NOT NULL, PRIMARY KEY (user_id, room_id, type))
                """,
                "CREATE INDEX account_data_stream ON account_data(user_id, stream_ordering)",
                """
                CREATE TABLE receipts (
                    room_id TEXT NOT NULL, user_id TEXT NOT NULL, receipt_type TEXT NOT NULL, thread_id TEXT NOT NULL,
                    event_id TEXT NOT NULL, ts BIGINT NOT NULL, stream_ordering BIGINT NOT NULL,
                    PRIMARY KEY (room_id, user_id, receipt_type, thread_id))
                """,
                "CREATE INDEX receipts_stream ON receipts(room_id, stream_ordering)",
                """
                CREATE TABLE filters (
                    user_id TEXT NOT NULL, filter_id BIGINT NOT NULL, filter TEXT NOT NULL, PRIMARY KEY (user_id, filter_id))
                """,
            ]
        ),
        (
            "004_relations",
            [
                """
                CREATE TABLE event_relations (
                    event_id TEXT PRIMARY KEY, room_id TEXT NOT NULL, relates_to TEXT NOT NULL, rel_type TEXT NOT NULL,
                    type TEXT NOT NULL, sender TEXT NOT NULL, stream_ordering BIGINT NOT NULL)
                """,
                "CREATE INDEX event_relations_parent ON event_relations(relates_to, rel_type, stream_ordering)",
                "CREATE INDEX event_relations_threads ON event_relations(room_id, rel_type, stream_ordering)",
            ]
        ),
        (
            "005_typing",
            [
                """
                CREATE TABLE typing (
                    room_id TEXT NOT NULL, user_id TEXT NOT NULL, expires_ts BIGINT NOT NULL, stream_ordering BIGINT NOT NULL,
                    PRIMARY KEY (room_id, user_id))
                """,
                "CREATE INDEX typing_stream ON typing(stream_ordering)",
            ]
        ),
        (
            "006_reports",
            [
                """
                CREATE TABLE reports (
                    id BIGSERIAL PRIMARY KEY, reporter TEXT NOT NULL, room_id TEXT, event_id TEXT, user_id TEXT, reason TEXT,
                    created_ts BIGINT NOT NULL)
                """
            ]
        ),
        (
            "007_presence",
            [
                """
                CREATE TABLE presence (
                    user_id TEXT PRIMARY KEY, state TEXT NOT NULL, status_msg TEXT, last_active_ts BIGINT NOT NULL,
                    stream_ordering BIGINT NOT NULL)
                """,
                "CREATE INDEX presence_stream ON presence(stream_ordering)",
            ]
        ),
        (
            "008_push",
            [
                "CREATE TABLE push_rules (user_id TEXT PRIMARY KEY, rules TEXT NOT NULL)",
                """
                CREATE TABLE event_push_actions (
                    event_id TEXT NOT NULL, user_id TEXT NOT NULL, room_id TEXT NOT NULL, stream_ordering BIGINT NOT NULL,
                    thread_id TEXT NOT NULL, highlight BOOLEAN NOT NULL, actions TEXT NOT NULL, PRIMARY KEY (event_id, user_id))
                """,
                "CREATE INDEX event_push_actions_room ON event_push_actions(user_id, room_id, stream_ordering)",
                "CREATE INDEX event_push_actions_user ON event_push_actions(user_id, stream_ordering)",
                "CREATE INDEX events_room_sender ON events(room_id, sender, stream_ordering)",
                """
                CREATE TABLE pushers (
                    user_id TEXT NOT NULL, app_id TEXT NOT NULL, pushkey TEXT NOT NULL, kind TEXT NOT NULL,
                    app_display_name TEXT NOT NULL, device_display_name TEXT NOT NULL, profile_tag TEXT, lang TEXT NOT NULL,
                    data TEXT NOT NULL, device_id TEXT, created_ts BIGINT NOT NULL, PRIMARY KEY (app_id, pushkey, user_id),
                    FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE)
                """,
                "CREATE INDEX pushers_user ON pushers(user_id)",
            ]
        ),
        (
            "009_search",
            [
                // The 'simple' configuration: no stemming, so both backends match the same words.
                """
                CREATE TABLE event_search (
                    event_id TEXT NOT NULL, room_id TEXT NOT NULL, key TEXT NOT NULL, vector TSVECTOR NOT NULL,
                    stream_ordering BIGINT NOT NULL)
                """,
                "CREATE INDEX event_search_vector ON event_search USING GIN (vector)",
                "CREATE INDEX event_search_event ON event_search(event_id)",
                "CREATE INDEX event_search_room ON event_search(room_id, stream_ordering)",
            ]
        ),
        (
            "010_e2ee",
            [
                """
                CREATE TABLE device_keys (
                    user_id TEXT NOT NULL, device_id TEXT NOT NULL, keys TEXT NOT NULL, PRIMARY KEY (user_id, device_id),
                    FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE)
                """,
                """
                CREATE TABLE one_time_keys (
                    user_id TEXT NOT NULL, device_id TEXT NOT NULL, algorithm TEXT NOT NULL, key_id TEXT NOT NULL, key TEXT NOT NULL,
                    PRIMARY KEY (user_id, device_id, algorithm, key_id),
                    FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE)
                """,
                """
                CREATE TABLE fallback_keys (
                    user_id TEXT NOT NULL, device_id TEXT NOT NULL, algorithm TEXT NOT NULL, key_id TEXT NOT NULL, key TEXT NOT NULL,
                    used BOOLEAN NOT NULL DEFAULT FALSE, PRIMARY KEY (user_id, device_id, algorithm),
                    FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE)
                """,
                "CREATE TABLE cross_signing_keys (user_id TEXT NOT NULL, usage TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (user_id, usage))",
                """
                CREATE TABLE key_signatures (
                    target_user_id TEXT NOT NULL, target_key_id TEXT NOT NULL, signer_user_id TEXT NOT NULL, signer_key_id TEXT NOT NULL,
                    signature TEXT NOT NULL, PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id))
                """,
                "CREATE TABLE device_list_changes (user_id TEXT NOT NULL, stream_ordering BIGINT NOT NULL, PRIMARY KEY (user_id, stream_ordering))",
                "CREATE INDEX device_list_changes_stream ON device_list_changes(stream_ordering)",
                "CREATE INDEX room_memberships_stream ON room_memberships(room_id, stream_ordering)",
                """
                CREATE TABLE to_device_messages (
                    user_id TEXT NOT NULL, device_id TEXT NOT NULL, stream_ordering BIGINT NOT NULL, sender TEXT NOT NULL,
                    type TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (user_id, device_id, stream_ordering),
                    FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE)
                """,
                """
                CREATE TABLE to_device_transactions (
                    user_id TEXT NOT NULL, device_id TEXT NOT NULL, txn_id TEXT NOT NULL, PRIMARY KEY (user_id, device_id, txn_id),
                    FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE)
                """,
                """
                CREATE TABLE backup_versions (
                    user_id TEXT NOT NULL, version BIGINT NOT NULL, algorithm TEXT NOT NULL, auth_data TEXT NOT NULL,
                    etag BIGINT NOT NULL DEFAULT 0, deleted BOOLEAN NOT NULL DEFAULT FALSE, PRIMARY KEY (user_id, version))
                """,
                """
                CREATE TABLE backup_keys (
                    user_id TEXT NOT NULL, version BIGINT NOT NULL, room_id TEXT NOT NULL, session_id TEXT NOT NULL, data TEXT NOT NULL,
                    PRIMARY KEY (user_id, version, room_id, session_id))
                """,
            ]
        ),
        (
            "011_media",
            [
                """
                CREATE TABLE media (
                    media_id TEXT PRIMARY KEY, uploader TEXT NOT NULL, content_type TEXT, filename TEXT, sha256 TEXT,
                    size BIGINT NOT NULL, created_ts BIGINT NOT NULL, expires_ts BIGINT)
                """,
                "CREATE INDEX media_pending ON media(uploader, expires_ts) WHERE sha256 IS NULL",
                """
                CREATE TABLE media_thumbnails (
                    media_id TEXT NOT NULL, width BIGINT NOT NULL, height BIGINT NOT NULL, method TEXT NOT NULL,
                    content_type TEXT NOT NULL, sha256 TEXT NOT NULL, size BIGINT NOT NULL, PRIMARY KEY (media_id, width, height, method))
                """,
            ]
        ),
        (
            "012_openid_uia_params_user_agents",
            [
                "CREATE TABLE openid_tokens (token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, expires_ts BIGINT NOT NULL)",
                "CREATE INDEX openid_tokens_expiry ON openid_tokens(expires_ts)",
                "ALTER TABLE uia_sessions ADD COLUMN params TEXT",
                "ALTER TABLE devices ADD COLUMN last_seen_user_agent TEXT",
            ]
        ),
        (
            "013_lazy_members_erasure",
            [
                """
                CREATE TABLE lazy_members_sent (
                    user_id TEXT NOT NULL, device_id TEXT NOT NULL, room_id TEXT NOT NULL, member_id TEXT NOT NULL,
                    event_id TEXT NOT NULL, PRIMARY KEY (user_id, device_id, room_id, member_id))
                """,
                "ALTER TABLE users ADD COLUMN erased BOOLEAN NOT NULL DEFAULT FALSE",
            ]
        ),
        (
            "014_server_keys",
            [
                """
                CREATE TABLE server_keys (
                    server_name TEXT NOT NULL, key_id TEXT NOT NULL, public_key TEXT NOT NULL, valid_until_ts BIGINT NOT NULL,
                    expired_ts BIGINT, response TEXT NOT NULL, PRIMARY KEY (server_name, key_id))
                """,
            ]
        ),
        (
            // The room as a graph; see the SQLite migration of the same name.
            "015_event_graph",
            [
                """
                CREATE TABLE event_edges (
                    event_id TEXT NOT NULL, prev_event_id TEXT NOT NULL, room_id TEXT NOT NULL, PRIMARY KEY (event_id, prev_event_id))
                """,
                "CREATE INDEX event_edges_prev ON event_edges(prev_event_id)",
                "CREATE TABLE forward_extremities (room_id TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (room_id, event_id))",
                "ALTER TABLE events ADD COLUMN state_group_before BIGINT",
                """
                CREATE TABLE event_outliers (
                    event_id TEXT PRIMARY KEY, room_id TEXT NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('outlier', 'rejected', 'soft_failed')), reason TEXT, json TEXT NOT NULL,
                    state_group_before BIGINT, state_group BIGINT, received_ts BIGINT NOT NULL)
                """,
                "CREATE INDEX event_outliers_room ON event_outliers(room_id)",
                """
                INSERT INTO event_edges (event_id, prev_event_id, room_id)
                SELECT event_id, prev_id, room_id FROM (
                    SELECT event_id, room_id, LAG(event_id) OVER (PARTITION BY room_id ORDER BY stream_ordering) AS prev_id FROM events
                ) chained WHERE prev_id IS NOT NULL
                """,
                """
                UPDATE events SET state_group_before = chained.before FROM (
                    SELECT event_id, LAG(state_group) OVER (PARTITION BY room_id ORDER BY stream_ordering) AS before FROM events
                ) chained WHERE chained.event_id = events.event_id
                """,
                "INSERT INTO forward_extremities (room_id, event_id) SELECT room_id, latest_event_id FROM rooms WHERE latest_event_id IS NOT NULL",
            ]
        ),
        (
            "016_inbound_transactions",
            [
                """
                CREATE TABLE federation_inbound_transactions (
                    origin TEXT NOT NULL, txn_id TEXT NOT NULL, response TEXT NOT NULL, received_ts BIGINT NOT NULL,
                    PRIMARY KEY (origin, txn_id))
                """,
                "CREATE INDEX federation_inbound_transactions_age ON federation_inbound_transactions(received_ts)",
            ]
        ),
        (
            "017_federation_outbox",
            [
                """
                CREATE TABLE federation_outbox (
                    seq BIGSERIAL PRIMARY KEY, destination TEXT NOT NULL, event_id TEXT, edu TEXT, created_ts BIGINT NOT NULL)
                """,
                "CREATE INDEX federation_outbox_destination ON federation_outbox(destination, seq)",
                """
                CREATE TABLE federation_destinations (
                    destination TEXT PRIMARY KEY, failures INTEGER NOT NULL DEFAULT 0, retry_at BIGINT NOT NULL DEFAULT 0,
                    lease_owner TEXT, lease_until BIGINT NOT NULL DEFAULT 0)
                """,
            ]
        ),
        ("018_historical_positions", ["CREATE SEQUENCE historical_positions START 1"]),
        (
            "019_remote_to_device_ids",
            [
                """
                CREATE TABLE remote_to_device_ids (
                    sender TEXT NOT NULL, message_id TEXT NOT NULL, received_ts BIGINT NOT NULL, PRIMARY KEY (sender, message_id))
                """,
                "CREATE INDEX remote_to_device_ids_age ON remote_to_device_ids(received_ts)",
            ]
        ),
        (
            "020_remote_media",
            [
                """
                CREATE TABLE remote_media (
                    origin TEXT NOT NULL, media_id TEXT NOT NULL, variant TEXT NOT NULL, content_type TEXT, filename TEXT,
                    sha256 TEXT NOT NULL, size BIGINT NOT NULL, fetched_ts BIGINT NOT NULL, PRIMARY KEY (origin, media_id, variant))
                """
            ]
        ),
        ("021_remote_device_lists", ["CREATE TABLE remote_device_lists (user_id TEXT PRIMARY KEY, stream_id BIGINT, keys TEXT NOT NULL)"]),
        (
            "022_url_previews",
            [
                "CREATE TABLE url_previews (url TEXT NOT NULL, bucket BIGINT NOT NULL, preview TEXT NOT NULL, PRIMARY KEY (url, bucket))",
                "CREATE INDEX url_previews_bucket ON url_previews(bucket)",
            ]
        ),
        (
            "023_account_restrictions",
            [
                "ALTER TABLE users ADD COLUMN suspended BOOLEAN NOT NULL DEFAULT FALSE",
                "ALTER TABLE users ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE",
            ]
        ),
        (
            "024_room_admin",
            [
                "CREATE TABLE blocked_rooms (room_id TEXT PRIMARY KEY, blocked_by TEXT NOT NULL)",
                """
                CREATE TABLE admin_room_tasks (
                    id TEXT PRIMARY KEY, kind TEXT NOT NULL, room_id TEXT NOT NULL, status TEXT NOT NULL, error TEXT, result TEXT,
                    created_ts BIGINT NOT NULL)
                """,
                "CREATE INDEX admin_room_tasks_room ON admin_room_tasks(room_id, kind)",
            ]
        ),
        (
            "025_media_admin",
            [
                "ALTER TABLE media ADD COLUMN quarantined_by TEXT",
                "ALTER TABLE media ADD COLUMN safe_from_quarantine BOOLEAN NOT NULL DEFAULT FALSE",
                "CREATE INDEX media_uploader ON media(uploader, created_ts)",
                "CREATE TABLE media_quarantine (origin TEXT NOT NULL, media_id TEXT NOT NULL, quarantined_by TEXT NOT NULL, PRIMARY KEY (origin, media_id))",
            ]
        ),
        (
            "026_moderation",
            [
                "ALTER TABLE users ADD COLUMN shadow_banned BOOLEAN NOT NULL DEFAULT FALSE",
                "CREATE TABLE ratelimit_overrides (user_id TEXT PRIMARY KEY, messages_per_second BIGINT NOT NULL, burst_count BIGINT NOT NULL)",
                """
                CREATE TABLE registration_tokens (
                    token TEXT PRIMARY KEY, uses_allowed BIGINT, pending BIGINT NOT NULL DEFAULT 0, completed BIGINT NOT NULL DEFAULT 0,
                    expiry_time BIGINT)
                """,
            ]
        ),
        (
            "027_destination_history",
            [
                "ALTER TABLE federation_destinations ADD COLUMN failure_ts BIGINT",
                "ALTER TABLE federation_destinations ADD COLUMN last_failure_ts BIGINT",
                "ALTER TABLE federation_destinations ADD COLUMN last_success_seq BIGINT",
            ]
        ),
        (
            "028_appservices",
            [
                """
                CREATE TABLE appservice_delivery (
                    as_id TEXT PRIMARY KEY, delivered_up_to BIGINT NOT NULL, last_txn BIGINT NOT NULL, pending_txn BIGINT,
                    pending_after BIGINT, pending_up_to BIGINT, failures BIGINT NOT NULL, retry_at BIGINT NOT NULL)
                """,
                "CREATE TABLE appservice_leases (as_id TEXT PRIMARY KEY, lease_owner TEXT, lease_until BIGINT NOT NULL DEFAULT 0)",
            ]
        ),
        (
            "029_appservice_directory",
            [
                """
                CREATE TABLE appservice_room_list (
                    as_id TEXT NOT NULL, network_id TEXT NOT NULL, room_id TEXT NOT NULL, PRIMARY KEY (as_id, network_id, room_id))
                """
            ]
        ),
        (
            "030_sliding_sync",
            [
                "ALTER TABLE rooms ADD COLUMN bump_stamp BIGINT",
                """
                UPDATE rooms SET bump_stamp = (
                    SELECT MAX(stream_ordering) FROM events e WHERE e.room_id = rooms.room_id
                    AND e.type IN (\(BumpEvents.types.sorted().map { "'\($0)'" }.joined(separator: ", "))))
                """,
                "CREATE INDEX room_memberships_user_list ON room_memberships(user_id, forgotten, stream_ordering)",
                "CREATE INDEX receipts_stream_only ON receipts(stream_ordering)",
                """
                CREATE TABLE sliding_sync_connections (
                    id BIGSERIAL PRIMARY KEY, user_id TEXT NOT NULL, device_id TEXT NOT NULL, conn_id TEXT NOT NULL,
                    last_used_ts BIGINT NOT NULL, next_pos BIGINT NOT NULL DEFAULT 1, UNIQUE (user_id, device_id, conn_id))
                """,
                """
                CREATE TABLE sliding_sync_positions (
                    connection_id BIGINT NOT NULL REFERENCES sliding_sync_connections(id) ON DELETE CASCADE, pos BIGINT NOT NULL,
                    parent BIGINT, stream_ordering BIGINT NOT NULL, lists_digest TEXT NOT NULL, PRIMARY KEY (connection_id, pos))
                """,
                """
                CREATE TABLE sliding_sync_rooms (
                    connection_id BIGINT NOT NULL REFERENCES sliding_sync_connections(id) ON DELETE CASCADE, room_id TEXT NOT NULL,
                    pos BIGINT NOT NULL, sent_up_to BIGINT, config TEXT NOT NULL, extra TEXT NOT NULL,
                    PRIMARY KEY (connection_id, room_id, pos))
                """,
            ]
        ),
        (
            "031_refresh_tokens",
            [
                "ALTER TABLE access_tokens ADD COLUMN expires_ts BIGINT",
                "ALTER TABLE access_tokens ADD COLUMN refresh_token_hash TEXT",
                "ALTER TABLE access_tokens ADD COLUMN confirms_refresh BOOLEAN NOT NULL DEFAULT FALSE",
                "CREATE INDEX access_tokens_refresh ON access_tokens(refresh_token_hash) WHERE refresh_token_hash IS NOT NULL",
                """
                CREATE TABLE refresh_tokens (
                    token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, device_id TEXT NOT NULL, created_ts BIGINT NOT NULL,
                    expires_ts BIGINT, replaces_hash TEXT, replaced_by_hash TEXT, revoked_ts BIGINT,
                    FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE)
                """,
                "CREATE INDEX refresh_tokens_device ON refresh_tokens(user_id, device_id)",
                """
                CREATE TABLE login_tokens (
                    token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
                    created_ts BIGINT NOT NULL, expires_ts BIGINT NOT NULL)
                """,
            ]
        ),
        (
            "032_oauth",
            [
                "ALTER TABLE refresh_tokens ADD COLUMN oauth_client_id TEXT",
                "ALTER TABLE refresh_tokens ADD COLUMN scope TEXT",
                "CREATE TABLE oauth_clients (client_id TEXT PRIMARY KEY, metadata TEXT NOT NULL, created_ts BIGINT NOT NULL)",
                """
                CREATE TABLE oauth_authorization_requests (
                    id TEXT PRIMARY KEY, client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
                    redirect_uri TEXT NOT NULL, scope TEXT NOT NULL, device_id TEXT NOT NULL, state TEXT, response_mode TEXT NOT NULL,
                    code_challenge TEXT NOT NULL, wants_registration BOOLEAN NOT NULL, created_ts BIGINT NOT NULL)
                """,
                """
                CREATE TABLE oauth_authorization_codes (
                    code_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
                    user_id TEXT NOT NULL, device_id TEXT NOT NULL, scope TEXT NOT NULL, redirect_uri TEXT NOT NULL,
                    code_challenge TEXT NOT NULL, created_ts BIGINT NOT NULL, expires_ts BIGINT NOT NULL, used_ts BIGINT)
                """,
                """
                CREATE TABLE oauth_device_authorizations (
                    device_code_hash TEXT PRIMARY KEY, user_code TEXT NOT NULL UNIQUE,
                    client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE, scope TEXT NOT NULL,
                    device_id TEXT NOT NULL, status TEXT NOT NULL, user_id TEXT, created_ts BIGINT NOT NULL, expires_ts BIGINT NOT NULL,
                    last_poll_ts BIGINT)
                """,
                """
                CREATE TABLE web_sessions (
                    id_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
                    created_ts BIGINT NOT NULL, last_active_ts BIGINT NOT NULL)
                """,
            ]
        ),
        (
            "033_sso",
            [
                """
                CREATE TABLE sso_attempts (
                    state_hash TEXT PRIMARY KEY, provider_id TEXT NOT NULL, browser_hash TEXT NOT NULL, nonce TEXT NOT NULL,
                    code_verifier TEXT NOT NULL, purpose TEXT NOT NULL, target TEXT NOT NULL, created_ts BIGINT NOT NULL)
                """,
                """
                CREATE TABLE user_external_ids (
                    provider_id TEXT NOT NULL, subject TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
                    created_ts BIGINT NOT NULL, PRIMARY KEY (provider_id, subject))
                """,
                "CREATE INDEX user_external_ids_user ON user_external_ids(user_id)",
            ]
        ),
        (
            "034_threepids",
            [
                """
                CREATE TABLE threepid_validations (
                    sid TEXT PRIMARY KEY, client_secret TEXT NOT NULL, medium TEXT NOT NULL, address TEXT NOT NULL,
                    token_hash TEXT NOT NULL, purpose TEXT NOT NULL, send_attempt BIGINT NOT NULL, next_link TEXT,
                    created_ts BIGINT NOT NULL, expires_ts BIGINT NOT NULL, validated_ts BIGINT)
                """,
                "CREATE INDEX threepid_validations_secret ON threepid_validations(client_secret, medium, address, purpose)",
                """
                CREATE TABLE user_threepids (
                    medium TEXT NOT NULL, address TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
                    validated_ts BIGINT NOT NULL, added_ts BIGINT NOT NULL, PRIMARY KEY (medium, address))
                """,
                "CREATE INDEX user_threepids_user ON user_threepids(user_id)",
            ]
        ),
        ("035_cache_triggers", cacheTriggerMigration),
        (
            "036_shared_push_actions",
            [
                """
                CREATE TABLE room_push_actions (
                    event_id TEXT PRIMARY KEY, room_id TEXT NOT NULL, stream_ordering BIGINT NOT NULL, sender TEXT NOT NULL,
                    thread_id TEXT NOT NULL, highlight BOOLEAN NOT NULL, actions TEXT NOT NULL)
                """,
                "CREATE INDEX room_push_actions_room ON room_push_actions(room_id, stream_ordering)",
                """
                CREATE TABLE push_action_exclusions (
                    event_id TEXT NOT NULL, user_id TEXT NOT NULL, room_id TEXT NOT NULL, PRIMARY KEY (event_id, user_id))
                """,
                "ALTER TABLE room_memberships ADD COLUMN joined_at BIGINT NOT NULL DEFAULT 0",
            ]
        ),
        ("037_membership_stream", ["CREATE INDEX room_memberships_stream_only ON room_memberships(stream_ordering)"]),
    ]

    /// One trigger function for every watched table (`CacheChange.watches`): the change goes
    /// into the transaction-local `axon.cache_changes` for this node and out with `pg_notify`
    /// to the others. Once that setting passes 8 × `CacheChange.batchLimit` characters (a few
    /// hundred changes) it becomes `*`, so a purge does not build an ever longer string per row.
    static var cacheTriggerMigration: [String] {
        var statements = [
            """
            CREATE FUNCTION axon_cache_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                pending text := coalesce(current_setting('axon.cache_changes', true), '');
                row_data jsonb;
                change text;
            BEGIN
                IF pending = '*' THEN RETURN NULL; END IF;
                IF TG_OP = 'DELETE' THEN row_data := to_jsonb(OLD); ELSE row_data := to_jsonb(NEW); END IF;
                change := TG_ARGV[0] || ' ' || (row_data ->> TG_ARGV[1]);
                IF TG_NARGS > 2 THEN change := change || ' ' || (row_data ->> TG_ARGV[2]); END IF;
                IF strpos(E'\\n' || pending, E'\\n' || change || E'\\n') > 0 THEN RETURN NULL; END IF;
                IF length(pending) > \(CacheChange.batchLimit * 8) THEN
                    PERFORM set_config('axon.cache_changes', '*', true);
                    PERFORM pg_notify('axon_stream', 'c *');
                    RETURN NULL;
                END IF;
                PERFORM set_config('axon.cache_changes', pending || change || E'\\n', true);
                PERFORM pg_notify('axon_stream', 'c ' || change);
                RETURN NULL;
            END $$
            """
        ]
        for (index, watch) in CacheChange.watches.enumerated() {
            let arguments = ([watch.kind] + watch.keys).map { "'\($0)'" }.joined(separator: ", ")
            for operation in watch.operations {
                statements.append(
                    """
                    CREATE TRIGGER axon_cache_\(index)_\(operation.prefix(6).lowercased()) AFTER \(operation) ON \(watch.table)
                    FOR EACH ROW EXECUTE FUNCTION axon_cache_changed(\(arguments))
                    """)
            }
        }
        return statements
    }
}
