import MatrixModel

/// Reads of the room graph (DESIGN.md "Federation"): edges, forward extremities and the
/// state before each event, which federation answers from (`/state_ids` is the state before
/// an event, `/get_missing_events` walks the edges).
public protocol RoomGraphStore {
    func forwardExtremities(roomID: String) async throws -> [EventReference]
    /// The `prev_events` of a stored event, as recorded in the graph.
    func prevEvents(of eventID: String) async throws -> [String]
    /// The snapshot of the state before the event; nil for a create event (no state before it)
    /// or an unknown event.
    func stateGroupBefore(eventID: String) async throws -> Int64?
    /// Events the room's stored events name as prev_events but this server does not have:
    /// where backfilling continues.
    func backwardExtremities(roomID: String, limit: Int) async throws -> [String]
    /// Events kept outside the timeline (outliers, rejected, soft-failed); missing IDs are left out.
    func outliers(ids: [String]) async throws -> [OutlierEvent]
}
