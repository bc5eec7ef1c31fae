/// How sending to one server goes, as Synapse's destinations admin API shows it.
public struct DestinationStatus: Sendable, Equatable {
    public var destination: String
    /// When the last attempt failed; 0 while sending succeeds.
    public var retryLastTS: Int64
    /// How long after that failure the next attempt waits; 0 while sending succeeds.
    public var retryInterval: Int64
    /// When the current run of failures began; nil while sending succeeds.
    public var failureTS: Int64?
    /// The outbox position of the last batch the server accepted.
    public var lastSuccessfulStreamOrdering: Int64?

    public init(destination: String, retryLastTS: Int64, retryInterval: Int64, failureTS: Int64?, lastSuccessfulStreamOrdering: Int64?) {
        self.destination = destination
        self.retryLastTS = retryLastTS
        self.retryInterval = retryInterval
        self.failureTS = failureTS
        self.lastSuccessfulStreamOrdering = lastSuccessfulStreamOrdering
    }
}

public struct DestinationQuery: Sendable, Equatable {
    public enum Order: String, Sendable, CaseIterable {
        case destination, retryLastTS = "retry_last_ts", retryInterval = "retry_interval", failureTS = "failure_ts"
        case lastSuccessfulStreamOrdering = "last_successful_stream_ordering"
    }

    public var from = 0
    public var limit = 100
    /// Part of the server name.
    public var search: String?
    public var order: Order = .destination
    public var descending = false

    public init() {}

    func clause() -> String {
        let direction = descending ? "DESC" : "ASC"
        return "ORDER BY \(order.rawValue) IS NULL, \(order.rawValue) \(direction), destination \(direction)"
    }
}

public protocol AdminDestinationStore: Sendable {
    func destinations(_ query: DestinationQuery) async throws -> (destinations: [DestinationStatus], total: Int)
    func destination(_ name: String) async throws -> DestinationStatus?
    /// Rooms the server has joined members in, each with the position of its newest event
    /// not waiting to be sent there.
    func destinationRooms(_ name: String, from: Int, limit: Int, descending: Bool) async throws -> (rooms: [(roomID: String, streamOrdering: Int64)], total: Int)
    /// Ends the back-off: the next send is attempted at once. False for an unknown server.
    func resetDestination(_ name: String) async throws -> Bool
}
