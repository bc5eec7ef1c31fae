import AxonStorage
import Logging
import MatrixModel

/// The one way a remote PDU enters Axon (`/send` now; joins and backfill later): the room
/// must be known and its ACL must allow the origin; then the spec's checks in order —
/// format, signatures (keys valid at the event's time from room v5), hash (redacted on
/// mismatch) — and the room graph places it (`RoomGraph`). Missing prev_events are fetched
/// with `/get_missing_events`, missing auth events with `/event`, within a budget per call.
struct PDUReceiver: Sendable {
    let storage: any Storage
    let keys: KeyRing
    let client: FederationClient
    let graph: RoomGraph
    let rooms: RoomService
    let logger: Logger
    var policy: RoomPolicy { RoomPolicy(storage: storage, client: client) }
    /// Events fetched to fill gaps for one received PDU, at most.
    static let fetchBudget = 50

    struct Result: Sendable {
        var eventID: String?
        var error: String?
    }

    final class Budget: @unchecked Sendable {
        var remaining: Int
        /// Gaps bridged by fetching the state at their far side (`/state_ids`), at most.
        var stateFetches = 1
        init(_ remaining: Int) { self.remaining = remaining }
    }

    func receive(_ json: JSONObject, origin: String, budget: Budget = Budget(fetchBudget)) async -> Result {
        guard let roomID = json["room_id"]?.stringValue else { return Result(error: "no room_id") }
        var eventID: String?
        do {
            guard let room = try await storage.room(id: roomID) else { return Result(error: "unknown room") }
            let version = room.version
            let pdu = try ReceivedPDU.parse(json, version: version, roomID: roomID)
            eventID = pdu.eventID
            if let acl = try await storage.serverACL(roomID: roomID),
                !acl.allows(origin) || !(UserID(pdu.sender).map { acl.allows($0.server.value) } ?? false)
            {
                return Result(eventID: pdu.eventID, error: "the room's server ACL forbids this server")
            }
            var checked = try await verified(pdu, version: version)
            var notRecommended: String?
            if !RoomPolicy.isExempt(checked) {
                switch await policy.check(checked, server: try await policy.policyServer(roomID: roomID), version: version) {
                case .recommended(let signed): checked = signed
                case .notRecommended(let error): notRecommended = error.message
                }
            }
            return Result(
                eventID: pdu.eventID,
                error: try await place(checked, roomID: roomID, origin: origin, budget: budget, notRecommended: notRecommended))
        } catch let failure as ReceivedPDU.Failure {
            return Result(eventID: eventID, error: failure.description)
        } catch {
            logger.warning("receiving a PDU failed", metadata: ["room_id": "\(roomID)", "error": "\(error)"])
            return Result(eventID: eventID, error: "could not process the event")
        }
    }

    /// Steps 2 and 3: signatures by every required server, then the content hash.
    func verified(_ pdu: PDU, version: RoomVersion) async throws -> PDU {
        let time = version.enforcesKeyValidity ? pdu.originServerTS : nowMillis()
        var found: [String: [String: [UInt8]]] = [:]
        for (server, keyIDs) in ReceivedPDU.signingKeyIDs(pdu, version: version) {
            for keyID in keyIDs.prefix(4) {
                if let key = try await keys.publicKey(server: server, keyID: keyID, at: time, enforceValidity: version.enforcesKeyValidity) {
                    found[server, default: [:]][keyID] = key
                }
            }
        }
        try ReceivedPDU.verifySignatures(pdu, version: version) { found[$0]?[$1] }
        // `unsigned` is covered by neither hash nor signature: what another server put there
        // (a claimed prev_content, say) is not kept; Axon computes its own.
        var checked = ReceivedPDU.applyingHashCheck(pdu, version: version).pdu
        if checked.json["unsigned"] != nil {
            var json = checked.json
            json["unsigned"] = nil
            checked = PDU(eventID: checked.eventID, json: json)
        }
        return checked
    }

    /// Places the event, filling gaps first when it names events this server lacks.
    private func place(
        _ pdu: PDU, roomID: String, origin: String, budget: Budget, attempt: Int = 0, notRecommended: String? = nil
    ) async throws -> String? {
        do {
            let outcome = try await storage.writeRoom(roomID: roomID) { tx in try await graph.place(pdu, in: tx, notRecommended: notRecommended) }
            switch outcome {
            case .accepted(let stored):
                rooms.notify(stored)
                return nil
            case .rejected(let reason):
                return "rejected: \(reason)"
            case .softFailed(let reason):
                // Accepted for the graph, not for clients: the sender is not told otherwise.
                logger.info("soft-failed a PDU", metadata: ["event_id": "\(pdu.eventID)", "reason": "\(reason)"])
                return nil
            }
        } catch let missing as RoomGraph.MissingEvents {
            if attempt == 0, budget.remaining > 0 {
                try await fill(missing.ids, for: pdu, roomID: roomID, origin: origin, budget: budget)
                return try await place(pdu, roomID: roomID, origin: origin, budget: budget, attempt: 1, notRecommended: notRecommended)
            }
            // A gap too big for /get_missing_events: its far side is placed by its state.
            let prevs = missing.ids.filter(pdu.prevEvents.contains)
            if attempt < 2, !prevs.isEmpty, budget.stateFetches > 0 {
                budget.stateFetches -= 1
                for prev in prevs.prefix(2) { try await fetchState(at: prev, roomID: roomID, origin: origin) }
                return try await place(pdu, roomID: roomID, origin: origin, budget: budget, attempt: 2, notRecommended: notRecommended)
            }
            return "missing events: \(missing.ids.joined(separator: ", "))"
        }
    }

    /// Fetches missing prev_events through `/get_missing_events` (from the room's current
    /// extremities to the event) and missing auth events one by one through `/event`.
    private func fill(_ ids: [String], for pdu: PDU, roomID: String, origin: String, budget: Budget) async throws {
        let prevs = Set(pdu.prevEvents)
        if ids.contains(where: prevs.contains) {
            let earliest = try await storage.forwardExtremities(roomID: roomID).map { JSON.string($0.eventID) }
            let body: JSON = [
                "earliest_events": .array(earliest), "latest_events": [.string(pdu.eventID)], "limit": .int(Int64(min(10, budget.remaining))),
                "min_depth": 0,
            ]
            let response = try await client.request(
                .POST, destination: origin, path: "/_matrix/federation/v1/get_missing_events/" + PercentEncoding.component(roomID), body: body)
            let events = (response.json["events"]?.arrayValue ?? []).compactMap(\.objectValue).prefix(budget.remaining)
            budget.remaining -= events.count
            // Oldest first, so each builds on what came before it.
            for event in events.sorted(by: { ($0["depth"]?.intValue ?? 0) < ($1["depth"]?.intValue ?? 0) }) {
                _ = await receive(event, origin: origin, budget: budget)
            }
        }
        for id in ids where !prevs.contains(id) && budget.remaining > 0 {
            budget.remaining -= 1
            let response = try await client.request(.GET, destination: origin, path: "/_matrix/federation/v1/event/" + PercentEncoding.component(id))
            guard let event = response.json["pdus"]?.arrayValue?.first?.objectValue,
                let room = try await storage.room(id: roomID)
            else { continue }
            let fetched = try await verified(try ReceivedPDU.parse(event, version: room.version, roomID: roomID), version: room.version)
            guard fetched.eventID == id else { continue }
            try await storage.writeRoom(roomID: roomID) { tx in try await graph.storeOutlier(fetched, in: tx) }
        }
    }
}
