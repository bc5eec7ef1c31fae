import AxonStorage
import MatrixModel

/// The server-server reads of a room's graph (server-server spec "Retrieving events",
/// "Backfilling", "Authentication"): one event, the state at an event, an auth chain, the
/// gap before known events, backfill, and the event nearest a time. Each answers only a
/// server with a member in the room, and serves what that server may see.
extension ServerContext {
    static let maxFederationPage = 100

    func registerEventReadRoutes(on routes: RouteTable) {
        let visibility = ServerVisibility(storage: storage)
        routes.add(.get, "/_matrix/federation/v1/event/{eventId}", auth: .server) { request in
            guard let event = try await storage.event(id: request.parameter("eventId")), let room = try await storage.room(id: event.roomID) else {
                throw MatrixError.notFound("Event not found")
            }
            let origin = request.origin ?? ""
            try await visibility.requireParticipant(origin, roomID: event.roomID)
            let pdus = try await visibility.filter([event], for: origin, version: room.version)
            return .ok(transactionShape(pdus))
        }
        for (path, withEvents) in [("/_matrix/federation/v1/state_ids/{roomId}", false), ("/_matrix/federation/v1/state/{roomId}", true)] {
            routes.add(.get, path, auth: .server) { request in
                let event = try await eventInRoom(request, visibility: visibility)
                // The state at an event is the state before it, as Synapse serves it.
                let state = try await storage.stateGroupBefore(eventID: event.pdu.eventID).asyncMap { try await storage.state(group: $0) } ?? [:]
                let chain = try await AuthChains(storage: storage).chain(of: Array(state.values))
                if withEvents {
                    return .ok([
                        "pdus": .array(state.values.map { .object(ServerVisibility.federationForm($0).json) }),
                        "auth_chain": .array(chain.map { .object(ServerVisibility.federationForm($0).json) }),
                    ])
                }
                return .ok(["pdu_ids": .array(state.values.map { .string($0.eventID) }), "auth_chain_ids": .array(chain.map { .string($0.eventID) })])
            }
        }
        routes.add(.get, "/_matrix/federation/v1/event_auth/{roomId}/{eventId}", auth: .server) { request in
            let roomID = try roomIDParameter(request)
            try await visibility.requireParticipant(request.origin ?? "", roomID: roomID)
            guard let event = try await AuthChains(storage: storage).known([request.parameter("eventId")]).first, event.roomID == roomID else {
                throw MatrixError.notFound("Event not found")
            }
            let chain = try await AuthChains(storage: storage).chain(of: [event.pdu])
            return .ok(["auth_chain": .array(chain.map { .object(ServerVisibility.federationForm($0).json) })])
        }
        routes.add(.post, "/_matrix/federation/v1/get_missing_events/{roomId}", auth: .server) { request in
            let roomID = try roomIDParameter(request)
            let origin = request.origin ?? ""
            try await visibility.requireParticipant(origin, roomID: roomID)
            let body = try request.jsonObject()
            guard let latest = body["latest_events"]?.arrayValue?.compactMap(\.stringValue),
                let earliest = body["earliest_events"]?.arrayValue?.compactMap(\.stringValue)
            else { throw MatrixError.badJSON("'earliest_events' and 'latest_events' are required arrays") }
            let limit = max(0, min(Int(body["limit"]?.intValue ?? 10), Self.maxFederationPage))
            let minDepth = body["min_depth"]?.intValue ?? 0
            let events = try await walkBack(from: latest, excluding: Set(earliest), roomID: roomID, limit: limit, minDepth: minDepth, includeStart: false)
            let room = try await storage.room(id: roomID)
            let pdus = try await visibility.filter(events, for: origin, version: room?.version ?? .default)
            return .ok(["events": .array(pdus.map { .object($0.json) })])
        }
        routes.add(.get, "/_matrix/federation/v1/backfill/{roomId}", auth: .server) { request in
            let roomID = try roomIDParameter(request)
            let origin = request.origin ?? ""
            try await visibility.requireParticipant(origin, roomID: roomID)
            let from = request.query["v"] ?? []
            guard !from.isEmpty else { throw MatrixError.missingParam("Missing 'v'") }
            let limit = try request.integerQuery("limit", default: 10, maximum: Self.maxFederationPage)
            let events = try await walkBack(from: from, excluding: [], roomID: roomID, limit: limit, minDepth: 0, includeStart: true)
            let room = try await storage.room(id: roomID)
            let pdus = try await visibility.filter(events, for: origin, version: room?.version ?? .default)
            return .ok(transactionShape(pdus))
        }
        routes.add(.get, "/_matrix/federation/v1/timestamp_to_event/{roomId}", auth: .server) { request in
            let roomID = try roomIDParameter(request)
            try await visibility.requireParticipant(request.origin ?? "", roomID: roomID)
            // Servers in the room see its whole timeline (redacted where hidden), so every event counts.
            return try await nearestEvent(request, roomID: roomID) { $0 }
        }
    }

    private func transactionShape(_ pdus: [PDU]) -> JSON {
        ["origin": .string(serverName.value), "origin_server_ts": .int(nowMillis()), "pdus": .array(pdus.map { .object($0.json) })]
    }

    /// The `event_id` query of `/state` and `/state_ids`: an event of this room, for a server in it.
    private func eventInRoom(_ request: MatrixRequest, visibility: ServerVisibility) async throws -> StoredEvent {
        let roomID = try roomIDParameter(request)
        try await visibility.requireParticipant(request.origin ?? "", roomID: roomID)
        guard let eventID = request.query("event_id") else { throw MatrixError.missingParam("Missing 'event_id'") }
        guard let event = try await storage.event(id: eventID), event.roomID == roomID else { throw MatrixError.notFound("Event not found") }
        return event
    }

    /// Breadth-first through prev_events from `start`, skipping `excluded`, deepest first.
    private func walkBack(
        from start: [String], excluding excluded: Set<String>, roomID: String, limit: Int, minDepth: Int64, includeStart: Bool
    ) async throws -> [StoredEvent] {
        var seen = Set(start).union(excluded)
        var frontier = includeStart ? start.filter { !excluded.contains($0) } : []
        if !includeStart {
            for id in start { frontier += try await storage.prevEvents(of: id).filter { seen.insert($0).inserted } }
        }
        var found: [StoredEvent] = []
        while !frontier.isEmpty, found.count < limit {
            let events = try await storage.events(ids: frontier).filter { $0.roomID == roomID && $0.pdu.depth >= minDepth }
            var next: [String] = []
            for event in events.sorted(by: { $0.pdu.depth > $1.pdu.depth }) where found.count < limit {
                found.append(event)
                next += try await storage.prevEvents(of: event.pdu.eventID).filter { seen.insert($0).inserted }
            }
            frontier = next
        }
        return found
    }
}

/// Auth chains (every event reachable through `auth_events`), from the timeline and the
/// events kept outside it.
struct AuthChains: Sendable {
    let storage: any Storage
    static let maxChain = 50_000

    func known(_ ids: [String]) async throws -> [StoredEvent] {
        var found = try await storage.events(ids: ids)
        let missing = Set(ids).subtracting(found.map(\.pdu.eventID))
        for outlier in try await storage.outliers(ids: Array(missing)) where outlier.kind != .rejected {
            found.append(StoredEvent(pdu: outlier.pdu, roomID: outlier.roomID, streamPosition: 0, stateGroup: 0))
        }
        return found
    }

    func chain(of events: [PDU]) async throws -> [PDU] {
        var seen = Set<String>()
        var chain: [PDU] = []
        var pending = Set(events.flatMap(\.authEvents))
        while !pending.isEmpty, chain.count < Self.maxChain {
            let batch = Array(pending.subtracting(seen).prefix(500))
            guard !batch.isEmpty else { break }
            seen.formUnion(batch)
            pending.subtract(batch)
            for event in try await known(batch) {
                chain.append(event.pdu)
                pending.formUnion(event.pdu.authEvents.filter { !seen.contains($0) })
            }
        }
        return chain
    }
}
