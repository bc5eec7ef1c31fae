import AxonStorage
import MatrixModel

/// Reading rooms: single events, state, members, history and context. Every path checks
/// read access (forgotten rooms are 403) and history visibility.
extension ServerContext {
    static let maxPageSize = 1000

    func registerRoomReadRoutes(on routes: RouteTable) {
        routes.client(.get, "/rooms/{roomId}/event/{eventId}", auth: .required(allowGuests: true)) { request in
            let roomID = try roomIDParameter(request)
            let event = try await rooms.visibleEvent(roomID: roomID, eventID: request.parameter("eventId"), userID: request.user.userID)
            return .ok(try await rooms.aggregations.clientEvents([event], viewer: request.user)[0])
        }
        routes.client(.get, "/rooms/{roomId}/state", auth: .required(allowGuests: true)) { request in
            let state = try await rooms.visibleStateEvents(roomID: try roomIDParameter(request), userID: request.user.userID)
            return .ok(.array(state.sorted { ($0.pdu.type, $0.pdu.stateKey ?? "") < ($1.pdu.type, $1.pdu.stateKey ?? "") }
                .map { ClientEventFormat.json($0, viewer: request.user, version: nil) }))
        }
        for path in ["/rooms/{roomId}/state/{eventType}", "/rooms/{roomId}/state/{eventType}/{stateKey}"] {
            routes.client(.get, path, auth: .required(allowGuests: true)) { request in
                let state = try await rooms.visibleState(roomID: try roomIDParameter(request), userID: request.user.userID)
                let key = StateKey(request.parameter("eventType"), request.parameter("stateKey"))
                guard let event = state[key] else { throw MatrixError.notFound("No \(key) state in this room") }
                if request.query("format") == "event" {
                    return .ok(try await clientEvents([event], request)[0])
                }
                return .ok(event.content)
            }
        }
        routes.client(.get, "/rooms/{roomId}/members", auth: .required(allowGuests: true)) { request in
            try await members(request)
        }
        routes.client(.get, "/rooms/{roomId}/joined_members", auth: .required(allowGuests: true)) { request in
            let roomID = try roomIDParameter(request)
            let state = try await rooms.visibleState(roomID: roomID, userID: request.user.userID)
            var joined = JSONObject()
            for (key, event) in state where key.type == "m.room.member" && event.membership == "join" {
                var profile = JSONObject()
                if let name = event.content["displayname"]?.stringValue { profile["display_name"] = .string(name) }
                if let avatar = event.content["avatar_url"]?.stringValue { profile["avatar_url"] = .string(avatar) }
                joined[key.stateKey] = .object(profile)
            }
            return .ok(["joined": .object(joined)])
        }
        routes.client(.get, "/rooms/{roomId}/messages", auth: .required(allowGuests: true)) { request in
            try await messages(request)
        }
        routes.client(.get, "/rooms/{roomId}/context/{eventId}", auth: .required(allowGuests: true)) { request in
            try await context(request)
        }
        // Synapse's admin forms: the whole history, whatever the admin's membership.
        routes.add(.get, "/_synapse/admin/v1/rooms/{roomId}/messages") { request in
            try requireAdmin(request)
            return try await messages(request, asAdmin: true)
        }
        routes.add(.get, "/_synapse/admin/v1/rooms/{roomId}/context/{eventId}") { request in
            try requireAdmin(request)
            return try await context(request, asAdmin: true)
        }
        routes.add(.get, "/_synapse/admin/v1/rooms/{roomId}/timestamp_to_event") { request in
            try requireAdmin(request)
            let roomID = try roomIDParameter(request)
            _ = try await reader(request, roomID: roomID, asAdmin: true)
            return try await nearestEvent(request, roomID: roomID) { $0 }
        }
        routes.add(.get, "/_matrix/client/v1/rooms/{roomId}/timestamp_to_event", auth: .required(allowGuests: true)) { request in
            try await timestampToEvent(request)
        }
    }

    /// Full client events for state, which is visible as a whole once the room is readable.
    func clientEvents(_ pdus: [PDU], _ request: MatrixRequest) async throws -> [JSON] {
        try await storage.events(ids: pdus.map(\.eventID))
            .sorted { ($0.pdu.type, $0.pdu.stateKey ?? "") < ($1.pdu.type, $1.pdu.stateKey ?? "") }
            .map { ClientEventFormat.json($0, viewer: request.user, version: nil) }
    }

    private func members(_ request: MatrixRequest) async throws -> MatrixResponse {
        let roomID = try roomIDParameter(request)
        var state: [StateKey: PDU]
        if let at = request.query("at") {
            let access = try await rooms.readAccess(roomID: roomID, userID: request.user.userID)
            guard let gap = try await decodeRoomToken(at, roomID: roomID) else { throw MatrixError.invalidParam("Invalid 'at' token") }
            var event = try await storage.roomEvents(
                roomID: roomID, from: gap.storageBound(.backward), direction: .backward, limit: 1
            ).first
            if case .until(let leave) = access, event.map({ !RoomGap.after(leave).isBehind($0) }) ?? true { event = leave }
            // The state at a point of history is shown only to those who may see that point.
            guard let event, try await !rooms.visibility.filter([event], roomID: roomID, userID: request.user.userID).isEmpty else {
                throw MatrixError.forbidden("You may not see the room's members at that point")
            }
            state = try await storage.state(group: event.stateGroup)
        } else {
            state = try await rooms.visibleState(roomID: roomID, userID: request.user.userID)
        }
        let wanted = request.query("membership")
        let unwanted = request.query("not_membership")
        let chosen = state.values.filter { pdu in
            guard pdu.type == "m.room.member", let membership = pdu.membership else { return false }
            if let wanted, membership != wanted { return false }
            if let unwanted, membership == unwanted { return false }
            return true
        }
        return .ok(["chunk": .array(try await clientEvents(chosen, request))])
    }

    /// The reader whose view is applied: nil for an admin, who reads everything.
    private func reader(_ request: MatrixRequest, roomID: String, asAdmin: Bool) async throws -> (userID: String?, cap: StoredEvent?) {
        guard asAdmin else {
            return (request.user.userID, try await rooms.readAccess(roomID: roomID, userID: request.user.userID).cap)
        }
        guard try await storage.room(id: roomID) != nil else { throw MatrixError.notFound("Room not found") }
        return (nil, nil)
    }

    private func visible(_ events: [StoredEvent], roomID: String, userID: String?, ignoring ignored: Set<String>) async throws -> [StoredEvent] {
        guard let userID else { return events }
        return try await rooms.visibility.filter(events, roomID: roomID, userID: userID, ignoring: ignored)
    }

    private func messages(_ request: MatrixRequest, asAdmin: Bool = false) async throws -> MatrixResponse {
        let roomID = try roomIDParameter(request)
        // Synapse's admin form defaults to backwards.
        guard let dir = request.query("dir") ?? (asAdmin ? "b" : nil) else { throw MatrixError.missingParam("Missing 'dir'") }
        guard dir == "b" || dir == "f" else { throw MatrixError.invalidParam("'dir' must be 'b' or 'f'") }
        let direction: Direction = dir == "f" ? .forward : .backward
        let access = try await reader(request, roomID: roomID, asAdmin: asAdmin)
        let userID = access.userID
        let filter = try RoomEventFilter(try request.query("filter").map { text throws(MatrixError) in
            do { return try JSONParser.parse(text) } catch { throw MatrixError.invalidParam("'filter' is not JSON") }
        })
        let limit = try request.integerQuery("limit", default: filter.limit ?? 10, maximum: Self.maxPageSize)
        var from = try await request.query("from").asyncMap { token in
            guard let gap = try await decodeRoomToken(token, roomID: roomID) else { throw MatrixError.invalidParam("Invalid 'from' token") }
            return gap
        }
        let to = try await request.query("to").asyncMap { token in
            guard let gap = try await decodeRoomToken(token, roomID: roomID) else { throw MatrixError.invalidParam("Invalid 'to' token") }
            return gap
        }
        // A user who left sees nothing past their leave; start there rather than scan past it.
        if let leave = access.cap, direction == .backward, from.map({ !$0.isBehind(leave) }) ?? true {
            from = .after(leave)
        }
        let start: RoomGap
        if let from {
            start = from
        } else if direction == .forward {
            start = .beginning
        } else {
            // The gap after the newest event, so that paging forward from `start` finds what
            // arrives later.
            start = try await storage.roomEvents(roomID: roomID, from: nil, direction: .backward, limit: 1).first.map(RoomGap.after) ?? .beginning
        }
        var page = try await readPage(
            roomID: roomID, userID: userID, from: start, to: to, direction: direction, limit: limit, filter: filter)
        // Paging back past what this server has: ask a server in the room for older history.
        if direction == .backward, access.cap == nil, !asAdmin,
            await Backfill(context: self).fetchOlder(roomID: roomID, before: page.events, pageIsShort: page.events.count < limit) > 0
        {
            page = try await readPage(roomID: roomID, userID: userID, from: start, to: to, direction: direction, limit: limit, filter: filter)
        }
        var response: JSONObject = [
            "start": .string(request.query("from") ?? start.token),
            "chunk": .array(try await rooms.aggregations.clientEvents(page.events, viewer: request.user)),
        ]
        if let end = page.end { response["end"] = .string(end.token) }
        if filter.lazyLoadMembers {
            response["state"] = .array(try await memberEvents(for: page.events, roomID: roomID, request: request))
        }
        return .ok(.object(response))
    }

    /// Reads up to `limit` events the user may see and the filter allows, in pages, stopping
    /// at `to`. `end` is the gap after the last event returned, nil when nothing further is
    /// there (a zero limit returns no events and the gap it started from).
    private func readPage(
        roomID: String, userID: String?, from start: RoomGap, to: RoomGap?, direction: Direction,
        limit: Int, filter: RoomEventFilter
    ) async throws -> (events: [StoredEvent], end: RoomGap?) {
        guard limit > 0 else { return ([], start) }
        let pageSize = max(limit * 2, 20)
        let ignored = try await userID.asyncMap { try await rooms.visibility.ignoredUsers($0) } ?? []
        var chunk: [StoredEvent] = []
        var cursor = start
        // The gap behind an event in the reading direction.
        func gap(past event: StoredEvent) -> RoomGap {
            direction.isForward ? .after(event) : .before(event)
        }
        for _ in 0..<20 {
            let page = try await storage.roomEvents(
                roomID: roomID, from: cursor.storageBound(direction), direction: direction, limit: pageSize)
            let inRange = page.prefix { event in
                guard let to else { return true }
                return direction.isForward ? to.isBehind(event) : !to.isBehind(event)
            }
            let visible = try await visible(Array(inRange), roomID: roomID, userID: userID, ignoring: ignored)
                .filter { filter.allows($0.pdu) }
            for event in visible {
                chunk.append(event)
                if chunk.count == limit { return (chunk, gap(past: event)) }
            }
            guard let last = inRange.last, inRange.count == page.count, page.count == pageSize else { return (chunk, nil) }
            cursor = gap(past: last)
        }
        return (chunk, cursor)
    }

    /// Accepts /messages tokens and sync tokens (clients pass `prev_batch` from /sync): a sync
    /// token is the gap after the room's newest event at that stream position.
    func decodeRoomToken(_ token: String, roomID: String) async throws -> RoomGap? {
        if let gap = RoomGap(token: token) { return gap }
        // A sliding-sync `pos` works as a `next_batch` does (MSC4186).
        guard let position = SyncToken(token)?.position ?? SlidingSyncPos(token)?.streamPosition else { return nil }
        return try await storage.latestEvent(roomID: roomID, atOrBefore: position).map(RoomGap.after) ?? .beginning
    }

    /// The member events of the senders of `events` (lazy loading), as of each event.
    func memberEvents(for events: [StoredEvent], roomID: String, request: MatrixRequest) async throws -> [JSON] {
        var seen = Set<String>()
        var members: [JSON] = []
        for event in events where seen.insert(event.pdu.sender).inserted {
            if let member = try await storage.stateEvent(group: event.stateGroup, key: .member(event.pdu.sender)),
                let stored = try await storage.event(id: member.eventID)
            {
                members.append(ClientEventFormat.json(stored, viewer: request.user, version: nil))
            }
        }
        return members
    }

    private func context(_ request: MatrixRequest, asAdmin: Bool = false) async throws -> MatrixResponse {
        let roomID = try roomIDParameter(request)
        let userID = try await reader(request, roomID: roomID, asAdmin: asAdmin).userID
        let event: StoredEvent
        if let userID {
            event = try await rooms.visibleEvent(roomID: roomID, eventID: request.parameter("eventId"), userID: userID)
        } else {
            guard let found = try await storage.event(id: request.parameter("eventId")), found.roomID == roomID else {
                throw MatrixError.notFound("Event not found")
            }
            event = found
        }
        let limit = try request.integerQuery("limit", default: 10, maximum: 100)
        let filter = try RoomEventFilter(try request.query("filter").map { text throws(MatrixError) in
            do { return try JSONParser.parse(text) } catch { throw MatrixError.invalidParam("'filter' is not JSON") }
        })
        let position = TopologicalPosition(depth: event.pdu.depth, stream: event.streamPosition)
        let ignored = try await userID.asyncMap { try await rooms.visibility.ignoredUsers($0) } ?? []
        let before = try await visible(
            storage.roomEvents(roomID: roomID, from: position, direction: .backward, limit: limit / 2 + limit % 2 + 20),
            roomID: roomID, userID: userID, ignoring: ignored
        ).filter { filter.allows($0.pdu) }.prefix(limit / 2 + limit % 2)
        let after = try await visible(
            storage.roomEvents(roomID: roomID, from: position, direction: .forward, limit: limit / 2 + 20),
            roomID: roomID, userID: userID, ignoring: ignored
        ).filter { filter.allows($0.pdu) }.prefix(limit / 2)
        let stateEvent = after.last ?? event
        var state = try await storage.state(group: stateEvent.stateGroup)
        if filter.lazyLoadMembers {
            let senders = Set(([event] + Array(before) + Array(after)).map(\.pdu.sender))
            state = state.filter { $0.key.type != "m.room.member" || senders.contains($0.key.stateKey) }
        }
        let formatted = try await rooms.aggregations.clientEvents([event] + Array(before) + Array(after), viewer: request.user)
        return .ok([
            "event": formatted[0],
            "events_before": .array(Array(formatted[1..<(1 + before.count)])),
            "events_after": .array(Array(formatted[(1 + before.count)...])),
            "start": .string(RoomGap.before(before.last ?? event).token),
            "end": .string(RoomGap.after(after.last ?? event).token),
            "state": .array(try await clientEvents(Array(state.values), request)),
        ])
    }

    private func timestampToEvent(_ request: MatrixRequest) async throws -> MatrixResponse {
        let roomID = try roomIDParameter(request)
        _ = try await rooms.readAccess(roomID: roomID, userID: request.user.userID)
        return try await nearestEvent(request, roomID: roomID) { page in
            try await rooms.visibility.filter(page, roomID: roomID, userID: request.user.userID)
        }
    }

    /// `timestamp_to_event` for clients and servers alike: the first event at or after (`f`)
    /// or at or before (`b`) `ts` among those `visible` keeps, scanning at most 10,000.
    func nearestEvent(
        _ request: MatrixRequest, roomID: String, visible: ([StoredEvent]) async throws -> [StoredEvent]
    ) async throws -> MatrixResponse {
        guard let ts = request.query("ts").flatMap(Int64.init) else { throw MatrixError.missingParam("Missing or invalid 'ts'") }
        guard let dir = request.query("dir"), dir == "f" || dir == "b" else { throw MatrixError.invalidParam("'dir' must be 'f' or 'b'") }
        var cursor: TopologicalPosition? = nil
        let direction: Direction = dir == "f" ? .forward : .backward
        for _ in 0..<50 {
            let page = try await storage.roomEvents(roomID: roomID, from: cursor, direction: direction, limit: 200)
            guard let last = page.last else { break }
            let match = try await visible(page).first { dir == "f" ? $0.pdu.originServerTS >= ts : $0.pdu.originServerTS <= ts }
            if let match {
                return .ok(["event_id": .string(match.pdu.eventID), "origin_server_ts": .int(match.pdu.originServerTS)])
            }
            cursor = TopologicalPosition(depth: last.pdu.depth, stream: last.streamPosition)
        }
        throw MatrixError.notFound("No event found \(dir == "f" ? "after" : "before") \(ts)")
    }
}
