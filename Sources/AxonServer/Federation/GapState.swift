import AxonStorage
import MatrixModel

/// Gaps too big for `/get_missing_events` (spec "Retrieving events"): the state at the gap's
/// far side is asked with `/state_ids`, the events this server lacks are fetched (`/state` in
/// one answer when there are many, `/event` one by one otherwise), each checked like any PDU,
/// and the far-side event is stored as the room's past with that state (negative positions:
/// never new in `/sync`). Events built on it are then placed as usual; the gap behind it
/// stays a backward extremity for backfill.
extension PDUReceiver {
    /// Events fetched one by one with `/event`; above this, one `/state` request.
    static let singleFetchLimit = 20
    /// State and auth chain entries accepted from one answer.
    static let maxStateEntries = 100_000

    /// The state at an event (before it) as a resident tells it, with the events of it and
    /// of its auth chain this server lacks, fetched and checked (not stored yet). `including`
    /// event IDs are fetched too when unknown.
    struct RemoteState: Sendable {
        var stateIDs: [String]
        var fetched: [String: PDU]
    }

    func remoteState(at eventID: String, roomID: String, version: RoomVersion, origin: String, including extra: [String] = []) async throws
        -> RemoteState
    {
        let roomPath = PercentEncoding.component(roomID)
        let query = "?event_id=" + PercentEncoding.component(eventID)
        let ids = try await client.request(.GET, destination: origin, path: "/_matrix/federation/v1/state_ids/\(roomPath)\(query)")
        guard ids.status == 200, let stateIDs = ids.json["pdu_ids"]?.arrayValue?.compactMap(\.stringValue),
            let chainIDs = ids.json["auth_chain_ids"]?.arrayValue?.compactMap(\.stringValue),
            stateIDs.count + chainIDs.count <= Self.maxStateEntries
        else { throw FederationClient.Failure("\(origin) did not say the state at \(eventID)") }

        let wanted = Array(Set(stateIDs + chainIDs + extra))
        var known = Set(try await storage.events(ids: wanted).map(\.pdu.eventID))
        known.formUnion(try await storage.outliers(ids: wanted.filter { !known.contains($0) }).map(\.pdu.eventID))
        let missing = Set(wanted.filter { !known.contains($0) })
        var fetched: [String: PDU] = [:]
        func accept(_ json: JSON) async {
            guard let object = json.objectValue,
                let pdu = try? await verified(try ReceivedPDU.parse(object, version: version, roomID: roomID), version: version),
                missing.contains(pdu.eventID)
            else { return }
            fetched[pdu.eventID] = pdu
        }
        if missing.count > Self.singleFetchLimit {
            let state = try await client.request(.GET, destination: origin, path: "/_matrix/federation/v1/state/\(roomPath)\(query)")
            for json in (state.json["auth_chain"]?.arrayValue ?? []) + (state.json["pdus"]?.arrayValue ?? []) { await accept(json) }
        }
        for id in missing where fetched[id] == nil {
            if fetched.count > Self.singleFetchLimit, !extra.contains(id) { continue }
            let response = try await client.request(.GET, destination: origin, path: "/_matrix/federation/v1/event/" + PercentEncoding.component(id))
            if let json = response.json["pdus"]?.arrayValue?.first { await accept(json) }
        }
        return RemoteState(stateIDs: stateIDs, fetched: fetched)
    }

    func fetchState(at eventID: String, roomID: String, origin: String) async throws {
        guard let room = try await storage.room(id: roomID) else { return }
        let remote = try await remoteState(at: eventID, roomID: roomID, version: room.version, origin: origin, including: [eventID])
        let stateIDs = remote.stateIDs
        let events = remote.fetched
        let stored = try await storage.writeRoom(roomID: roomID) { tx -> Bool in
            // The auth chain and the state first, oldest first, each checked against its own
            // auth events; then the far side itself, against them and that state.
            for pdu in events.values.sorted(by: { $0.depth < $1.depth }) where pdu.eventID != eventID {
                try? await graph.storeOutlier(pdu, in: tx)
            }
            let target: PDU?
            if let pdu = events[eventID] {
                target = pdu
            } else {
                target = try await storage.outliers(ids: [eventID]).first.flatMap { $0.kind == .outlier ? $0.pdu : nil }
            }
            guard let target else { return false }
            return try await graph.storeGapEdge(target, stateBefore: stateIDs, in: tx)
        }
        logger.info(
            "bridged a gap by its state", metadata: ["event_id": "\(eventID)", "fetched": "\(events.count)", "kept": "\(stored)"])
    }
}
