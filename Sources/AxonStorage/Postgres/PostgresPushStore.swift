import MatrixModel
import PostgresNIO

extension PostgresStorage {
    public func pushRules(userID: String) async throws -> JSONObject? {
        try await pushRules(for: [userID])[userID]
    }

    public func pushRules(for userIDs: [String]) async throws -> [String: JSONObject] {
        try await caches.pushRules(userIDs) { missing in try await Self.pushRules(for: missing) { try await query($0) } }
    }

    /// Several users' stored rule documents, through `run` (a pool query or a transaction's).
    static func pushRules(
        for userIDs: [String], _ run: (PostgresQuery) async throws -> [PostgresRow]
    ) async throws -> [String: JSONObject] {
        guard !userIDs.isEmpty else { return [:] }
        var documents: [String: JSONObject] = [:]
        for row in try await run("SELECT user_id, rules FROM push_rules WHERE user_id = ANY(\(userIDs))") {
            let (userID, rules) = try row.decode((String, String).self)
            documents[userID] = try JSON.stored(rules).objectValue
        }
        return documents
    }

    public func updatePushRules(
        userID: String, _ change: @escaping @Sendable (JSONObject?) throws -> (document: JSONObject, rules: JSON)
    ) async throws -> Int64 {
        let logger = self.logger
        return try await transaction { connection in
            // FOR UPDATE serialises concurrent changes by one user across nodes; a first change
            // races only on the insert, which the primary key turns into a conflict.
            let current = try await connection.rows("SELECT rules FROM push_rules WHERE user_id = \(userID) FOR UPDATE", logger: logger)
                .first.flatMap { try JSON.stored(try $0.decode(String.self)).objectValue }
            let (document, rules) = try change(current)
            try await connection.rows(
                """
                INSERT INTO push_rules (user_id, rules) VALUES (\(userID), \(JSON.object(document).encodedString()))
                ON CONFLICT (user_id) DO UPDATE SET rules = excluded.rules
                """, logger: logger)
            return try await Self.putAccountData(
                connection, userID: userID, roomID: nil, type: "m.push_rules", content: rules, logger: logger)
        }
    }

    /// See `SQLiteStorage.readPosition`.
    private static let readPosition = """
        GREATEST(
            COALESCE((SELECT MAX(e2.stream_ordering) FROM receipts r JOIN events e2 ON e2.event_id = r.event_id
                WHERE r.room_id = a.room_id AND r.user_id = a.user_id AND r.receipt_type IN ('m.read', 'm.read.private')
                AND r.thread_id IN ('', a.thread_id)), 0),
            COALESCE((SELECT MAX(e3.stream_ordering) FROM events e3 WHERE e3.room_id = a.room_id AND e3.sender = a.user_id), 0))
        """

    public func notificationCounts(userID: String, roomID: String) async throws -> [NotificationCount] {
        // The batched statement for one room: one text of the counting rules, not two.
        try await prepared(UnreadCountsQuery.self, UnreadCountsQuery.make(userID: userID, roomIDs: [roomID])).map { row in
            let (_, thread, count, highlights) = try row.decode((String, String, Int64, Int64).self)
            return NotificationCount(threadID: thread, notifications: Int(count), highlights: Int(highlights))
        }
    }

    public func notifications(userID: String, before: Int64?, limit: Int, highlightsOnly: Bool) async throws -> [StoredNotification] {
        try await query(
            """
            SELECT a.actions, a.stream_ordering <= \(unescaped: Self.readPosition), \(unescaped: Self.eventColumnsE)
            FROM (
                SELECT event_id, user_id, room_id, stream_ordering, thread_id, highlight, actions FROM event_push_actions
                WHERE user_id = \(userID) AND stream_ordering < \(before ?? Int64.max)
                UNION ALL
                SELECT s.event_id, m.user_id, s.room_id, s.stream_ordering, s.thread_id, s.highlight, s.actions FROM room_memberships m
                JOIN room_push_actions s ON s.room_id = m.room_id AND s.stream_ordering < \(before ?? Int64.max)
                WHERE m.user_id = \(userID) AND \(unescaped: sharedActionReachesMember)
            ) a JOIN events e ON e.event_id = a.event_id
            \(unescaped: highlightsOnly ? "WHERE a.highlight" : "")
            ORDER BY a.stream_ordering DESC LIMIT \(limit)
            """
        ).map { row in
            let (actions, read, eventID, roomID, position, group, json, redactedBy, device, txn) = try row.decode(
                (String, Bool, String, String, Int64, Int64, String, String?, String?, String?).self)
            let event = StoredEvent(
                pdu: PDU(eventID: eventID, json: try JSON.stored(json).objectValue ?? [:]), roomID: roomID, streamPosition: position,
                stateGroup: group, redactedBecause: redactedBy, senderDevice: device, transactionID: txn)
            return StoredNotification(event: event, actions: try JSON.stored(actions), read: read)
        }
    }

    static let pusherColumns =
        "p.user_id, p.app_id, p.pushkey, p.kind, p.app_display_name, p.device_display_name, p.profile_tag, p.lang, p.data, p.device_id, p.created_ts"

    public func pushDeliveries(eventID: String) async throws -> [PushDelivery] {
        try await query(
            """
            SELECT a.event_id, a.thread_id, a.highlight, a.actions, \(unescaped: Self.pusherColumns) FROM event_push_actions a
            JOIN pushers p ON p.user_id = a.user_id WHERE a.event_id = \(eventID)
            UNION ALL
            SELECT s.event_id, s.thread_id, s.highlight, s.actions, \(unescaped: Self.pusherColumns) FROM room_push_actions s
            JOIN room_memberships m ON m.room_id = s.room_id
            JOIN pushers p ON p.user_id = m.user_id
            WHERE s.event_id = \(eventID) AND \(unescaped: sharedActionReachesMember)
            """
        ).map { row in
            let cells = Array(row)
            let pusher = try Self.pusher(Array(cells.dropFirst(4)))
            return PushDelivery(
                action: PushActionRecord(
                    userID: pusher.userID, eventID: try cells[0].decode(String.self), threadID: try cells[1].decode(String.self),
                    highlight: try cells[2].decode(Bool.self), actions: try JSON.stored(try cells[3].decode(String.self))),
                pusher: pusher)
        }
    }

    public func pushers(userID: String) async throws -> [Pusher] {
        try await query("SELECT \(unescaped: Self.pusherColumns) FROM pushers p WHERE p.user_id = \(userID) ORDER BY p.created_ts")
            .map { try Self.pusher(Array($0)) }
    }

    public func setPusher(_ pusher: Pusher, append: Bool) async throws {
        let logger = self.logger
        try await transaction { connection in
            if !append {
                try await connection.rows(
                    "DELETE FROM pushers WHERE app_id = \(pusher.appID) AND pushkey = \(pusher.pushkey) AND user_id != \(pusher.userID)",
                    logger: logger)
            }
            try await connection.rows(
                """
                INSERT INTO pushers (user_id, app_id, pushkey, kind, app_display_name, device_display_name, profile_tag, lang,
                    data, device_id, created_ts)
                VALUES (\(pusher.userID), \(pusher.appID), \(pusher.pushkey), \(pusher.kind), \(pusher.appDisplayName),
                    \(pusher.deviceDisplayName), \(pusher.profileTag), \(pusher.lang), \(pusher.data.encodedString()),
                    \(pusher.deviceID), \(pusher.createdAt))
                ON CONFLICT (app_id, pushkey, user_id) DO UPDATE SET kind = excluded.kind,
                    app_display_name = excluded.app_display_name, device_display_name = excluded.device_display_name,
                    profile_tag = excluded.profile_tag, lang = excluded.lang, data = excluded.data, device_id = excluded.device_id
                """, logger: logger)
        }
    }

    public func deletePusher(userID: String, appID: String, pushkey: String) async throws {
        try await query("DELETE FROM pushers WHERE user_id = \(userID) AND app_id = \(appID) AND pushkey = \(pushkey)")
    }

    private static func pusher(_ cells: [PostgresCell]) throws -> Pusher {
        Pusher(
            userID: try cells[0].decode(String.self), appID: try cells[1].decode(String.self), pushkey: try cells[2].decode(String.self),
            kind: try cells[3].decode(String.self), appDisplayName: try cells[4].decode(String.self),
            deviceDisplayName: try cells[5].decode(String.self), profileTag: try cells[6].decode(String?.self),
            lang: try cells[7].decode(String.self), data: try JSON.stored(try cells[8].decode(String.self)),
            deviceID: try cells[9].decode(String?.self), createdAt: try cells[10].decode(Int64.self))
    }

    public func search(_ query: SearchQuery) async throws -> (hits: [SearchHit], count: Int) {
        guard !query.words.isEmpty, !query.roomIDs.isEmpty, !query.keys.isEmpty else { return ([], 0) }
        // Words are letters and digits only, so they cannot carry tsquery operators.
        let tsquery = query.words.map { $0 + ":*" }.joined(separator: " & ")
        let count = try await self.query(
            """
            SELECT COUNT(*) FROM event_search WHERE vector @@ to_tsquery('simple', \(tsquery))
            AND room_id = ANY(\(query.roomIDs)) AND key = ANY(\(query.keys))
            """
        ).first?.decode(Int64.self) ?? 0
        let rows: [PostgresRow]
        switch query.order {
        case .rank:
            rows = try await self.query(
                """
                SELECT s.event_id, ts_rank_cd(s.vector, q)::FLOAT8 AS rank FROM event_search s, to_tsquery('simple', \(tsquery)) q
                WHERE s.vector @@ q AND s.room_id = ANY(\(query.roomIDs)) AND s.key = ANY(\(query.keys))
                ORDER BY rank DESC, s.stream_ordering DESC LIMIT \(query.limit) OFFSET \(query.offset)
                """)
        case .recent:
            rows = try await self.query(
                """
                SELECT s.event_id, ts_rank_cd(s.vector, q)::FLOAT8 AS rank FROM event_search s, to_tsquery('simple', \(tsquery)) q
                WHERE s.vector @@ q AND s.room_id = ANY(\(query.roomIDs)) AND s.key = ANY(\(query.keys))
                AND s.stream_ordering < \(query.before ?? Int64.max)
                ORDER BY s.stream_ordering DESC LIMIT \(query.limit)
                """)
        }
        let ranked = try rows.map { try $0.decode((String, Double).self) }
        let logger = self.logger
        let events = try await client.withConnection { connection in
            try await Self.events(connection, ids: ranked.map(\.0), logger: logger)
        }
        let byID = Dictionary(events.map { ($0.pdu.eventID, $0) }, uniquingKeysWith: { first, _ in first })
        return (ranked.compactMap { id, rank in byID[id].map { SearchHit(event: $0, rank: rank) } }, Int(count))
    }
}
