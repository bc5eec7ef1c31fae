import AxonStorage
import MatrixModel

/// The deprecated but specified legacy API (seed old_sync.yaml, peeking_events.yaml,
/// room_initial_sync.yaml): `/events`, `/initialSync`, `/events/{eventId}` and
/// `/rooms/{roomId}/initialSync`, on the same stream positions as `/sync`.
extension ServerContext {
    static let legacyEventsLimit = 100
    /// Events read past `limit` so that hidden ones do not shorten a room's messages.
    static let legacyHiddenLookahead = 20

    func registerLegacySyncRoutes(on routes: RouteTable) {
        routes.client(.get, "/events", auth: .required(allowGuests: true)) { request in
            try await events(request)
        }
        routes.client(.get, "/initialSync", auth: .required(allowGuests: true)) { request in
            try await initialSync(request)
        }
        routes.client(.get, "/events/{eventId}", auth: .required(allowGuests: true)) { request in
            let event = try await rooms.visibleEvent(roomID: nil, eventID: request.parameter("eventId"), userID: request.user.userID)
            return .ok(ClientEventFormat.json(event, viewer: request.user, version: nil))
        }
        routes.client(.get, "/rooms/{roomId}/initialSync", auth: .required(allowGuests: true)) { request in
            let roomID = try roomIDParameter(request)
            let limit = try messageLimit(request)
            let membership = try await storage.membership(roomID: roomID, userID: request.user.userID)
            let current = try await storage.currentStreamPosition()
            var room = try await legacyRoom(
                roomID: roomID, membership: membership, userID: request.user.userID, limit: limit, current: current,
                request: request,
                accountData: try await storage.accountDataChanges(userID: request.user.userID, since: nil).filter { $0.roomID == roomID })
            let members = Set(try await storage.members(roomID: roomID, membership: "join").map(\.userID))
            room["presence"] = .array(try await presenceEvents(for: request.user.userID, upTo: current).filter {
                $0["sender"]?.stringValue.map(members.contains) ?? false
            })
            return .ok(.object(room))
        }
    }

    private func messageLimit(_ request: MatrixRequest) throws(MatrixError) -> Int {
        try request.integerQuery("limit", default: 10, maximum: Self.maxPageSize)
    }

    private func events(_ request: MatrixRequest) async throws -> MatrixResponse {
        let userID = request.user.userID
        let timeout = try timeout(request, default: 30_000)
        // Checked before any waiting, so a bad value is a 400 at once.
        let limit = max(1, try request.integerQuery("limit", default: Self.legacyEventsLimit, maximum: Self.legacyEventsLimit))
        let peekRoom = try request.query("room_id").map { roomID throws(MatrixError) -> String in
            guard RoomID(roomID) != nil else { throw MatrixError.invalidParam("Invalid room_id") }
            return roomID
        }
        if let peekRoom { _ = try await rooms.readAccess(roomID: peekRoom, userID: userID) }
        let from: Int64
        if let token = request.query("from") {
            guard let parsed = SyncToken(token) else { throw MatrixError.invalidParam("Bad pagination 'from' parameter") }
            from = parsed.position
        } else {
            from = try await storage.currentStreamPosition()
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let current = try await storage.currentStreamPosition()
            var candidates: [StoredEvent]
            if let peekRoom {
                candidates = try await storage.roomEventsByStream(roomID: peekRoom, after: from, upTo: current, limit: limit).reversed()
            } else {
                candidates = try await storage.userEvents(userID: userID, after: from, upTo: current, limit: limit)
            }
            let reachedLimit = candidates.count == limit
            var visible: [StoredEvent] = []
            let ignored = candidates.isEmpty ? [] : try await rooms.visibility.ignoredUsers(userID)
            for (roomID, group) in Dictionary(grouping: candidates, by: \.roomID) {
                visible += try await rooms.visibility.filter(group, roomID: roomID, userID: userID, ignoring: ignored)
            }
            visible.sort { $0.streamPosition < $1.streamPosition }
            let end = reachedLimit ? (candidates.last?.streamPosition ?? current) : current
            // Only room events: the seed's schema (old_sync.yaml) makes every chunk item a
            // ClientEvent, with event_id, sender and origin_server_ts, which account data and
            // receipts do not have.
            if !visible.isEmpty || clock.now >= deadline || timeout == .zero {
                return .ok([
                    "start": .string(SyncToken(position: from).string),
                    "end": .string(SyncToken(position: end).string),
                    "chunk": .array(visible.map { ClientEventFormat.json($0, viewer: request.user, version: nil) }),
                ])
            }
            let watched: Set<String>
            if let peekRoom {
                watched = [peekRoom]
            } else {
                watched = Set(try await storage.memberships(userID: userID).filter { !$0.forgotten }.map(\.roomID))
            }
            await notifier.wait(userID: userID, rooms: watched, since: current, timeout: deadline - clock.now)
            if Task.isCancelled { throw CancellationError() }
        }
    }

    private func initialSync(_ request: MatrixRequest) async throws -> MatrixResponse {
        let userID = request.user.userID
        let limit = try messageLimit(request)
        let archived = request.query("archived") == "true"
        let current = try await storage.currentStreamPosition()
        let allAccountData = try await storage.accountDataChanges(userID: userID, since: nil)
        var roomsJSON: [JSON] = []
        let memberships = try await storage.memberships(userID: userID).filter { !$0.forgotten }
        // Joined rooms' messages and receipts are read for all of them at once, as `/sync` does.
        let batch = try await storage.roomSyncBatch(
            userID: userID, roomIDs: memberships.filter { $0.membership == "join" }.map(\.roomID), upTo: current,
            timelineLimit: limit + Self.legacyHiddenLookahead, now: nowMillis(), unreadCounts: false)
        for membership in memberships {
            if ["leave", "ban"].contains(membership.membership), !archived { continue }
            // The legacy API predates knocking; its schema has no such membership.
            if membership.membership == "knock" { continue }
            roomsJSON.append(
                .object(
                    try await legacyRoom(
                        roomID: membership.roomID, membership: membership, userID: userID, limit: limit, current: current,
                        request: request, accountData: allAccountData.filter { $0.roomID == membership.roomID }, batch: batch)))
        }
        let accountData = allAccountData.filter { $0.roomID == nil }
        return .ok([
            "end": .string(SyncToken(position: current).string),
            "rooms": .array(roomsJSON),
            "presence": .array(try await presenceEvents(for: userID, upTo: current)),
            "account_data": .array(accountData.map { ["type": .string($0.type), "content": $0.content] }),
        ])
    }

    /// The presence of everyone sharing a room with the user (the same set `/sync` reports).
    private func presenceEvents(for userID: String, upTo current: Int64) async throws -> [JSON] {
        guard presence.enabled else { return [] }
        return try await storage.presenceChanges(userID: userID, after: nil, upTo: current).map(presence.event)
    }

    /// One room as the legacy API shows it: membership, messages up to now (or the leave),
    /// state, directory visibility and the user's room account data.
    private func legacyRoom(
        roomID: String, membership: Membership?, userID: String, limit: Int, current: Int64, request: MatrixRequest,
        accountData: [AccountDataEntry], batch: RoomSyncBatch? = nil
    ) async throws -> JSONObject {
        guard let record = try await storage.room(id: roomID) else { throw MatrixError.forbidden("Unknown room") }
        var room: JSONObject = ["room_id": .string(roomID), "visibility": record.isPublic ? "public" : "private"]
        if let membership { room["membership"] = .string(membership.membership) }
        if let membership, membership.membership == "invite", let invite = try await storage.event(id: membership.eventID) {
            room["invite"] = ClientEventFormat.json(invite, viewer: request.user, version: record.version)
            return room
        }
        if let membership, ["leave", "ban"].contains(membership.membership), let departure = try await storage.event(id: membership.eventID),
            try await !rooms.wasJoined(before: departure)
        {
            // Never joined: the user sees their own rejection, withdrawal or ban, nothing more.
            room["messages"] = [
                "chunk": [ClientEventFormat.json(departure, viewer: request.user, version: record.version)],
                "start": .string(RoomGap.before(departure).token), "end": .string(SyncToken(position: departure.streamPosition).string),
            ]
            room["state"] = []
            room["account_data"] = .array(accountData.map { ["type": .string($0.type), "content": $0.content] })
            return room
        }
        let access = try await rooms.readAccess(roomID: roomID, userID: userID)
        let upTo = access.cap?.streamPosition ?? current
        // The batch was read up to `current`: it serves a room the user has not left.
        let batched = access.cap == nil ? batch : nil
        let recent: [StoredEvent]
        if let read = batched?.timelines[roomID] {
            recent = read
        } else {
            recent = try await storage.roomEventsByStream(roomID: roomID, after: -1, upTo: upTo, limit: limit + Self.legacyHiddenLookahead)
        }
        let visible = Array(try await rooms.visibility.filter(recent, roomID: roomID, userID: userID).prefix(limit).reversed())
        var messages: JSONObject = [
            "chunk": .array(visible.map { ClientEventFormat.json($0, viewer: request.user, version: record.version) }),
            "end": .string(SyncToken(position: upTo).string),
        ]
        if let first = visible.first {
            messages["start"] = .string(RoomGap.before(first).token)
        }
        room["messages"] = .object(messages)
        let state: [StoredEvent]
        if let leave = access.cap {
            state = try await storage.stateEvents(group: leave.stateGroup)
        } else {
            state = try await storage.currentStateEvents(roomID: roomID)
        }
        room["state"] = .array(
            state.sorted { ($0.pdu.type, $0.pdu.stateKey ?? "") < ($1.pdu.type, $1.pdu.stateKey ?? "") }
                .map { ClientEventFormat.json($0, viewer: request.user, version: record.version) })
        room["account_data"] = .array(accountData.map { ["type": .string($0.type), "content": $0.content] })
        // Read receipts up to what the user may see, as one flat m.receipt event (legacy
        // events carry their room_id).
        var receipts: [JSON] = []
        let roomReceipts: [Receipt]
        if let read = batched?.receipts[roomID] {
            roomReceipts = read
        } else {
            roomReceipts = try await storage.receipts(roomID: roomID, after: nil, upTo: upTo)
        }
        if var receipt = SyncService.receiptEvent(roomReceipts, roomID: roomID, viewer: userID) {
            receipt["room_id"] = .string(roomID)
            receipts.append(receipt)
        }
        room["receipts"] = .array(receipts)
        return room
    }
}
