import Foundation
import Logging
import MatrixModel
import PostgresNIO
import Synchronization

/// A room write transaction on PostgreSQL: one connection in a transaction holding the room's
/// advisory lock, so no other node writes to the room meanwhile.
final class PostgresRoomTransaction: RoomWriteTransaction {
    static let maxChainLength = 50

    private let connection: PostgresConnection
    private let logger: Logger
    private let record: Mutex<RoomRecord?>

    var room: RoomRecord? { record.withLock { $0 } }

    private init(connection: PostgresConnection, logger: Logger, room: RoomRecord?) {
        self.connection = connection
        self.logger = logger
        self.record = Mutex(room)
    }

    static func begin(connection: PostgresConnection, roomID: String, logger: Logger) async throws -> PostgresRoomTransaction {
        try await connection.rows("SELECT pg_advisory_xact_lock(hashtextextended(\(roomID), 0))", logger: logger)
        let room = try await PostgresStorage.room(connection, id: roomID, logger: logger)
        return PostgresRoomTransaction(connection: connection, logger: logger, room: room)
    }

    /// Prepared once per connection (`StatementSlots`): a send is about twenty of these.
    @discardableResult
    private func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await connection.preparedRows(query, logger: logger)
    }

    func createRoom(_ newRoom: RoomRecord) async throws {
        try await rows(
            """
            INSERT INTO rooms (room_id, version, creator, is_public)
            VALUES (\(newRoom.roomID), \(newRoom.version.identifier), \(newRoom.creator), \(newRoom.isPublic))
            """)
        record.withLock { $0 = newRoom }
    }

    func currentStateEvent(_ key: StateKey) async throws -> PDU? {
        guard let room else { return nil }
        return try await PostgresStorage.currentStateEvent(connection, roomID: room.roomID, key: key, logger: logger)
    }

    func currentStateEvents(_ keys: [StateKey]) async throws -> [StateKey: PDU] {
        guard let room else { return [:] }
        var found: [StateKey: PDU] = [:]
        for event in try await rows(
            """
            SELECT \(unescaped: PostgresStorage.eventColumnsE) FROM current_state s JOIN events e ON e.event_id = s.event_id
            WHERE s.room_id = \(room.roomID)
            AND (s.type, s.state_key) IN (SELECT * FROM unnest(\(keys.map(\.type))::TEXT[], \(keys.map(\.stateKey))::TEXT[]))
            """
        ).map(PostgresStorage.storedEvent) {
            found[StateKey(event.pdu.type, event.pdu.stateKey ?? "")] = event.pdu
        }
        return found
    }

    func eventIDForTransaction(_ key: TransactionKey) async throws -> String? {
        try await rows(
            """
            SELECT event_id FROM event_transactions WHERE user_id = \(key.userID) AND device_id = \(key.deviceID)
            AND scope = \(key.scope) AND txn_id = \(key.transactionID)
            """
        ).first?.decode(String.self)
    }

    func event(id: String) async throws -> StoredEvent? {
        try await PostgresStorage.events(connection, ids: [id], logger: logger).first
    }

    func events(ids: [String]) async throws -> [StoredEvent] {
        try await PostgresStorage.events(connection, ids: ids, logger: logger)
    }

    func outliers(ids: [String]) async throws -> [OutlierEvent] {
        try await PostgresStorage.outliers(connection, ids: ids, logger: logger)
    }

    func forwardExtremities() async throws -> [EventReference] {
        guard let room else { return [] }
        return try await PostgresStorage.forwardExtremities(connection, roomID: room.roomID, logger: logger)
    }

    func append(_ pdu: PDU, transaction: TransactionKey?) async throws -> StoredEvent {
        guard let room else { throw StorageError.notFound("room") }
        return try await append(pdu, transaction: transaction, placement: EventPlacement(stateBefore: room.currentStateGroup))
    }

    func append(_ pdu: PDU, placement: EventPlacement) async throws -> StoredEvent {
        try await append(pdu, transaction: nil, placement: placement)
    }

    func storeOutlier(_ pdu: PDU, kind: OutlierKind, reason: String?, stateBefore: Int64?, stateAfter: Int64?) async throws {
        guard let room else { throw StorageError.notFound("room") }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try await rows(
            """
            INSERT INTO event_outliers (event_id, room_id, kind, reason, json, state_group_before, state_group, received_ts)
            VALUES (\(pdu.eventID), \(room.roomID), \(kind.rawValue), \(reason), \(JSON.object(pdu.json).encodedString()), \(stateBefore),
                \(stateAfter), \(now))
            ON CONFLICT (event_id) DO UPDATE SET kind = excluded.kind, reason = excluded.reason,
                state_group_before = excluded.state_group_before, state_group = excluded.state_group
            """)
    }

    func stateEntries(group: Int64) async throws -> StateMap {
        try await PostgresStorage.stateEntries(connection, group: group, logger: logger)
    }

    /// A snapshot of a whole state: a delta over `near` when it only adds or replaces
    /// entries there, a full copy otherwise.
    func snapshot(_ state: StateMap, near parent: Int64?) async throws -> Int64 {
        guard let room else { throw StorageError.notFound("room") }
        if let parent {
            let base = try await stateEntries(group: parent)
            if base == state { return parent }
            let length = try await rows("SELECT chain_length FROM state_groups WHERE id = \(parent)").first?.decode(Int64.self)
                ?? Int64(Self.maxChainLength)
            if base.keys.allSatisfy({ state[$0] != nil }), length < Self.maxChainLength {
                let id = try await rows(
                    "INSERT INTO state_groups (room_id, prev_group, chain_length) VALUES (\(room.roomID), \(parent), \(length + 1)) RETURNING id"
                )[0].decode(Int64.self)
                for (key, eventID) in state where base[key] != eventID { try await insertEntry(group: id, key: key, eventID: eventID) }
                return id
            }
        }
        let id = try await rows(
            "INSERT INTO state_groups (room_id, prev_group, chain_length) VALUES (\(room.roomID), NULL, 0) RETURNING id")[0].decode(Int64.self)
        for (key, eventID) in state { try await insertEntry(group: id, key: key, eventID: eventID) }
        return id
    }

    /// Makes `resolved` the room's current state; see the SQLite transaction.
    private func replaceCurrentState(room: RoomRecord, with resolved: StateMap, near: Int64?, position: Int64, appending pdu: PDU) async throws -> Int64 {
        var current: StateMap = [:]
        for row in try await rows("SELECT type, state_key, event_id FROM current_state WHERE room_id = \(room.roomID)") {
            let (type, stateKey, eventID) = try row.decode((String, String, String).self)
            current[StateKey(type, stateKey)] = eventID
        }
        for (key, _) in current where resolved[key] == nil {
            try await rows("DELETE FROM current_state WHERE room_id = \(room.roomID) AND type = \(key.type) AND state_key = \(key.stateKey)")
            if key.type == "m.room.member" {
                try await rows("DELETE FROM room_memberships WHERE room_id = \(room.roomID) AND user_id = \(key.stateKey)")
            }
        }
        let changed = resolved.filter { current[$0.key] != $0.value }
        for (key, eventID) in changed {
            try await rows(
                """
                INSERT INTO current_state (room_id, type, state_key, event_id) VALUES (\(room.roomID), \(key.type), \(key.stateKey), \(eventID))
                ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id
                """)
        }
        // The event being appended is not stored yet: its own membership comes from it.
        let memberEvents = try await PostgresStorage.events(
            connection, ids: changed.filter { $0.key.type == "m.room.member" }.map(\.value), logger: logger
        ).map(\.pdu)
            + (changed.values.contains(pdu.eventID) && pdu.membership != nil ? [pdu] : [])
        for event in memberEvents {
            guard let membership = event.membership, let target = event.stateKey else { continue }
            try await rows(
                """
                INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering, forgotten, joined_at)
                VALUES (\(room.roomID), \(target), \(membership), \(event.eventID), \(position), FALSE, \(position))
                ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership,
                    event_id = excluded.event_id, stream_ordering = excluded.stream_ordering,
                    \(unescaped: keepJoinStartOnRejoin)
                """)
            try await PostgresStorage.notify(connection, change: "u \(position) \(target)", logger: logger)
        }
        return try await snapshot(resolved, near: near)
    }

    private func append(_ pdu: PDU, transaction: TransactionKey?, placement: EventPlacement) async throws -> StoredEvent {
        guard var room else { throw StorageError.notFound("room") }
        let groupBefore = placement.stateBefore
        var group = groupBefore
        if let stateKey = pdu.stateKey {
            group = try await newStateGroup(roomID: room.roomID, parent: group, key: StateKey(pdu.type, stateKey), eventID: pdu.eventID)
        }
        guard let stateGroup = group else { throw StorageError.notFound("the room has no state") }
        // Taken last and held until commit: positions become visible in order, across nodes.
        let position = try await PostgresStorage.nextPosition(connection, logger: logger)
        var currentGroup = room.currentStateGroup ?? stateGroup
        if let resolved = placement.resolvedCurrentState {
            currentGroup = try await replaceCurrentState(room: room, with: resolved, near: stateGroup, position: position, appending: pdu)
        } else if let stateKey = pdu.stateKey {
            currentGroup = stateGroup
            try await rows(
                """
                INSERT INTO current_state (room_id, type, state_key, event_id) VALUES (\(room.roomID), \(pdu.type), \(stateKey), \(pdu.eventID))
                ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id
                """)
            if let membership = pdu.membership {
                try await rows(
                    """
                    INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering, forgotten, joined_at)
                    VALUES (\(room.roomID), \(stateKey), \(membership), \(pdu.eventID), \(position), FALSE, \(position))
                    ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership,
                        event_id = excluded.event_id, stream_ordering = excluded.stream_ordering, forgotten = FALSE,
                        \(unescaped: keepJoinStartOnRejoin)
                    """)
            }
        }
        try await rows(
            """
            INSERT INTO events (event_id, room_id, stream_ordering, depth, type, state_key, sender, origin_server_ts, json,
                state_group, state_group_before, sender_device, txn_id)
            VALUES (\(pdu.eventID), \(room.roomID), \(position), \(pdu.depth), \(pdu.type), \(pdu.stateKey), \(pdu.sender),
                \(pdu.originServerTS), \(JSON.object(pdu.json).encodedString()), \(stateGroup), \(groupBefore), \(transaction?.deviceID),
                \(transaction?.transactionID))
            """)
        // The graph: its edges, and the event replaces the extremities it builds on.
        let prevs = pdu.prevEvents
        if !prevs.isEmpty {
            try await rows(
                """
                INSERT INTO event_edges (event_id, prev_event_id, room_id)
                SELECT \(pdu.eventID), prev, \(room.roomID) FROM unnest(\(prevs)::TEXT[]) AS prev ON CONFLICT DO NOTHING
                """)
            if placement.isForwardExtremity {
                try await rows("DELETE FROM forward_extremities WHERE room_id = \(room.roomID) AND event_id = ANY(\(prevs))")
            }
        }
        if placement.isForwardExtremity {
            try await rows("INSERT INTO forward_extremities (room_id, event_id) VALUES (\(room.roomID), \(pdu.eventID))")
        }
        if let relation = pdu.content["m.relates_to"], let parent = relation["event_id"]?.stringValue,
            let relType = relation["rel_type"]?.stringValue
        {
            try await rows(
                """
                INSERT INTO event_relations (event_id, room_id, relates_to, rel_type, type, sender, stream_ordering)
                SELECT \(pdu.eventID), \(room.roomID), \(parent), \(relType), \(pdu.type), \(pdu.sender), \(position)
                WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_id = \(parent) AND room_id <> \(room.roomID))
                """)
        }
        for entry in SearchIndex.entries(pdu) {
            try await rows(
                """
                INSERT INTO event_search (event_id, room_id, key, vector, stream_ordering)
                VALUES (\(pdu.eventID), \(room.roomID), \(entry.key), to_tsvector('simple', \(entry.value)), \(position))
                """)
        }
        if let transaction {
            try await rows(
                """
                INSERT INTO event_transactions (user_id, device_id, scope, txn_id, event_id)
                VALUES (\(transaction.userID), \(transaction.deviceID), \(transaction.scope), \(transaction.transactionID), \(pdu.eventID))
                """)
        }
        room.latestEventID = pdu.eventID
        room.latestDepth = max(room.latestDepth, pdu.depth)
        room.currentStateGroup = currentGroup
        try await rows(
            """
            UPDATE rooms SET latest_event_id = \(pdu.eventID), latest_depth = \(room.latestDepth), current_state_group = \(currentGroup),
                bump_stamp = CASE WHEN \(BumpEvents.types.contains(pdu.type)) THEN \(position) ELSE bump_stamp END
            WHERE room_id = \(room.roomID)
            """)
        try await PostgresStorage.notify(connection, change: "r \(position) \(room.roomID)", logger: logger)
        if let target = pdu.stateKey, pdu.type == "m.room.member" {
            try await PostgresStorage.notify(connection, change: "u \(position) \(target)", logger: logger)
        }
        let updated = room
        record.withLock { $0 = updated }
        return StoredEvent(
            pdu: pdu, roomID: room.roomID, streamPosition: position, stateGroup: stateGroup,
            senderDevice: transaction?.deviceID, transactionID: transaction?.transactionID)
    }

    func addAlias(_ alias: String, creator: String) async throws {
        guard let room else { throw StorageError.notFound("room") }
        try await rows("INSERT INTO room_aliases (alias, room_id, creator) VALUES (\(alias), \(room.roomID), \(creator))")
    }

    func markRedacted(eventID: String, redactedJSON: JSONObject, by redactionID: String) async throws {
        try await rows("DELETE FROM event_relations WHERE event_id = \(eventID)")
        try await rows("DELETE FROM event_search WHERE event_id = \(eventID)")
        try await rows("DELETE FROM event_push_actions WHERE event_id = \(eventID)")
        try await rows("DELETE FROM room_push_actions WHERE event_id = \(eventID)")
        try await rows("DELETE FROM push_action_exclusions WHERE event_id = \(eventID)")
        try await rows(
            "UPDATE events SET json = \(JSON.object(redactedJSON).encodedString()), redacted_because = \(redactionID) WHERE event_id = \(eventID)")
    }

    func joinedMembers() async throws -> [String] {
        guard let room else { return [] }
        return try await rows("SELECT user_id FROM room_memberships WHERE room_id = \(room.roomID) AND membership = 'join'")
            .map { try $0.decode(String.self) }
    }

    func pushRules(for userIDs: [String]) async throws -> [String: JSONObject] {
        try await PostgresStorage.pushRules(for: userIDs) { try await rows($0) }
    }

    func insertHistorical(_ pdu: PDU, stateGroup: Int64) async throws -> Bool {
        guard let room else { throw StorageError.notFound("room") }
        guard try await rows("SELECT 1 FROM events WHERE event_id = \(pdu.eventID)").isEmpty else { return false }
        // A sequence, because room writers of different rooms run at once here.
        let position = try await rows("SELECT -nextval('historical_positions')")[0].decode(Int64.self)
        try await rows(
            """
            INSERT INTO events (event_id, room_id, stream_ordering, depth, type, state_key, sender, origin_server_ts, json,
                state_group, state_group_before)
            VALUES (\(pdu.eventID), \(room.roomID), \(position), \(pdu.depth), \(pdu.type), \(pdu.stateKey), \(pdu.sender),
                \(pdu.originServerTS), \(JSON.object(pdu.json).encodedString()), \(stateGroup), \(stateGroup))
            """)
        let prevs = pdu.prevEvents
        if !prevs.isEmpty {
            try await rows(
                """
                INSERT INTO event_edges (event_id, prev_event_id, room_id)
                SELECT \(pdu.eventID), prev, \(room.roomID) FROM unnest(\(prevs)::TEXT[]) AS prev ON CONFLICT DO NOTHING
                """)
        }
        return true
    }

    func enqueueOutbound(eventID: String, destinations: [String]) async throws {
        guard !destinations.isEmpty else { return }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try await rows(
            """
            INSERT INTO federation_outbox (destination, event_id, created_ts)
            SELECT d, \(eventID), \(now) FROM unnest(\(destinations)::TEXT[]) AS d
            """)
        try await rows("INSERT INTO federation_destinations (destination) SELECT d FROM unnest(\(destinations)::TEXT[]) AS d ON CONFLICT DO NOTHING")
    }

    func addPushActions(_ records: [PushActionRecord], for event: StoredEvent) async throws {
        guard !records.isEmpty else { return }
        try await rows(
            """
            INSERT INTO event_push_actions (event_id, user_id, room_id, stream_ordering, thread_id, highlight, actions)
            SELECT \(event.pdu.eventID), u, \(event.roomID), \(event.streamPosition), t, h, a
            FROM unnest(\(records.map(\.userID))::TEXT[], \(records.map(\.threadID))::TEXT[], \(records.map(\.highlight))::BOOLEAN[],
                \(records.map { $0.actions.encodedString() })::TEXT[]) AS x(u, t, h, a)
            """)
    }

    func addSharedPushAction(_ action: SharedPushAction, excluding excluded: [String], for event: StoredEvent) async throws {
        try await rows(
            """
            INSERT INTO room_push_actions (event_id, room_id, stream_ordering, sender, thread_id, highlight, actions)
            VALUES (\(event.pdu.eventID), \(event.roomID), \(event.streamPosition), \(event.pdu.sender), \(action.threadID),
                \(action.highlight), \(action.actions.encodedString()))
            """)
        guard !excluded.isEmpty else { return }
        try await rows(
            """
            INSERT INTO push_action_exclusions (event_id, user_id, room_id)
            SELECT \(event.pdu.eventID), u, \(event.roomID) FROM unnest(\(excluded)::TEXT[]) AS u
            """)
    }

    private func newStateGroup(roomID: String, parent: Int64?, key: StateKey, eventID: String) async throws -> Int64 {
        var parentLength: Int64?
        if let parent {
            parentLength = try await rows("SELECT chain_length FROM state_groups WHERE id = \(parent)").first?.decode(Int64.self)
        }
        if let parent, let parentLength, parentLength < Self.maxChainLength {
            let id = try await rows(
                "INSERT INTO state_groups (room_id, prev_group, chain_length) VALUES (\(roomID), \(parent), \(parentLength + 1)) RETURNING id"
            )[0].decode(Int64.self)
            try await insertEntry(group: id, key: key, eventID: eventID)
            return id
        }
        var entries: [StateKey: String] = [:]
        if let parent { entries = try await PostgresStorage.stateEntries(connection, group: parent, logger: logger) }
        entries[key] = eventID
        let id = try await rows(
            "INSERT INTO state_groups (room_id, prev_group, chain_length) VALUES (\(roomID), NULL, 0) RETURNING id")[0].decode(Int64.self)
        for (entryKey, entryEvent) in entries { try await insertEntry(group: id, key: entryKey, eventID: entryEvent) }
        return id
    }

    private func insertEntry(group: Int64, key: StateKey, eventID: String) async throws {
        try await rows(
            "INSERT INTO state_group_entries (group_id, type, state_key, event_id) VALUES (\(group), \(key.type), \(key.stateKey), \(eventID))")
    }
}
