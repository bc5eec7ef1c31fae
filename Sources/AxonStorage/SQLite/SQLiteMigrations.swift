import GRDB

/// Versioned schema migrations. Never edit a registered migration: add a new one.
enum SQLiteMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("001_accounts") { db in
            try db.execute(
                sql: """
                    CREATE TABLE users (
                        user_id TEXT PRIMARY KEY NOT NULL,
                        user_id_lower TEXT NOT NULL,
                        password_hash TEXT,
                        is_admin INTEGER NOT NULL DEFAULT 0,
                        is_guest INTEGER NOT NULL DEFAULT 0,
                        deactivated INTEGER NOT NULL DEFAULT 0,
                        created_ts INTEGER NOT NULL,
                        profile TEXT NOT NULL DEFAULT '{}'
                    );
                    CREATE INDEX users_lower ON users(user_id_lower);
                    CREATE TABLE generated_user_numbers (
                        id INTEGER PRIMARY KEY AUTOINCREMENT
                    );
                    CREATE TABLE devices (
                        user_id TEXT NOT NULL REFERENCES users(user_id),
                        device_id TEXT NOT NULL,
                        display_name TEXT,
                        last_seen_ip TEXT,
                        last_seen_ts INTEGER,
                        created_ts INTEGER NOT NULL,
                        PRIMARY KEY (user_id, device_id)
                    );
                    CREATE TABLE access_tokens (
                        token_hash TEXT PRIMARY KEY NOT NULL,
                        user_id TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        created_ts INTEGER NOT NULL,
                        FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE
                    );
                    CREATE INDEX access_tokens_device ON access_tokens(user_id, device_id);
                    CREATE TABLE uia_sessions (
                        session_id TEXT PRIMARY KEY NOT NULL,
                        operation TEXT NOT NULL,
                        user_id TEXT,
                        completed TEXT NOT NULL,
                        created_ts INTEGER NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("002_rooms") { db in
            try db.execute(
                sql: """
                    CREATE TABLE stream_positions (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        position INTEGER NOT NULL
                    );
                    INSERT INTO stream_positions (id, position) VALUES (1, 0);
                    CREATE TABLE rooms (
                        room_id TEXT PRIMARY KEY NOT NULL,
                        version TEXT NOT NULL,
                        creator TEXT NOT NULL,
                        is_public INTEGER NOT NULL DEFAULT 0,
                        latest_event_id TEXT,
                        latest_depth INTEGER NOT NULL DEFAULT 0,
                        current_state_group INTEGER
                    );
                    CREATE TABLE events (
                        event_id TEXT PRIMARY KEY NOT NULL,
                        room_id TEXT NOT NULL,
                        stream_ordering INTEGER NOT NULL UNIQUE,
                        depth INTEGER NOT NULL,
                        type TEXT NOT NULL,
                        state_key TEXT,
                        sender TEXT NOT NULL,
                        origin_server_ts INTEGER NOT NULL,
                        json TEXT NOT NULL,
                        state_group INTEGER NOT NULL,
                        redacted_because TEXT,
                        sender_device TEXT,
                        txn_id TEXT
                    );
                    CREATE INDEX events_room_topological ON events(room_id, depth, stream_ordering);
                    CREATE INDEX events_room_stream ON events(room_id, stream_ordering);
                    CREATE TABLE state_groups (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        room_id TEXT NOT NULL,
                        prev_group INTEGER,
                        chain_length INTEGER NOT NULL
                    );
                    CREATE TABLE state_group_entries (
                        group_id INTEGER NOT NULL,
                        type TEXT NOT NULL,
                        state_key TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        PRIMARY KEY (group_id, type, state_key)
                    );
                    CREATE TABLE current_state (
                        room_id TEXT NOT NULL,
                        type TEXT NOT NULL,
                        state_key TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        PRIMARY KEY (room_id, type, state_key)
                    );
                    CREATE TABLE room_memberships (
                        room_id TEXT NOT NULL,
                        user_id TEXT NOT NULL,
                        membership TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        stream_ordering INTEGER NOT NULL,
                        forgotten INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (room_id, user_id)
                    );
                    CREATE INDEX room_memberships_user ON room_memberships(user_id);
                    CREATE TABLE event_transactions (
                        user_id TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        scope TEXT NOT NULL,
                        txn_id TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        PRIMARY KEY (user_id, device_id, scope, txn_id)
                    );
                    CREATE TABLE room_aliases (
                        alias TEXT PRIMARY KEY NOT NULL,
                        room_id TEXT NOT NULL,
                        creator TEXT NOT NULL
                    );
                    CREATE INDEX room_aliases_room ON room_aliases(room_id);
                    """)
        }
        migrator.registerMigration("003_account_data_filters") { db in
            try db.execute(
                sql: """
                    CREATE TABLE account_data (
                        user_id TEXT NOT NULL,
                        room_id TEXT NOT NULL,
                        type TEXT NOT NULL,
                        content TEXT NOT NULL,
                        stream_ordering INTEGER NOT NULL,
                        PRIMARY KEY (user_id, room_id, type)
                    );
                    CREATE INDEX account_data_stream ON account_data(user_id, stream_ordering);
                    CREATE TABLE receipts (
                        room_id TEXT NOT NULL,
                        user_id TEXT NOT NULL,
                        receipt_type TEXT NOT NULL,
                        thread_id TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        ts INTEGER NOT NULL,
                        stream_ordering INTEGER NOT NULL,
                        PRIMARY KEY (room_id, user_id, receipt_type, thread_id)
                    );
                    CREATE INDEX receipts_stream ON receipts(room_id, stream_ordering);
                    CREATE TABLE filters (
                        user_id TEXT NOT NULL,
                        filter_id INTEGER NOT NULL,
                        filter TEXT NOT NULL,
                        PRIMARY KEY (user_id, filter_id)
                    );
                    """)
        }
        migrator.registerMigration("004_relations") { db in
            try db.execute(
                sql: """
                    CREATE TABLE event_relations (
                        event_id TEXT PRIMARY KEY NOT NULL,
                        room_id TEXT NOT NULL,
                        relates_to TEXT NOT NULL,
                        rel_type TEXT NOT NULL,
                        type TEXT NOT NULL,
                        sender TEXT NOT NULL,
                        stream_ordering INTEGER NOT NULL
                    );
                    CREATE INDEX event_relations_parent ON event_relations(relates_to, rel_type, stream_ordering);
                    CREATE INDEX event_relations_threads ON event_relations(room_id, rel_type, stream_ordering);
                    """)
        }
        migrator.registerMigration("005_typing") { db in
            try db.execute(
                sql: """
                    CREATE TABLE typing (
                        room_id TEXT NOT NULL,
                        user_id TEXT NOT NULL,
                        expires_ts INTEGER NOT NULL,
                        stream_ordering INTEGER NOT NULL,
                        PRIMARY KEY (room_id, user_id)
                    );
                    CREATE INDEX typing_stream ON typing(stream_ordering);
                    """)
        }
        migrator.registerMigration("006_reports") { db in
            try db.execute(
                sql: """
                    CREATE TABLE reports (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        reporter TEXT NOT NULL,
                        room_id TEXT,
                        event_id TEXT,
                        user_id TEXT,
                        reason TEXT,
                        created_ts INTEGER NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("007_presence") { db in
            try db.execute(
                sql: """
                    CREATE TABLE presence (
                        user_id TEXT PRIMARY KEY NOT NULL,
                        state TEXT NOT NULL,
                        status_msg TEXT,
                        last_active_ts INTEGER NOT NULL,
                        stream_ordering INTEGER NOT NULL
                    );
                    CREATE INDEX presence_stream ON presence(stream_ordering);
                    """)
        }
        migrator.registerMigration("008_push") { db in
            try db.execute(
                sql: """
                    CREATE TABLE push_rules (
                        user_id TEXT PRIMARY KEY NOT NULL,
                        rules TEXT NOT NULL
                    );
                    CREATE TABLE event_push_actions (
                        event_id TEXT NOT NULL,
                        user_id TEXT NOT NULL,
                        room_id TEXT NOT NULL,
                        stream_ordering INTEGER NOT NULL,
                        thread_id TEXT NOT NULL,
                        highlight INTEGER NOT NULL,
                        actions TEXT NOT NULL,
                        PRIMARY KEY (event_id, user_id)
                    );
                    CREATE INDEX event_push_actions_room ON event_push_actions(user_id, room_id, stream_ordering);
                    CREATE INDEX event_push_actions_user ON event_push_actions(user_id, stream_ordering);
                    CREATE INDEX events_room_sender ON events(room_id, sender, stream_ordering);
                    CREATE TABLE pushers (
                        user_id TEXT NOT NULL,
                        app_id TEXT NOT NULL,
                        pushkey TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        app_display_name TEXT NOT NULL,
                        device_display_name TEXT NOT NULL,
                        profile_tag TEXT,
                        lang TEXT NOT NULL,
                        data TEXT NOT NULL,
                        device_id TEXT,
                        created_ts INTEGER NOT NULL,
                        PRIMARY KEY (app_id, pushkey, user_id),
                        FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE
                    );
                    CREATE INDEX pushers_user ON pushers(user_id);
                    """)
        }
        migrator.registerMigration("009_search") { db in
            // FTS5 with the unicode61 tokenizer: words split at anything not a letter or digit,
            // case-folded, diacritics kept apart. The other columns ride along unindexed.
            try db.execute(
                sql: """
                    CREATE VIRTUAL TABLE event_search USING fts5(
                        value, event_id UNINDEXED, room_id UNINDEXED, key UNINDEXED, stream_ordering UNINDEXED,
                        tokenize = 'unicode61 remove_diacritics 0'
                    );
                    """)
        }
        migrator.registerMigration("010_e2ee") { db in
            try db.execute(
                sql: """
                    CREATE TABLE device_keys (
                        user_id TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        keys TEXT NOT NULL,
                        PRIMARY KEY (user_id, device_id),
                        FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE
                    );
                    CREATE TABLE one_time_keys (
                        user_id TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        algorithm TEXT NOT NULL,
                        key_id TEXT NOT NULL,
                        key TEXT NOT NULL,
                        PRIMARY KEY (user_id, device_id, algorithm, key_id),
                        FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE
                    );
                    CREATE TABLE fallback_keys (
                        user_id TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        algorithm TEXT NOT NULL,
                        key_id TEXT NOT NULL,
                        key TEXT NOT NULL,
                        used INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (user_id, device_id, algorithm),
                        FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE
                    );
                    CREATE TABLE cross_signing_keys (
                        user_id TEXT NOT NULL,
                        usage TEXT NOT NULL,
                        key TEXT NOT NULL,
                        PRIMARY KEY (user_id, usage)
                    );
                    CREATE TABLE key_signatures (
                        target_user_id TEXT NOT NULL,
                        target_key_id TEXT NOT NULL,
                        signer_user_id TEXT NOT NULL,
                        signer_key_id TEXT NOT NULL,
                        signature TEXT NOT NULL,
                        PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
                    );
                    CREATE TABLE device_list_changes (
                        user_id TEXT NOT NULL,
                        stream_ordering INTEGER NOT NULL,
                        PRIMARY KEY (user_id, stream_ordering)
                    );
                    CREATE INDEX device_list_changes_stream ON device_list_changes(stream_ordering);
                    CREATE INDEX room_memberships_stream ON room_memberships(room_id, stream_ordering);
                    CREATE TABLE to_device_messages (
                        user_id TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        stream_ordering INTEGER NOT NULL,
                        sender TEXT NOT NULL,
                        type TEXT NOT NULL,
                        content TEXT NOT NULL,
                        PRIMARY KEY (user_id, device_id, stream_ordering),
                        FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE
                    );
                    CREATE TABLE to_device_transactions (
                        user_id TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        txn_id TEXT NOT NULL,
                        PRIMARY KEY (user_id, device_id, txn_id),
                        FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE
                    );
                    CREATE TABLE backup_versions (
                        user_id TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        algorithm TEXT NOT NULL,
                        auth_data TEXT NOT NULL,
                        etag INTEGER NOT NULL DEFAULT 0,
                        deleted INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (user_id, version)
                    );
                    CREATE TABLE backup_keys (
                        user_id TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        room_id TEXT NOT NULL,
                        session_id TEXT NOT NULL,
                        data TEXT NOT NULL,
                        PRIMARY KEY (user_id, version, room_id, session_id)
                    );
                    """)
        }
        migrator.registerMigration("011_media") { db in
            try db.execute(
                sql: """
                    CREATE TABLE media (
                        media_id TEXT PRIMARY KEY NOT NULL,
                        uploader TEXT NOT NULL,
                        content_type TEXT,
                        filename TEXT,
                        sha256 TEXT,
                        size INTEGER NOT NULL,
                        created_ts INTEGER NOT NULL,
                        expires_ts INTEGER
                    );
                    CREATE INDEX media_pending ON media(uploader, expires_ts) WHERE sha256 IS NULL;
                    CREATE TABLE media_thumbnails (
                        media_id TEXT NOT NULL,
                        width INTEGER NOT NULL,
                        height INTEGER NOT NULL,
                        method TEXT NOT NULL,
                        content_type TEXT NOT NULL,
                        sha256 TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        PRIMARY KEY (media_id, width, height, method)
                    );
                    """)
        }
        migrator.registerMigration("012_openid_uia_params_user_agents") { db in
            try db.execute(
                sql: """
                    CREATE TABLE openid_tokens (
                        token_hash TEXT PRIMARY KEY NOT NULL,
                        user_id TEXT NOT NULL,
                        expires_ts INTEGER NOT NULL
                    );
                    CREATE INDEX openid_tokens_expiry ON openid_tokens(expires_ts);
                    ALTER TABLE uia_sessions ADD COLUMN params TEXT;
                    ALTER TABLE devices ADD COLUMN last_seen_user_agent TEXT;
                    """)
        }
        migrator.registerMigration("013_lazy_members_erasure") { db in
            try db.execute(
                sql: """
                    CREATE TABLE lazy_members_sent (
                        user_id TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        room_id TEXT NOT NULL,
                        member_id TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        PRIMARY KEY (user_id, device_id, room_id, member_id)
                    );
                    ALTER TABLE users ADD COLUMN erased INTEGER NOT NULL DEFAULT 0;
                    """)
        }
        migrator.registerMigration("014_server_keys") { db in
            try db.execute(
                sql: """
                    CREATE TABLE server_keys (
                        server_name TEXT NOT NULL,
                        key_id TEXT NOT NULL,
                        public_key TEXT NOT NULL,
                        valid_until_ts INTEGER NOT NULL,
                        expired_ts INTEGER,
                        response TEXT NOT NULL,
                        PRIMARY KEY (server_name, key_id)
                    );
                    """)
        }
        // The room as a graph (DESIGN.md "Federation"): prev_events edges, the forward
        // extremities, and the state before each event. Rooms so far were lines: each event's
        // one prev is the room's previous event, its state before is that event's state after.
        migrator.registerMigration("015_event_graph") { db in
            try db.execute(
                sql: """
                    CREATE TABLE event_edges (
                        event_id TEXT NOT NULL,
                        prev_event_id TEXT NOT NULL,
                        room_id TEXT NOT NULL,
                        PRIMARY KEY (event_id, prev_event_id)
                    );
                    CREATE INDEX event_edges_prev ON event_edges(prev_event_id);
                    CREATE TABLE forward_extremities (
                        room_id TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        PRIMARY KEY (room_id, event_id)
                    );
                    ALTER TABLE events ADD COLUMN state_group_before INTEGER;
                    CREATE TABLE event_outliers (
                        event_id TEXT PRIMARY KEY NOT NULL,
                        room_id TEXT NOT NULL,
                        kind TEXT NOT NULL CHECK (kind IN ('outlier', 'rejected', 'soft_failed')),
                        reason TEXT,
                        json TEXT NOT NULL,
                        state_group_before INTEGER,
                        state_group INTEGER,
                        received_ts INTEGER NOT NULL
                    );
                    CREATE INDEX event_outliers_room ON event_outliers(room_id);
                    CREATE TEMP TABLE chained AS SELECT event_id, room_id,
                        LAG(event_id) OVER (PARTITION BY room_id ORDER BY stream_ordering) AS prev_id,
                        LAG(state_group) OVER (PARTITION BY room_id ORDER BY stream_ordering) AS before
                        FROM events;
                    INSERT INTO event_edges (event_id, prev_event_id, room_id)
                        SELECT event_id, prev_id, room_id FROM chained WHERE prev_id IS NOT NULL;
                    UPDATE events SET state_group_before = chained.before FROM chained WHERE chained.event_id = events.event_id;
                    DROP TABLE chained;
                    INSERT INTO forward_extremities (room_id, event_id)
                        SELECT room_id, latest_event_id FROM rooms WHERE latest_event_id IS NOT NULL;
                    """)
        }
        migrator.registerMigration("016_inbound_transactions") { db in
            try db.execute(
                sql: """
                    CREATE TABLE federation_inbound_transactions (
                        origin TEXT NOT NULL,
                        txn_id TEXT NOT NULL,
                        response TEXT NOT NULL,
                        received_ts INTEGER NOT NULL,
                        PRIMARY KEY (origin, txn_id)
                    );
                    CREATE INDEX federation_inbound_transactions_age ON federation_inbound_transactions(received_ts);
                    """)
        }
        // The durable outbound queue (DESIGN.md "Outbound is durable"): PDUs by event ID and
        // EDUs as rows, per destination, and each destination's back-off and sending lease.
        migrator.registerMigration("017_federation_outbox") { db in
            try db.execute(
                sql: """
                    CREATE TABLE federation_outbox (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        destination TEXT NOT NULL,
                        event_id TEXT,
                        edu TEXT,
                        created_ts INTEGER NOT NULL
                    );
                    CREATE INDEX federation_outbox_destination ON federation_outbox(destination, seq);
                    CREATE TABLE federation_destinations (
                        destination TEXT PRIMARY KEY NOT NULL,
                        failures INTEGER NOT NULL DEFAULT 0,
                        retry_at INTEGER NOT NULL DEFAULT 0,
                        lease_owner TEXT,
                        lease_until INTEGER NOT NULL DEFAULT 0
                    );
                    """)
        }
        // Message IDs of to-device messages other servers relayed: each is delivered once.
        migrator.registerMigration("019_remote_to_device_ids") { db in
            try db.execute(
                sql: """
                    CREATE TABLE remote_to_device_ids (
                        sender TEXT NOT NULL,
                        message_id TEXT NOT NULL,
                        received_ts INTEGER NOT NULL,
                        PRIMARY KEY (sender, message_id)
                    );
                    CREATE INDEX remote_to_device_ids_age ON remote_to_device_ids(received_ts);
                    """)
        }
        // Other servers' media, cached: the original and each thumbnail size fetched.
        migrator.registerMigration("020_remote_media") { db in
            try db.execute(
                sql: """
                    CREATE TABLE remote_media (
                        origin TEXT NOT NULL,
                        media_id TEXT NOT NULL,
                        variant TEXT NOT NULL,
                        content_type TEXT,
                        filename TEXT,
                        sha256 TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        fetched_ts INTEGER NOT NULL,
                        PRIMARY KEY (origin, media_id, variant)
                    );
                    """)
        }
        // Keys of remote users whose device lists are tracked, kept until an update says otherwise.
        migrator.registerMigration("021_remote_device_lists") { db in
            try db.execute(
                sql: """
                    CREATE TABLE remote_device_lists (
                        user_id TEXT PRIMARY KEY NOT NULL,
                        stream_id INTEGER,
                        keys TEXT NOT NULL
                    );
                    """)
        }
        // URL previews, one per URL and hour (`/preview_url`).
        migrator.registerMigration("022_url_previews") { db in
            try db.execute(
                sql: """
                    CREATE TABLE url_previews (
                        url TEXT NOT NULL,
                        bucket INTEGER NOT NULL,
                        preview TEXT NOT NULL,
                        PRIMARY KEY (url, bucket)
                    );
                    CREATE INDEX url_previews_bucket ON url_previews(bucket);
                    """)
        }
        // Admins' suspensions and locks (spec "Account suspension", "Account locking").
        migrator.registerMigration("023_account_restrictions") { db in
            try db.execute(
                sql: """
                    ALTER TABLE users ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE users ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
                    """)
        }
        // Rooms admins blocked, and the room deletions and history purges they started.
        migrator.registerMigration("024_room_admin") { db in
            try db.execute(
                sql: """
                    CREATE TABLE blocked_rooms (
                        room_id TEXT PRIMARY KEY NOT NULL,
                        blocked_by TEXT NOT NULL
                    );
                    CREATE TABLE admin_room_tasks (
                        id TEXT PRIMARY KEY NOT NULL,
                        kind TEXT NOT NULL,
                        room_id TEXT NOT NULL,
                        status TEXT NOT NULL,
                        error TEXT,
                        result TEXT,
                        created_ts INTEGER NOT NULL
                    );
                    CREATE INDEX admin_room_tasks_room ON admin_room_tasks(room_id, kind);
                    """)
        }
        // Media admins quarantined (local uploads in their row, other servers' media by ID)
        // or protected from quarantine.
        migrator.registerMigration("025_media_admin") { db in
            try db.execute(
                sql: """
                    ALTER TABLE media ADD COLUMN quarantined_by TEXT;
                    ALTER TABLE media ADD COLUMN safe_from_quarantine INTEGER NOT NULL DEFAULT 0;
                    CREATE INDEX media_uploader ON media(uploader, created_ts);
                    CREATE TABLE media_quarantine (
                        origin TEXT NOT NULL,
                        media_id TEXT NOT NULL,
                        quarantined_by TEXT NOT NULL,
                        PRIMARY KEY (origin, media_id)
                    );
                    """)
        }
        // Shadow bans, per-user message rate limits, and registration tokens admins create.
        migrator.registerMigration("026_moderation") { db in
            try db.execute(
                sql: """
                    ALTER TABLE users ADD COLUMN shadow_banned INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE ratelimit_overrides (
                        user_id TEXT PRIMARY KEY NOT NULL,
                        messages_per_second INTEGER NOT NULL,
                        burst_count INTEGER NOT NULL
                    );
                    CREATE TABLE registration_tokens (
                        token TEXT PRIMARY KEY NOT NULL,
                        uses_allowed INTEGER,
                        pending INTEGER NOT NULL DEFAULT 0,
                        completed INTEGER NOT NULL DEFAULT 0,
                        expiry_time INTEGER
                    );
                    """)
        }
        // What the admin destinations API shows of each server's connection.
        migrator.registerMigration("027_destination_history") { db in
            try db.execute(
                sql: """
                    ALTER TABLE federation_destinations ADD COLUMN failure_ts INTEGER;
                    ALTER TABLE federation_destinations ADD COLUMN last_failure_ts INTEGER;
                    ALTER TABLE federation_destinations ADD COLUMN last_success_seq INTEGER;
                    """)
        }
        // Delivery to application services: a cursor into the event stream per service, the
        // transaction in flight, and which node sends.
        migrator.registerMigration("028_appservices") { db in
            try db.execute(
                sql: """
                    CREATE TABLE appservice_delivery (
                        as_id TEXT PRIMARY KEY NOT NULL,
                        delivered_up_to INTEGER NOT NULL,
                        last_txn INTEGER NOT NULL,
                        pending_txn INTEGER,
                        pending_after INTEGER,
                        pending_up_to INTEGER,
                        failures INTEGER NOT NULL,
                        retry_at INTEGER NOT NULL
                    );
                    CREATE TABLE appservice_leases (
                        as_id TEXT PRIMARY KEY NOT NULL,
                        lease_owner TEXT,
                        lease_until INTEGER NOT NULL DEFAULT 0
                    );
                    """)
        }
        // Rooms an application service lists in its network's directory.
        migrator.registerMigration("029_appservice_directory") { db in
            try db.execute(
                sql: """
                    CREATE TABLE appservice_room_list (
                        as_id TEXT NOT NULL,
                        network_id TEXT NOT NULL,
                        room_id TEXT NOT NULL,
                        PRIMARY KEY (as_id, network_id, room_id)
                    );
                    """)
        }
        // Sliding sync: each room's latest bump event, and the connections' sent-room records.
        migrator.registerMigration("030_sliding_sync") { db in
            let bumpTypes = BumpEvents.types.sorted().map { "'\($0)'" }.joined(separator: ", ")
            try db.execute(
                sql: """
                    ALTER TABLE rooms ADD COLUMN bump_stamp INTEGER;
                    UPDATE rooms SET bump_stamp = (
                        SELECT MAX(stream_ordering) FROM events e WHERE e.room_id = rooms.room_id AND e.type IN (\(bumpTypes)));
                    CREATE INDEX room_memberships_user_list ON room_memberships(user_id, forgotten, stream_ordering);
                    CREATE INDEX receipts_stream_only ON receipts(stream_ordering);
                    CREATE TABLE sliding_sync_connections (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        user_id TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        conn_id TEXT NOT NULL,
                        last_used_ts INTEGER NOT NULL,
                        next_pos INTEGER NOT NULL DEFAULT 1,
                        UNIQUE (user_id, device_id, conn_id)
                    );
                    CREATE TABLE sliding_sync_positions (
                        connection_id INTEGER NOT NULL REFERENCES sliding_sync_connections(id) ON DELETE CASCADE,
                        pos INTEGER NOT NULL,
                        parent INTEGER,
                        stream_ordering INTEGER NOT NULL,
                        lists_digest TEXT NOT NULL,
                        PRIMARY KEY (connection_id, pos)
                    );
                    CREATE TABLE sliding_sync_rooms (
                        connection_id INTEGER NOT NULL REFERENCES sliding_sync_connections(id) ON DELETE CASCADE,
                        room_id TEXT NOT NULL,
                        pos INTEGER NOT NULL,
                        sent_up_to INTEGER,
                        config TEXT NOT NULL,
                        extra TEXT NOT NULL,
                        PRIMARY KEY (connection_id, room_id, pos)
                    );
                    """)
        }
        migrator.registerMigration("031_refresh_tokens") { db in
            try db.execute(
                sql: """
                    ALTER TABLE access_tokens ADD COLUMN expires_ts INTEGER;
                    ALTER TABLE access_tokens ADD COLUMN refresh_token_hash TEXT;
                    ALTER TABLE access_tokens ADD COLUMN confirms_refresh INTEGER NOT NULL DEFAULT 0;
                    CREATE INDEX access_tokens_refresh ON access_tokens(refresh_token_hash) WHERE refresh_token_hash IS NOT NULL;
                    CREATE TABLE refresh_tokens (
                        token_hash TEXT PRIMARY KEY NOT NULL,
                        user_id TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        created_ts INTEGER NOT NULL,
                        expires_ts INTEGER,
                        replaces_hash TEXT,
                        replaced_by_hash TEXT,
                        revoked_ts INTEGER,
                        FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE
                    );
                    CREATE INDEX refresh_tokens_device ON refresh_tokens(user_id, device_id);
                    CREATE TABLE login_tokens (
                        token_hash TEXT PRIMARY KEY NOT NULL,
                        user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
                        created_ts INTEGER NOT NULL,
                        expires_ts INTEGER NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("032_oauth") { db in
            try db.execute(
                sql: """
                    ALTER TABLE refresh_tokens ADD COLUMN oauth_client_id TEXT;
                    ALTER TABLE refresh_tokens ADD COLUMN scope TEXT;
                    CREATE TABLE oauth_clients (
                        client_id TEXT PRIMARY KEY NOT NULL,
                        metadata TEXT NOT NULL,
                        created_ts INTEGER NOT NULL
                    );
                    CREATE TABLE oauth_authorization_requests (
                        id TEXT PRIMARY KEY NOT NULL,
                        client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
                        redirect_uri TEXT NOT NULL,
                        scope TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        state TEXT,
                        response_mode TEXT NOT NULL,
                        code_challenge TEXT NOT NULL,
                        wants_registration INTEGER NOT NULL,
                        created_ts INTEGER NOT NULL
                    );
                    CREATE TABLE oauth_authorization_codes (
                        code_hash TEXT PRIMARY KEY NOT NULL,
                        client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
                        user_id TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        scope TEXT NOT NULL,
                        redirect_uri TEXT NOT NULL,
                        code_challenge TEXT NOT NULL,
                        created_ts INTEGER NOT NULL,
                        expires_ts INTEGER NOT NULL,
                        used_ts INTEGER
                    );
                    CREATE TABLE oauth_device_authorizations (
                        device_code_hash TEXT PRIMARY KEY NOT NULL,
                        user_code TEXT NOT NULL UNIQUE,
                        client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
                        scope TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        status TEXT NOT NULL,
                        user_id TEXT,
                        created_ts INTEGER NOT NULL,
                        expires_ts INTEGER NOT NULL,
                        last_poll_ts INTEGER
                    );
                    CREATE TABLE web_sessions (
                        id_hash TEXT PRIMARY KEY NOT NULL,
                        user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
                        created_ts INTEGER NOT NULL,
                        last_active_ts INTEGER NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("033_sso") { db in
            try db.execute(
                sql: """
                    CREATE TABLE sso_attempts (
                        state_hash TEXT PRIMARY KEY NOT NULL,
                        provider_id TEXT NOT NULL,
                        browser_hash TEXT NOT NULL,
                        nonce TEXT NOT NULL,
                        code_verifier TEXT NOT NULL,
                        purpose TEXT NOT NULL,
                        target TEXT NOT NULL,
                        created_ts INTEGER NOT NULL
                    );
                    CREATE TABLE user_external_ids (
                        provider_id TEXT NOT NULL,
                        subject TEXT NOT NULL,
                        user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
                        created_ts INTEGER NOT NULL,
                        PRIMARY KEY (provider_id, subject)
                    );
                    CREATE INDEX user_external_ids_user ON user_external_ids(user_id);
                    """)
        }
        migrator.registerMigration("034_threepids") { db in
            try db.execute(
                sql: """
                    CREATE TABLE threepid_validations (
                        sid TEXT PRIMARY KEY NOT NULL,
                        client_secret TEXT NOT NULL,
                        medium TEXT NOT NULL,
                        address TEXT NOT NULL,
                        token_hash TEXT NOT NULL,
                        purpose TEXT NOT NULL,
                        send_attempt INTEGER NOT NULL,
                        next_link TEXT,
                        created_ts INTEGER NOT NULL,
                        expires_ts INTEGER NOT NULL,
                        validated_ts INTEGER
                    );
                    CREATE INDEX threepid_validations_secret ON threepid_validations(client_secret, medium, address, purpose);
                    CREATE TABLE user_threepids (
                        medium TEXT NOT NULL,
                        address TEXT NOT NULL,
                        user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
                        validated_ts INTEGER NOT NULL,
                        added_ts INTEGER NOT NULL,
                        PRIMARY KEY (medium, address)
                    );
                    CREATE INDEX user_threepids_user ON user_threepids(user_id);
                    """)
        }
        migrator.registerMigration("036_shared_push_actions") { db in
            // See `RoomWriteTransaction.addSharedPushAction`. Members joined before this
            // migration were joined before every shared action, so 0 is their right start.
            try db.execute(
                sql: """
                    CREATE TABLE room_push_actions (
                        event_id TEXT PRIMARY KEY NOT NULL,
                        room_id TEXT NOT NULL,
                        stream_ordering INTEGER NOT NULL,
                        sender TEXT NOT NULL,
                        thread_id TEXT NOT NULL,
                        highlight INTEGER NOT NULL,
                        actions TEXT NOT NULL
                    );
                    CREATE INDEX room_push_actions_room ON room_push_actions(room_id, stream_ordering);
                    CREATE TABLE push_action_exclusions (
                        event_id TEXT NOT NULL,
                        user_id TEXT NOT NULL,
                        room_id TEXT NOT NULL,
                        PRIMARY KEY (event_id, user_id)
                    );
                    ALTER TABLE room_memberships ADD COLUMN joined_at INTEGER NOT NULL DEFAULT 0;
                    """)
        }
        migrator.registerMigration("037_membership_stream") { db in
            // A sync's membership changes are found from the few recent rows, not by probing
            // each of the viewer's rooms (a thousand rooms made it the costliest read).
            try db.execute(sql: "CREATE INDEX room_memberships_stream_only ON room_memberships(stream_ordering)")
        }
        return migrator
    }
}
