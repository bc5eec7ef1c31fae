import MatrixModel

extension RoomStore {
    /// Servers with a user joined to the room, except `excluding` (this server), sorted.
    public func joinedServers(roomID: String, excluding: String) async throws -> [String] {
        Set(try await members(roomID: roomID, membership: "join").compactMap { UserID($0.userID)?.server.value })
            .subtracting([excluding]).sorted()
    }

    /// The room's `m.room.server_acl`, nil when it has none.
    public func serverACL(roomID: String) async throws -> ServerACL? {
        ServerACL(content: try await currentStateEvent(roomID: roomID, key: StateKey("m.room.server_acl", ""))?.content)
    }

    public func currentState(roomID: String) async throws -> [StateKey: PDU] {
        var state: [StateKey: PDU] = [:]
        for event in try await currentStateEvents(roomID: roomID) { state[StateKey(event.pdu.type, event.pdu.stateKey ?? "")] = event.pdu }
        return state
    }
}

public protocol RoomStore: Sendable {
    /// Runs `body` in one write transaction with the room's writer lock held. The transaction
    /// commits when `body` returns and rolls back when it throws; request cancellation does
    /// not interrupt it.
    func writeRoom<T: Sendable>(roomID: String, _ body: @escaping @Sendable (any RoomWriteTransaction) async throws -> T) async throws -> T

    func room(id: String) async throws -> RoomRecord?
    func event(id: String) async throws -> StoredEvent?
    /// Several events in one read; missing IDs are left out.
    func events(ids: [String]) async throws -> [StoredEvent]
    func currentStateEvents(roomID: String) async throws -> [StoredEvent]
    func currentStateEvent(roomID: String, key: StateKey) async throws -> PDU?
    /// The full state after the given snapshot.
    func state(group: Int64) async throws -> [StateKey: PDU]
    /// The full state after the given snapshot, as stored events.
    func stateEvents(group: Int64) async throws -> [StoredEvent]
    /// The entries of a snapshot whose keys `keep` accepts: only those events are loaded (a
    /// lazy-loading sync of a big room wants a few of its thousands of members).
    func stateEvents(group: Int64, keeping keep: (StateKey) -> Bool) async throws -> [StoredEvent]
    /// One entry of a snapshot, without loading the rest.
    func stateEvent(group: Int64, key: StateKey) async throws -> PDU?

    func membership(roomID: String, userID: String) async throws -> Membership?
    func memberships(userID: String) async throws -> [Membership]
    /// The user's memberships that changed after `after`, plus those in `rooms`.
    func memberships(userID: String, changedAfter after: Int64, orIn rooms: Set<String>) async throws -> [Membership]
    func members(roomID: String, membership: String?) async throws -> [Membership]
    /// Stream positions of every join event of the user in the room.
    func joinPositions(roomID: String, userID: String) async throws -> [Int64]
    func setForgotten(roomID: String, userID: String) async throws
    /// True when no local user remembers the room any more (all have left and forgotten it).
    func isRoomForgottenByAll(roomID: String) async throws -> Bool
    func purgeRoom(roomID: String) async throws

    /// Events of a room strictly after (forward) or before (backward) `from`, at most `limit`.
    func roomEvents(roomID: String, from: TopologicalPosition?, direction: Direction, limit: Int) async throws -> [StoredEvent]
    func topologicalPosition(eventID: String) async throws -> TopologicalPosition?
    /// The latest event at or before a stream position in a room.
    func latestEvent(roomID: String, atOrBefore stream: Int64) async throws -> StoredEvent?
    func currentStreamPosition() async throws -> Int64

    /// Events of `roomID` relating to `parentID`, newest first (or oldest first going forward),
    /// with stream positions strictly beyond `from`. Relations from other rooms never count.
    func relations(
        roomID: String, parentID: String, relType: String?, eventType: String?, from: Int64?, forward: Bool, limit: Int
    ) async throws -> [StoredEvent]
    /// The relation rows of `roomID` whose parent is one of `parentIDs`, oldest first: what
    /// bundled aggregations and thread summaries are built from.
    func relationRows(roomID: String, parentIDs: [String], relTypes: [String]) async throws -> [RelationRow]
    /// Thread roots of a room by latest reply, newest first, before stream position `before`.
    func threadRoots(roomID: String, participant: String?, before: Int64?, limit: Int) async throws -> [(rootID: String, latest: Int64)]

    /// Local accounts the user may find in the user directory: everyone sharing a joined room
    /// with them, and the joined members of rooms whose join rule is `public` (as it is now,
    /// so a room turning private hides its members).
    func directoryCandidates(userID: String) async throws -> [Account]

    func setAlias(_ alias: String, roomID: String, creator: String) async throws
    func aliasTarget(_ alias: String) async throws -> (roomID: String, creator: String)?
    func aliases(roomID: String) async throws -> [String]
    func deleteAlias(_ alias: String) async throws
    func setPublic(roomID: String, isPublic: Bool) async throws
    func publicRooms() async throws -> [String]
}
