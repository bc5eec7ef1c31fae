/// Where delivery to one application service stands. Events are not copied into a queue:
/// the service's cursor into the event stream is the queue, so it is as durable as the events.
public struct AppServiceDelivery: Sendable, Equatable {
    /// Every event up to this stream position has been delivered (or was not of interest).
    public var deliveredUpTo: Int64
    /// The last transaction ID used; IDs only grow.
    public var lastTransactionID: Int64
    /// A transaction sent and not yet acknowledged: retried with the same ID and the same
    /// range until the service answers 2xx.
    public var pending: PendingTransaction?
    public var failures: Int
    public var retryAt: Int64

    public struct PendingTransaction: Sendable, Equatable {
        public var id: Int64
        /// The stream range (after, upTo] the transaction covers.
        public var after: Int64
        public var upTo: Int64

        public init(id: Int64, after: Int64, upTo: Int64) {
            self.id = id
            self.after = after
            self.upTo = upTo
        }
    }

    public init(deliveredUpTo: Int64, lastTransactionID: Int64 = 0, pending: PendingTransaction? = nil, failures: Int = 0, retryAt: Int64 = 0) {
        self.deliveredUpTo = deliveredUpTo
        self.lastTransactionID = lastTransactionID
        self.pending = pending
        self.failures = failures
        self.retryAt = retryAt
    }
}

public protocol AppServiceStore: Sendable {
    /// Nil for a service never seen: it starts from the present, not from all history.
    func appServiceDelivery(id: String) async throws -> AppServiceDelivery?
    func saveAppServiceDelivery(id: String, _ delivery: AppServiceDelivery) async throws
    /// Takes (or renews) the right to send to the service until `until`; false when another
    /// node holds it. One node sends to each service.
    func leaseAppService(id: String, owner: String, now: Int64, until: Int64) async throws -> Bool
    /// Gives the lease up (a node stopping), so another may send at once.
    func releaseAppService(id: String, owner: String) async throws
    /// Receipts, rooms whose typing changed, and presence changes with stream positions in
    /// (after, upTo]: what MSC2409 pushes to services beside events.
    func ephemeralByStream(after: Int64, upTo: Int64) async throws -> (receipts: [Receipt], typingRooms: [String], presence: [PresenceRecord])
    /// To-device messages queued in (after, upTo], each with its recipient device: for the
    /// devices of services' users, which do not sync (MSC2409 `to_device`).
    func toDeviceByStream(after: Int64, upTo: Int64) async throws -> [(userID: String, deviceID: String, message: ToDeviceMessage)]
    /// Drops the device's to-device messages at or before `upTo`, delivered to its service.
    func deleteToDevice(userID: String, deviceID: String, upTo: Int64) async throws
    /// Lists (or unlists) a room in a service's network directory.
    func setAppServiceListing(roomID: String, appServiceID: String, networkID: String, listed: Bool) async throws
    func appServiceListings() async throws -> [(roomID: String, appServiceID: String, networkID: String)]
    /// Timeline events with stream positions in (after, upTo], oldest first.
    func eventsByStream(after: Int64, upTo: Int64, limit: Int) async throws -> [StoredEvent]
}
