import AxonStorage
import MatrixModel

/// The spec's bundled aggregations (client-server "Aggregations of child events", v1.7+):
/// `unsigned.m.relations` carries the latest edit (`m.replace`, the whole event), the thread
/// summary (`m.thread`) and references (`m.reference`) of each event, counting only children
/// the viewer may see. One relation query and one event read cover a whole batch.
struct BundledAggregations: Sendable {
    let storage: any Storage
    let visibility: HistoryVisibility

    static let relTypes = ["m.replace", "m.thread", "m.reference"]

    /// Client events of `events` (all of one room) as `viewer` sees them, aggregations added.
    func clientEvents(_ events: [StoredEvent], viewer: TokenOwner, ignoring: Set<String>? = nil) async throws -> [JSON] {
        let relations = try await aggregations(for: events, viewer: viewer, ignoring: ignoring)
        return events.map { event in
            var json = ClientEventFormat.json(event, viewer: viewer, version: nil)
            if let bundle = relations[event.pdu.eventID] {
                var unsigned = json["unsigned"]?.objectValue ?? [:]
                unsigned["m.relations"] = .object(bundle)
                json["unsigned"] = .object(unsigned)
            }
            return json
        }
    }

    /// `m.relations` per parent event ID, for parents that have any visible child.
    func aggregations(for events: [StoredEvent], viewer: TokenOwner, ignoring: Set<String>? = nil) async throws -> [String: JSONObject] {
        // Redacted events get no aggregations: an edit must not bring back redacted content.
        let parents = events.filter { $0.redactedBecause == nil && $0.pdu.stateKey == nil }
        guard let roomID = parents.first?.roomID else { return [:] }
        let rows = try await storage.relationRows(roomID: roomID, parentIDs: parents.map(\.pdu.eventID), relTypes: Self.relTypes)
        guard !rows.isEmpty else { return [:] }
        let byParent = Dictionary(grouping: rows, by: \.parentID)
        let parentsByID = Dictionary(parents.map { ($0.pdu.eventID, $0) }, uniquingKeysWith: { first, _ in first })
        // Only edits by the original sender are edits at all (spec "Validity of replacement events").
        let wanted = rows.filter { row in
            row.relType != "m.replace" || parentsByID[row.parentID]?.pdu.sender == row.sender
        }
        let children = try await storage.events(ids: wanted.map(\.eventID))
        let visible = try await visibility.filter(children, roomID: roomID, userID: viewer.userID, ignoring: ignoring)
        let visibleByID = Dictionary(visible.map { ($0.pdu.eventID, $0) }, uniquingKeysWith: { first, _ in first })
        var result: [String: JSONObject] = [:]
        for (parentID, parentRows) in byParent {
            guard let parent = parentsByID[parentID] else { continue }
            var bundle = JSONObject()
            let edits = parentRows.filter { $0.relType == "m.replace" }.compactMap { visibleByID[$0.eventID] }
                .filter { Self.isValidEdit($0, of: parent) }
            if let latest = edits.max(by: { ($0.pdu.originServerTS, $0.pdu.eventID) < ($1.pdu.originServerTS, $1.pdu.eventID) }) {
                bundle["m.replace"] = ClientEventFormat.json(latest, viewer: viewer, version: nil)
            }
            let replies = parentRows.filter { $0.relType == "m.thread" }.compactMap { visibleByID[$0.eventID] }
            if let latest = replies.last {
                bundle["m.thread"] = [
                    "latest_event": ClientEventFormat.json(latest, viewer: viewer, version: nil),
                    "count": .int(Int64(replies.count)),
                    "current_user_participated": .bool(
                        parent.pdu.sender == viewer.userID || replies.contains { $0.pdu.sender == viewer.userID }),
                ]
            }
            let references = parentRows.filter { $0.relType == "m.reference" }.filter { visibleByID[$0.eventID] != nil }
            if !references.isEmpty {
                bundle["m.reference"] = ["chunk": .array(references.map { ["event_id": .string($0.eventID)] })]
            }
            if !bundle.isEmpty { result[parentID] = bundle }
        }
        return result
    }

    /// Spec "Validity of replacement events": same sender and type, neither a state event,
    /// the original not itself an edit, and the replacement carrying `m.new_content` (inside
    /// the ciphertext, so unseen, for encrypted events).
    static func isValidEdit(_ edit: StoredEvent, of original: StoredEvent) -> Bool {
        edit.pdu.sender == original.pdu.sender && edit.pdu.type == original.pdu.type && edit.pdu.stateKey == nil
            && original.pdu.content["m.relates_to"]?["rel_type"]?.stringValue != "m.replace"
            && (edit.pdu.type == "m.room.encrypted" || edit.pdu.content["m.new_content"]?.objectValue != nil)
            && edit.redactedBecause == nil
    }
}
