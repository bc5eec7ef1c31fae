import AxonStorage
import MatrixModel

/// A pagination token of `/messages`, `/context` and `prev_batch`: it names the gap between
/// two events of the room's topological order (depth, then stream position), never an event.
/// `t<depth>_<stream>` is the gap just after the event at that position. Paginating backwards
/// from a gap returns the event before it first, forwards the event after it, so a client may
/// turn around at any `start` or `end` and still see every event exactly once.
struct RoomGap: Sendable, Equatable {
    /// Everything at or before this position lies behind the gap.
    var after: TopologicalPosition

    /// The gap before every event of a room.
    static let beginning = RoomGap(after: TopologicalPosition(depth: .min, stream: .min))

    static func after(_ event: StoredEvent) -> RoomGap {
        RoomGap(after: position(of: event))
    }

    static func before(_ event: StoredEvent) -> RoomGap {
        let at = position(of: event)
        if at.stream > .min { return RoomGap(after: TopologicalPosition(depth: at.depth, stream: at.stream - 1)) }
        if at.depth > .min { return RoomGap(after: TopologicalPosition(depth: at.depth - 1, stream: .max)) }
        return .beginning
    }

    static func position(of event: StoredEvent) -> TopologicalPosition {
        TopologicalPosition(depth: event.pdu.depth, stream: event.streamPosition)
    }

    /// Whether `event` lies behind the gap (at or before it).
    func isBehind(_ event: StoredEvent) -> Bool {
        Self.position(of: event) <= after
    }

    /// The exclusive bound storage takes for a page read from this gap: forwards, events after
    /// `after`; backwards, events before its successor (nil when nothing sorts after it).
    func storageBound(_ direction: Direction) -> TopologicalPosition? {
        if direction.isForward { return after }
        if after.stream < .max { return TopologicalPosition(depth: after.depth, stream: after.stream + 1) }
        if after.depth < .max { return TopologicalPosition(depth: after.depth + 1, stream: .min) }
        return nil
    }

    var token: String { "t\(after.depth)_\(after.stream)" }

    init(after: TopologicalPosition) {
        self.after = after
    }

    init?(token: String) {
        guard token.hasPrefix("t") else { return nil }
        let parts = token.dropFirst().split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 2, let depth = Int64(parts[0]), let stream = Int64(parts[1]) else { return nil }
        after = TopologicalPosition(depth: depth, stream: stream)
    }
}
