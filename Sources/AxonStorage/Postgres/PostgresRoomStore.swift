import Foundation
import Logging
import MatrixModel
import PostgresNIO

extension PostgresStorage {
    static let eventColumns = "event_id, room_id, stream_ordering, state_group, json, redacted_because, sender_device, txn_id"
    static let eventColumnsE = "e.event_id, e.room_id, e.stream_ordering, e.state_group, e.json, e.redacted_because, e.sender_device, e.txn_id"
    static let membershipColumns = "room_id, user_id, membership, event_id, stream_ordering, forgotten"

    static func storedEvent(_ row: PostgresRow) throws -> StoredEvent {
        let (eventID, roomID, position, group, json, redactedBy, device, txn) = try row.decode(
            (String, String, Int64, Int64, String, String?, String?, String?).self)
        return StoredEvent(
            pdu: PDU(eventID: eventID, json: try JSON.stored(json).objectValue ?? [:]), roomID: roomID, streamPosition: position,
            stateGroup: group, redactedBecause: redactedBy, senderDevice: device, transactionID: txn)
    }

    static func membership(_ row: PostgresRow) throws -> Membership {
        let (roomID, userID, membership, eventID, position, forgotten) = try row.decode((String, String, String, String, Int64, Bool).self)
        return Membership(
            roomID: roomID, userID: userID, membership: membership, eventID: eventID, streamPosition: position, forgotten: forgotten)
    }

    static func room(_ connection: PostgresConnection, id: String, logger: Logger) async throws -> RoomRecord? {
        guard
            let row = try await connection.rows(
                """
                SELECT room_id, version, creator, is_public, latest_event_id, latest_depth, current_state_group FROM rooms
                WHERE room_id = \(id)
                """, logger: logger
            ).first
        else { return nil }
        return try roomRecord(row)
    }

    static func roomRecord(_ row: PostgresRow) throws -> RoomRecord? {
        let (roomID, versionName, creator, isPublic, latest, depth, group) = try row.decode(
            (String, String, String, Bool, String?, Int64, Int64?).self)
        guard let version = RoomVersion(versionName) else { return nil }
        return RoomRecord(
            roomID: roomID, version: version, creator: creator, isPublic: isPublic, latestEventID: latest, latestDepth: depth,
            currentStateGroup: group)
    }

    static func events(_ connection: PostgresConnection, ids: [String], logger: Logger) async throws -> [StoredEvent] {
        guard !ids.isEmpty else { return [] }
        return try await prepared(EventsByIDQuery.self, EventsByIDQuery.make(ids: ids), on: connection, logger: logger).map(storedEvent)
    }

    static func currentStateEvent(_ connection: PostgresConnection, roomID: String, key: StateKey, logger: Logger) async throws -> PDU? {
        try await connection.rows(
            """
            SELECT \(unescaped: eventColumnsE) FROM current_state s JOIN events e ON e.event_id = s.event_id
            WHERE s.room_id = \(roomID) AND s.type = \(key.type) AND s.state_key = \(key.stateKey)
            """, logger: logger
        ).first.map(storedEvent)?.pdu
    }

    static let chainSQL = """
        WITH RECURSIVE chain(id, prev, n) AS (
            SELECT id, prev_group, 0 FROM state_groups WHERE id = $1
            UNION ALL
            SELECT g.id, g.prev_group, c.n + 1 FROM state_groups g JOIN chain c ON g.id = c.prev
        )
        """

    static func stateEntries(_ connection: PostgresConnection, group: Int64, logger: Logger) async throws -> [StateKey: String] {
        let rows = try await prepared(StateEntriesQuery.self, StateEntriesQuery.make(group: group), on: connection, logger: logger)
        var entries: [StateKey: String] = [:]
        for row in rows {
            let (type, stateKey, eventID) = try row.decode((String, String, String).self)
            entries[StateKey(type, stateKey)] = eventID
        }
        return entries
    }

    static func notify(_ connection: PostgresConnection, change: String, logger: Logger) async throws {
        try await connection.rows("SELECT pg_notify('axon_stream', \(change))", logger: logger)
    }

    /// Runs `body` on one pooled connection (reads that need several statements).
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in try await body(connection) }
        } catch let error as PSQLError {
            throw Self.mapped(error)
        }
    }

    public func writeRoom<T: Sendable>(
        roomID: String, _ body: @escaping @Sendable (any RoomWriteTransaction) async throws -> T
    ) async throws -> T {
        let logger = self.logger
        return try await Task {
            try await self.transaction { connection in
                let transaction = try await PostgresRoomTransaction.begin(connection: connection, roomID: roomID, logger: logger)
                return try await body(transaction)
            }
        }.value
    }

    public func room(id: String) async throws -> RoomRecord? {
        let logger = self.logger
        return try await withConnection { try await Self.room($0, id: id, logger: logger) }
    }

    public func event(id: String) async throws -> StoredEvent? {
        try await events(ids: [id]).first
    }

    public func events(ids: [String]) async throws -> [StoredEvent] {
        let logger = self.logger
        return try await caches.events(ids) { missing in
            try await withConnection { try await Self.events($0, ids: missing, logger: logger) }
        }
    }

    public func currentStateEvents(roomID: String) async throws -> [StoredEvent] {
        try await events(ids: Array(try await currentStateIDs(roomID: roomID).values))
    }

    public func currentStateEvent(roomID: String, key: StateKey) async throws -> PDU? {
        guard let id = try await currentStateIDs(roomID: roomID)[key] else { return nil }
        return try await event(id: id)?.pdu
    }

    private func currentStateIDs(roomID: String) async throws -> [StateKey: String] {
        try await caches.currentStateIDs(roomID) {
            var state: [StateKey: String] = [:]
            for row in try await query("SELECT type, state_key, event_id FROM current_state WHERE room_id = \(roomID)") {
                let (type, stateKey, eventID) = try row.decode((String, String, String).self)
                state[StateKey(type, stateKey)] = eventID
            }
            return state
        }
    }

    public func state(group: Int64) async throws -> [StateKey: PDU] {
        var state: [StateKey: PDU] = [:]
        for event in try await stateEvents(group: group) { state[StateKey(event.pdu.type, event.pdu.stateKey ?? "")] = event.pdu }
        return state
    }

    public func stateEvents(group: Int64) async throws -> [StoredEvent] {
        try await stateEvents(group: group) { _ in true }
    }

    public func stateEvents(group: Int64, keeping keep: (StateKey) -> Bool) async throws -> [StoredEvent] {
        let logger = self.logger
        let entries = try await caches.stateGroupIDs(group) {
            try await withConnection { try await Self.stateEntries($0, group: group, logger: logger) }
        }
        return try await events(ids: entries.compactMap { keep($0.key) ? $0.value : nil })
    }

    /// One entry of a snapshot not cached whole is read alone: a new snapshot of a big room
    /// is not worth loading entirely for one member.
    public func stateEvent(group: Int64, key: StateKey) async throws -> PDU? {
        if let entries = caches.stateGroups.value(group) {
            guard let id = entries[key] else { return nil }
            return try await event(id: id)?.pdu
        }
        let rows = try await prepared(StateEntryQuery.self, StateEntryQuery.make(group: group, key: key))
        guard let id = try rows.first?.decode(String.self) else { return nil }
        return try await event(id: id)?.pdu
    }

    public func membership(roomID: String, userID: String) async throws -> Membership? {
        try await roomMembers(roomID).byUser[userID]
    }

    public func memberships(userID: String) async throws -> [Membership] {
        try await caches.userMemberships(userID) {
            try await query(
                "SELECT \(unescaped: Self.membershipColumns) FROM room_memberships WHERE user_id = \(userID) ORDER BY stream_ordering"
            ).map(Self.membership)
        }
    }

    public func memberships(userID: String, changedAfter after: Int64, orIn rooms: Set<String>) async throws -> [Membership] {
        try await memberships(userID: userID).filter { $0.streamPosition > after || rooms.contains($0.roomID) }
    }

    public func members(roomID: String, membership: String?) async throws -> [Membership] {
        try await roomMembers(roomID).rows(membership: membership)
    }

    func roomMembers(_ roomID: String) async throws -> RoomMembers {
        try await caches.roomMembers(
            roomID,
            loadAll: {
                try await query("SELECT \(unescaped: Self.membershipColumns) FROM room_memberships WHERE room_id = \(roomID)").map(Self.membership)
            },
            loadUsers: { users in
                try await query(
                    "SELECT \(unescaped: Self.membershipColumns) FROM room_memberships WHERE room_id = \(roomID) AND user_id = ANY(\(users))"
                ).map(Self.membership)
            })
    }

    public func joinPositions(roomID: String, userID: String) async throws -> [Int64] {
        try await query(
            "SELECT stream_ordering, json FROM events WHERE room_id = \(roomID) AND type = 'm.room.member' AND state_key = \(userID)"
        ).compactMap { row in
            let (position, json) = try row.decode((Int64, String).self)
            return try JSON.stored(json)["content"]?["membership"] == "join" ? position : nil
        }
    }

    public func setForgotten(roomID: String, userID: String) async throws {
        try await query("UPDATE room_memberships SET forgotten = TRUE WHERE room_id = \(roomID) AND user_id = \(userID)")
    }

    public func isRoomForgottenByAll(roomID: String) async throws -> Bool {
        try await query(
            """
            SELECT COUNT(*) FROM room_memberships m JOIN users u ON u.user_id = m.user_id
            WHERE m.room_id = \(roomID) AND NOT m.forgotten
            """
        )[0].decode(Int64.self) == 0
    }

    public func purgeRoom(roomID: String) async throws {
        let logger = self.logger
        try await transaction { connection in
            try await connection.rows(
                "DELETE FROM event_transactions WHERE event_id IN (SELECT event_id FROM events WHERE room_id = \(roomID))", logger: logger)
            for table in perRoomTables {
                try await connection.rows("DELETE FROM \(unescaped: table) WHERE room_id = \(roomID)", logger: logger)
            }
            try await connection.rows(
                "DELETE FROM state_group_entries WHERE group_id IN (SELECT id FROM state_groups WHERE room_id = \(roomID))",
                logger: logger)
            try await connection.rows("DELETE FROM state_groups WHERE room_id = \(roomID)", logger: logger)
        }
    }

    public func roomEvents(roomID: String, from: TopologicalPosition?, direction: Direction, limit: Int) async throws -> [StoredEvent] {
        let order: String = direction.isForward ? "ASC" : "DESC"
        if let from {
            let comparison: String = direction.isForward ? ">" : "<"
            return try await query(
                """
                SELECT \(unescaped: Self.eventColumns) FROM events WHERE room_id = \(roomID)
                AND (depth, stream_ordering) \(unescaped: comparison) (\(from.depth), \(from.stream))
                ORDER BY depth \(unescaped: order), stream_ordering \(unescaped: order) LIMIT \(limit)
                """
            ).map(Self.storedEvent)
        }
        return try await query(
            """
            SELECT \(unescaped: Self.eventColumns) FROM events WHERE room_id = \(roomID)
            ORDER BY depth \(unescaped: order), stream_ordering \(unescaped: order) LIMIT \(limit)
            """
        ).map(Self.storedEvent)
    }

    public func topologicalPosition(eventID: String) async throws -> TopologicalPosition? {
        try await query("SELECT depth, stream_ordering FROM events WHERE event_id = \(eventID)").first.map { row in
            let (depth, stream) = try row.decode((Int64, Int64).self)
            return TopologicalPosition(depth: depth, stream: stream)
        }
    }

    public func latestEvent(roomID: String, atOrBefore stream: Int64) async throws -> StoredEvent? {
        try await query(
            """
            SELECT \(unescaped: Self.eventColumns) FROM events WHERE room_id = \(roomID) AND stream_ordering <= \(stream)
            ORDER BY stream_ordering DESC LIMIT 1
            """
        ).first.map(Self.storedEvent)
    }

    public func currentStreamPosition() async throws -> Int64 {
        try await prepared(StreamPositionQuery.self, StreamPositionQuery.make())[0].decode(Int64.self)
    }

    public func relations(
        roomID: String, parentID: String, relType: String?, eventType: String?, from: Int64?, forward: Bool, limit: Int
    ) async throws -> [StoredEvent] {
        let comparison: String = forward ? ">" : "<"
        let order: String = forward ? "ASC" : "DESC"
        return try await query(
            """
            SELECT \(unescaped: Self.eventColumnsE) FROM event_relations r JOIN events e ON e.event_id = r.event_id
            WHERE r.relates_to = \(parentID) AND r.room_id = \(roomID) AND (\(relType)::TEXT IS NULL OR r.rel_type = \(relType))
            AND (\(eventType)::TEXT IS NULL OR r.type = \(eventType))
            AND (\(from)::BIGINT IS NULL OR r.stream_ordering \(unescaped: comparison) \(from))
            ORDER BY r.stream_ordering \(unescaped: order) LIMIT \(limit)
            """
        ).map(Self.storedEvent)
    }

    public func threadRoots(roomID: String, participant: String?, before: Int64?, limit: Int) async throws -> [(rootID: String, latest: Int64)] {
        try await query(
            """
            SELECT r.relates_to, MAX(r.stream_ordering) AS latest FROM event_relations r
            WHERE r.room_id = \(roomID) AND r.rel_type = 'm.thread'
            AND (\(participant)::TEXT IS NULL OR r.relates_to IN (
                SELECT relates_to FROM event_relations WHERE rel_type = 'm.thread' AND sender = \(participant)
                UNION SELECT event_id FROM events WHERE room_id = \(roomID) AND sender = \(participant)))
            GROUP BY r.relates_to
            HAVING (\(before)::BIGINT IS NULL OR MAX(r.stream_ordering) < \(before))
            ORDER BY latest DESC LIMIT \(limit)
            """
        ).map { row in
            let (root, latest) = try row.decode((String, Int64).self)
            return (rootID: root, latest: latest)
        }
    }

    public func relationRows(roomID: String, parentIDs: [String], relTypes: [String]) async throws -> [RelationRow] {
        guard !parentIDs.isEmpty, !relTypes.isEmpty else { return [] }
        return try await prepared(RelationRowsQuery.self, RelationRowsQuery.make(roomID: roomID, parentIDs: parentIDs, relTypes: relTypes)).map { row in
            let (eventID, parentID, relType, eventType, sender, position) = try row.decode((String, String, String, String, String, Int64).self)
            return RelationRow(
                eventID: eventID, parentID: parentID, relType: relType, eventType: eventType, sender: sender, streamPosition: position)
        }
    }

    public func directoryCandidates(userID: String) async throws -> [Account] {
        try await query(
            """
            SELECT \(unescaped: Self.accountColumns.split(separator: ",").map { "u." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")) FROM users u WHERE NOT u.deactivated AND u.user_id IN (
                        SELECT m.user_id FROM room_memberships m WHERE m.membership = 'join' AND (
                            m.room_id IN (SELECT room_id FROM room_memberships WHERE user_id = \(userID) AND membership = 'join')
                            OR m.room_id IN (
                                SELECT cs.room_id FROM current_state cs JOIN events e ON e.event_id = cs.event_id
                                WHERE cs.type = 'm.room.join_rules' AND cs.state_key = ''
                                AND (e.json::jsonb -> 'content' ->> 'join_rule') = 'public')))
            """
        ).map(Self.account)
    }

    public func setAlias(_ alias: String, roomID: String, creator: String) async throws {
        try await query("INSERT INTO room_aliases (alias, room_id, creator) VALUES (\(alias), \(roomID), \(creator))")
    }

    public func aliasTarget(_ alias: String) async throws -> (roomID: String, creator: String)? {
        try await query("SELECT room_id, creator FROM room_aliases WHERE alias = \(alias)").first.map { row in
            let (roomID, creator) = try row.decode((String, String).self)
            return (roomID: roomID, creator: creator)
        }
    }

    public func aliases(roomID: String) async throws -> [String] {
        try await query("SELECT alias FROM room_aliases WHERE room_id = \(roomID) ORDER BY alias").map { try $0.decode(String.self) }
    }

    public func deleteAlias(_ alias: String) async throws {
        try await query("DELETE FROM room_aliases WHERE alias = \(alias)")
    }

    public func setPublic(roomID: String, isPublic: Bool) async throws {
        try await query("UPDATE rooms SET is_public = \(isPublic) WHERE room_id = \(roomID)")
    }

    public func publicRooms() async throws -> [String] {
        try await query("SELECT room_id FROM rooms WHERE is_public ORDER BY room_id").map { try $0.decode(String.self) }
    }
}

enum StreamPositionQuery: PreparedQuery {
    static func make() -> PostgresQuery { "SELECT position FROM stream_positions WHERE id = 1" }
    static let sql = make().sql
}

enum EventsByIDQuery: PreparedQuery {
    static func make(ids: [String]) -> PostgresQuery {
        "SELECT \(unescaped: PostgresStorage.eventColumns) FROM events WHERE event_id = ANY(\(ids))"
    }
    static let sql = make(ids: []).sql
}

/// `relationRows`: what a timeline's bundled aggregations are built from.
enum RelationRowsQuery: PreparedQuery {
    static func make(roomID: String, parentIDs: [String], relTypes: [String]) -> PostgresQuery {
        """
        SELECT event_id, relates_to, rel_type, type, sender, stream_ordering FROM event_relations
        WHERE room_id = \(roomID) AND relates_to = ANY(\(parentIDs)) AND rel_type = ANY(\(relTypes)) ORDER BY stream_ordering
        """
    }
    static let sql = make(roomID: "", parentIDs: [], relTypes: []).sql
}

/// A snapshot's whole (type, state key) → event ID map, through its delta chain.
enum StateEntriesQuery: PreparedQuery {
    static func make(group: Int64) -> PostgresQuery {
        var bindings = PostgresBindings()
        bindings.append(group)
        return PostgresQuery(
            unsafeSQL: PostgresStorage.chainSQL
                + " SELECT e.type, e.state_key, e.event_id FROM state_group_entries e JOIN chain c ON e.group_id = c.id ORDER BY c.n DESC",
            binds: bindings)
    }
    static let sql = make(group: 0).sql
}

/// One entry of a snapshot, through its delta chain.
enum StateEntryQuery: PreparedQuery {
    static func make(group: Int64, key: StateKey) -> PostgresQuery {
        var bindings = PostgresBindings()
        bindings.append(group)
        bindings.append(key.type)
        bindings.append(key.stateKey)
        return PostgresQuery(
            unsafeSQL: PostgresStorage.chainSQL
                + " SELECT s.event_id FROM state_group_entries s JOIN chain c ON s.group_id = c.id WHERE s.type = $2 AND s.state_key = $3 ORDER BY c.n LIMIT 1",
            binds: bindings)
    }
    static let sql = make(group: 0, key: StateKey("", "")).sql
}
