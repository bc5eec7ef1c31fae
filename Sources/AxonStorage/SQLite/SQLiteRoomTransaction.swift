import Foundation
import GRDB
import MatrixModel
import Synchronization

/// The room write transaction on SQLite. `SQLiteStorage.writeRoom` holds the write lock and an
/// open `BEGIN IMMEDIATE` transaction on the writer connection for its whole lifetime; each
/// method runs its statements there, so reads see the transaction's own earlier writes.
final class SQLiteRoomTransaction: RoomWriteTransaction {
    /// Past this many deltas a state snapshot is written in full, bounding lookups.
    static let maxChainLength = 50

    private let pool: DatabasePool
    private let record: Mutex<RoomRecord?>

    var room: RoomRecord? { record.withLock { $0 } }

    private init(pool: DatabasePool, room: RoomRecord?) {
        self.pool = pool
        self.record = Mutex(room)
    }

    static func begin(pool: DatabasePool, roomID: String) async throws -> SQLiteRoomTransaction {
        let room = try await pool.writeWithoutTransaction { db in try SQLiteRoomQueries.room(db, id: roomID) }
        return SQLiteRoomTransaction(pool: pool, room: room)
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.writeWithoutTransaction(body)
    }

    func createRoom(_ newRoom: RoomRecord) async throws {
        try await run { db in
            try db.cachedStatement(sql: "INSERT INTO rooms (room_id, version, creator, is_public) VALUES (?, ?, ?, ?)").execute(arguments: [newRoom.roomID, newRoom.version.identifier, newRoom.creator, newRoom.isPublic])
        }
        record.withLock { $0 = newRoom }
    }

    func currentStateEvent(_ key: StateKey) async throws -> PDU? {
        guard let room else { return nil }
        return try await run { db in try SQLiteRoomQueries.currentStateEvent(db, roomID: room.roomID, key: key) }
    }

    func currentStateEvents(_ keys: [StateKey]) async throws -> [StateKey: PDU] {
        guard let room else { return [:] }
        return try await run { db in
            var found: [StateKey: PDU] = [:]
            for key in keys {
                if let event = try SQLiteRoomQueries.currentStateEvent(db, roomID: room.roomID, key: key) { found[key] = event }
            }
            return found
        }
    }

    func eventIDForTransaction(_ key: TransactionKey) async throws -> String? {
        try await run { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT event_id FROM event_transactions WHERE user_id = ? AND device_id = ? AND scope = ? AND txn_id = ?"),
                arguments: [key.userID, key.deviceID, key.scope, key.transactionID])
        }
    }

    func event(id: String) async throws -> StoredEvent? {
        try await run { db in try SQLiteRoomQueries.events(db, ids: [id]).first }
    }

    func events(ids: [String]) async throws -> [StoredEvent] {
        try await run { db in try SQLiteRoomQueries.events(db, ids: ids) }
    }

    func outliers(ids: [String]) async throws -> [OutlierEvent] {
        try await run { db in try SQLiteStorage.outliers(db, ids: ids) }
    }

    func forwardExtremities() async throws -> [EventReference] {
        guard let room else { return [] }
        return try await run { db in try SQLiteStorage.forwardExtremities(db, roomID: room.roomID) }
    }

    func append(_ pdu: PDU, transaction: TransactionKey?) async throws -> StoredEvent {
        guard let room else { throw StorageError.notFound("room") }
        let placement = EventPlacement(stateBefore: room.currentStateGroup)
        let (stored, updated) = try await run { db in
            try Self.append(pdu, transaction: transaction, placement: placement, room: room, db: db)
        }
        record.withLock { $0 = updated }
        return stored
    }

    func append(_ pdu: PDU, placement: EventPlacement) async throws -> StoredEvent {
        guard let room else { throw StorageError.notFound("room") }
        let (stored, updated) = try await run { db in try Self.append(pdu, transaction: nil, placement: placement, room: room, db: db) }
        record.withLock { $0 = updated }
        return stored
    }

    func storeOutlier(_ pdu: PDU, kind: OutlierKind, reason: String?, stateBefore: Int64?, stateAfter: Int64?) async throws {
        guard let room else { throw StorageError.notFound("room") }
        try await run { db in
            try db.cachedStatement(sql: """
                    INSERT INTO event_outliers (event_id, room_id, kind, reason, json, state_group_before, state_group, received_ts)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (event_id) DO UPDATE SET kind = excluded.kind, reason = excluded.reason,
                        state_group_before = excluded.state_group_before, state_group = excluded.state_group
                    """).execute(arguments: [
                    pdu.eventID, room.roomID, kind.rawValue, reason, JSON.object(pdu.json).encodedString(), stateBefore, stateAfter,
                    Int64(Date().timeIntervalSince1970 * 1000),
                ])
        }
    }

    func stateEntries(group: Int64) async throws -> StateMap {
        try await run { db in try SQLiteRoomQueries.stateEntries(db, group: group) }
    }

    func snapshot(_ state: StateMap, near parent: Int64?) async throws -> Int64 {
        guard let room else { throw StorageError.notFound("room") }
        return try await run { db in try Self.snapshot(db, roomID: room.roomID, state: state, near: parent) }
    }

    func addAlias(_ alias: String, creator: String) async throws {
        guard let room else { throw StorageError.notFound("room") }
        try await run { db in
            try db.cachedStatement(sql: "INSERT INTO room_aliases (alias, room_id, creator) VALUES (?, ?, ?)").execute(arguments: [alias, room.roomID, creator])
        }
    }

    func markRedacted(eventID: String, redactedJSON: JSONObject, by redactionID: String) async throws {
        try await run { db in
            // A redacted event no longer relates to anything (its content is gone).
            try db.cachedStatement(sql: "DELETE FROM event_relations WHERE event_id = ?").execute(arguments: [eventID])
            try db.cachedStatement(sql: "DELETE FROM event_search WHERE event_id = ?").execute(arguments: [eventID])
            try db.cachedStatement(sql: "DELETE FROM event_push_actions WHERE event_id = ?").execute(arguments: [eventID])
            try db.cachedStatement(sql: "DELETE FROM room_push_actions WHERE event_id = ?").execute(arguments: [eventID])
            try db.cachedStatement(sql: "DELETE FROM push_action_exclusions WHERE event_id = ?").execute(arguments: [eventID])
            try db.cachedStatement(sql: "UPDATE events SET json = ?, redacted_because = ? WHERE event_id = ?").execute(arguments: [JSON.object(redactedJSON).encodedString(), redactionID, eventID])
        }
    }

    func joinedMembers() async throws -> [String] {
        guard let room else { return [] }
        return try await run { db in
            try String.fetchAll(db.cachedStatement(sql: "SELECT user_id FROM room_memberships WHERE room_id = ? AND membership = 'join'"), arguments: [room.roomID])
        }
    }

    func pushRules(for userIDs: [String]) async throws -> [String: JSONObject] {
        try await run { db in try SQLiteStorage.pushRules(db, for: userIDs) }
    }

    func insertHistorical(_ pdu: PDU, stateGroup: Int64) async throws -> Bool {
        guard let room else { throw StorageError.notFound("room") }
        return try await run { db in
            guard try Int.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM events WHERE event_id = ?"), arguments: [pdu.eventID]) == nil else { return false }
            // Writes are serialised on SQLite, so the next position below the lowest is free.
            let lowest = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MIN(stream_ordering) FROM events")) ?? 0
            let position = min(lowest, 0) - 1
            try db.cachedStatement(sql: """
                    INSERT INTO events (event_id, room_id, stream_ordering, depth, type, state_key, sender, origin_server_ts,
                        json, state_group, state_group_before)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [
                    pdu.eventID, room.roomID, position, pdu.depth, pdu.type, pdu.stateKey, pdu.sender, pdu.originServerTS,
                    JSON.object(pdu.json).encodedString(), stateGroup, stateGroup,
                ])
            for prev in pdu.prevEvents {
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO event_edges (event_id, prev_event_id, room_id) VALUES (?, ?, ?)").execute(arguments: [pdu.eventID, prev, room.roomID])
            }
            return true
        }
    }

    func enqueueOutbound(eventID: String, destinations: [String]) async throws {
        guard !destinations.isEmpty else { return }
        try await run { db in
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for destination in destinations {
                try db.cachedStatement(sql: "INSERT INTO federation_outbox (destination, event_id, created_ts) VALUES (?, ?, ?)").execute(arguments: [destination, eventID, now])
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO federation_destinations (destination) VALUES (?)").execute(arguments: [destination])
            }
        }
    }

    func addPushActions(_ records: [PushActionRecord], for event: StoredEvent) async throws {
        guard !records.isEmpty else { return }
        try await run { db in
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO event_push_actions (event_id, user_id, room_id, stream_ordering, thread_id, highlight, actions)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """)
            for record in records {
                try statement.execute(arguments: [
                    record.eventID, record.userID, event.roomID, event.streamPosition, record.threadID, record.highlight,
                    record.actions.encodedString(),
                ])
            }
        }
    }

    func addSharedPushAction(_ action: SharedPushAction, excluding excluded: [String], for event: StoredEvent) async throws {
        try await run { db in
            try db.cachedStatement(sql: """
                    INSERT INTO room_push_actions (event_id, room_id, stream_ordering, sender, thread_id, highlight, actions)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [
                event.pdu.eventID, event.roomID, event.streamPosition, event.pdu.sender, action.threadID, action.highlight,
                action.actions.encodedString(),
            ])
            let exclusion = try db.cachedStatement(sql: "INSERT INTO push_action_exclusions (event_id, user_id, room_id) VALUES (?, ?, ?)")
            for user in excluded { try exclusion.execute(arguments: [event.pdu.eventID, user, event.roomID]) }
        }
    }

    private static func append(
        _ pdu: PDU, transaction: TransactionKey?, placement: EventPlacement, room: RoomRecord, db: Database
    ) throws -> (StoredEvent, RoomRecord) {
        var room = room
        let position = try SQLiteStorage.nextPosition(db)
        let groupBefore = placement.stateBefore
        var group = groupBefore
        if let stateKey = pdu.stateKey {
            group = try newStateGroup(db, roomID: room.roomID, parent: group, key: StateKey(pdu.type, stateKey), eventID: pdu.eventID)
        }
        var currentGroup = room.currentStateGroup
        if let resolved = placement.resolvedCurrentState {
            currentGroup = try replaceCurrentState(db, room: room, with: resolved, near: group, position: position, appending: pdu)
        } else if let stateKey = pdu.stateKey {
            currentGroup = group
            try db.cachedStatement(sql: """
                    INSERT INTO current_state (room_id, type, state_key, event_id) VALUES (?, ?, ?, ?)
                    ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id
                    """).execute(arguments: [room.roomID, pdu.type, stateKey, pdu.eventID])
            if let membership = pdu.membership {
                try db.cachedStatement(sql: """
                        INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering, forgotten, joined_at)
                        VALUES (?, ?, ?, ?, ?, 0, ?)
                        ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership,
                            event_id = excluded.event_id, stream_ordering = excluded.stream_ordering, forgotten = 0,
                            \(keepJoinStartOnRejoin)
                        """).execute(arguments: [room.roomID, stateKey, membership, pdu.eventID, position, position])
            }
        }
        guard let stateGroup = group else { throw StorageError.notFound("the room has no state") }
        if placement.resolvedCurrentState == nil, pdu.stateKey == nil { currentGroup = currentGroup ?? stateGroup }
        try db.cachedStatement(sql: """
                INSERT INTO events (event_id, room_id, stream_ordering, depth, type, state_key, sender, origin_server_ts,
                    json, state_group, state_group_before, sender_device, txn_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [
                pdu.eventID, room.roomID, position, pdu.depth, pdu.type, pdu.stateKey, pdu.sender, pdu.originServerTS,
                JSON.object(pdu.json).encodedString(), stateGroup, groupBefore, transaction?.deviceID, transaction?.transactionID,
            ])
        // The graph: its edges, and the event replaces the extremities it builds on.
        for prev in pdu.prevEvents {
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO event_edges (event_id, prev_event_id, room_id) VALUES (?, ?, ?)").execute(arguments: [pdu.eventID, prev, room.roomID])
            if placement.isForwardExtremity {
                try db.cachedStatement(sql: "DELETE FROM forward_extremities WHERE room_id = ? AND event_id = ?").execute(arguments: [room.roomID, prev])
            }
        }
        if placement.isForwardExtremity {
            try db.cachedStatement(sql: "INSERT INTO forward_extremities (room_id, event_id) VALUES (?, ?)").execute(arguments: [room.roomID, pdu.eventID])
        }
        if let relation = pdu.content["m.relates_to"], let parent = relation["event_id"]?.stringValue,
            let relType = relation["rel_type"]?.stringValue
        {
            try db.execute(
                // A relation to an event of another room is not one: it would let anyone attach
                // threads and reactions to a room they cannot write to.
                sql: """
                    INSERT INTO event_relations (event_id, room_id, relates_to, rel_type, type, sender, stream_ordering)
                    SELECT ?, ?, ?, ?, ?, ?, ?
                    WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_id = ? AND room_id != ?)
                    """,
                arguments: [pdu.eventID, room.roomID, parent, relType, pdu.type, pdu.sender, position, parent, room.roomID])
        }
        for entry in SearchIndex.entries(pdu) {
            try db.cachedStatement(sql: "INSERT INTO event_search (value, event_id, room_id, key, stream_ordering) VALUES (?, ?, ?, ?, ?)").execute(arguments: [entry.value, pdu.eventID, room.roomID, entry.key, position])
        }
        if let transaction {
            try db.cachedStatement(sql: "INSERT INTO event_transactions (user_id, device_id, scope, txn_id, event_id) VALUES (?, ?, ?, ?, ?)").execute(arguments: [transaction.userID, transaction.deviceID, transaction.scope, transaction.transactionID, pdu.eventID])
        }
        room.latestEventID = pdu.eventID
        room.latestDepth = max(room.latestDepth, pdu.depth)
        room.currentStateGroup = currentGroup
        try db.cachedStatement(sql: """
                UPDATE rooms SET latest_event_id = ?, latest_depth = ?, current_state_group = ?,
                    bump_stamp = CASE WHEN ? THEN ? ELSE bump_stamp END
                WHERE room_id = ?
                """).execute(arguments: [pdu.eventID, room.latestDepth, currentGroup, BumpEvents.types.contains(pdu.type), position, room.roomID])
        let stored = StoredEvent(
            pdu: pdu, roomID: room.roomID, streamPosition: position, stateGroup: stateGroup,
            senderDevice: transaction?.deviceID, transactionID: transaction?.transactionID)
        return (stored, room)
    }


    /// Makes `resolved` the room's current state (a resolution over forward extremities):
    /// changed entries of `current_state` and the memberships they carry are rewritten at
    /// `position`, so the change reaches `/sync` like any other. Returns its snapshot.
    private static func replaceCurrentState(
        _ db: Database, room: RoomRecord, with resolved: StateMap, near: Int64?, position: Int64, appending pdu: PDU
    ) throws -> Int64 {
        var current: StateMap = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT type, state_key, event_id FROM current_state WHERE room_id = ?"), arguments: [room.roomID]) {
            current[StateKey(row["type"], row["state_key"])] = row["event_id"]
        }
        for (key, _) in current where resolved[key] == nil {
            try db.cachedStatement(sql: "DELETE FROM current_state WHERE room_id = ? AND type = ? AND state_key = ?").execute(arguments: [room.roomID, key.type, key.stateKey])
            if key.type == "m.room.member" {
                try db.cachedStatement(sql: "DELETE FROM room_memberships WHERE room_id = ? AND user_id = ?").execute(arguments: [room.roomID, key.stateKey])
            }
        }
        let changed = resolved.filter { current[$0.key] != $0.value }
        for (key, eventID) in changed {
            try db.cachedStatement(sql: """
                    INSERT INTO current_state (room_id, type, state_key, event_id) VALUES (?, ?, ?, ?)
                    ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id
                    """).execute(arguments: [room.roomID, key.type, key.stateKey, eventID])
        }
        // The event being appended is not stored yet: its own membership comes from it.
        let memberEvents = try SQLiteRoomQueries.events(db, ids: changed.filter { $0.key.type == "m.room.member" }.map(\.value)).map(\.pdu)
            + (changed.values.contains(pdu.eventID) && pdu.membership != nil ? [pdu] : [])
        for event in memberEvents {
            guard let membership = event.membership, let target = event.stateKey else { continue }
            try db.cachedStatement(sql: """
                    INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering, forgotten, joined_at)
                    VALUES (?, ?, ?, ?, ?, 0, ?)
                    ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership,
                        event_id = excluded.event_id, stream_ordering = excluded.stream_ordering,
                        \(keepJoinStartOnRejoin)
                    """).execute(arguments: [room.roomID, target, membership, event.eventID, position, position])
        }
        return try snapshot(db, roomID: room.roomID, state: resolved, near: near)
    }

    /// A snapshot of a whole state: a delta over `near` when it only adds or replaces
    /// entries there, a full copy otherwise.
    static func snapshot(_ db: Database, roomID: String, state: StateMap, near parent: Int64?) throws -> Int64 {
        if let parent {
            let base = try SQLiteRoomQueries.stateEntries(db, group: parent)
            if base == state { return parent }
            let length = try Int64.fetchOne(db.cachedStatement(sql: "SELECT chain_length FROM state_groups WHERE id = ?"), arguments: [parent]) ?? Int64(Self.maxChainLength)
            if base.keys.allSatisfy({ state[$0] != nil }), length < Self.maxChainLength {
                try db.cachedStatement(sql: "INSERT INTO state_groups (room_id, prev_group, chain_length) VALUES (?, ?, ?)").execute(arguments: [roomID, parent, length + 1])
                let id = db.lastInsertedRowID
                for (key, eventID) in state where base[key] != eventID { try insertEntry(db, group: id, key: key, eventID: eventID) }
                return id
            }
        }
        try db.cachedStatement(sql: "INSERT INTO state_groups (room_id, prev_group, chain_length) VALUES (?, NULL, 0)").execute(arguments: [roomID])
        let id = db.lastInsertedRowID
        for (key, eventID) in state { try insertEntry(db, group: id, key: key, eventID: eventID) }
        return id
    }

    /// A snapshot is a delta over its parent, or a full copy once the chain gets long.
    private static func newStateGroup(_ db: Database, roomID: String, parent: Int64?, key: StateKey, eventID: String) throws -> Int64 {
        let parentLength = try parent.flatMap {
            try Int64.fetchOne(db.cachedStatement(sql: "SELECT chain_length FROM state_groups WHERE id = ?"), arguments: [$0])
        }
        if let parent, let parentLength, parentLength < Self.maxChainLength {
            try db.cachedStatement(sql: "INSERT INTO state_groups (room_id, prev_group, chain_length) VALUES (?, ?, ?)").execute(arguments: [roomID, parent, parentLength + 1])
            let id = db.lastInsertedRowID
            try insertEntry(db, group: id, key: key, eventID: eventID)
            return id
        }
        var entries = try parent.map { try SQLiteRoomQueries.stateEntries(db, group: $0) } ?? [:]
        entries[key] = eventID
        try db.cachedStatement(sql: "INSERT INTO state_groups (room_id, prev_group, chain_length) VALUES (?, NULL, 0)").execute(arguments: [roomID])
        let id = db.lastInsertedRowID
        for (entryKey, entryEvent) in entries { try insertEntry(db, group: id, key: entryKey, eventID: entryEvent) }
        return id
    }

    private static func insertEntry(_ db: Database, group: Int64, key: StateKey, eventID: String) throws {
        try db.cachedStatement(sql: "INSERT INTO state_group_entries (group_id, type, state_key, event_id) VALUES (?, ?, ?, ?)").execute(arguments: [group, key.type, key.stateKey, eventID])
    }
}
