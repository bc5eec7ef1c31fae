import MatrixModel

/// One signing key of a remote server, with the key response it came in (notaries pass
/// responses on unchanged, signatures and all).
public struct StoredServerKey: Sendable, Equatable {
    public var serverName: String
    public var keyID: String
    public var publicKey: [UInt8]
    /// The `valid_until_ts` of the response that listed it as current.
    public var validUntil: Int64
    /// Set when the key was listed under `old_verify_keys`.
    public var expiredAt: Int64?
    public var response: JSONObject

    public init(serverName: String, keyID: String, publicKey: [UInt8], validUntil: Int64, expiredAt: Int64?, response: JSONObject) {
        self.serverName = serverName
        self.keyID = keyID
        self.publicKey = publicKey
        self.validUntil = validUntil
        self.expiredAt = expiredAt
        self.response = response
    }
}

/// What federation keeps about other servers.
public protocol FederationStore {
    /// Stores every key of a checked key response; a key already known keeps the later
    /// `valid_until_ts`.
    func storeServerKeys(_ keys: ServerKeys) async throws
    func serverKeys(serverName: String) async throws -> [StoredServerKey]
    /// The answer given to an inbound transaction, so a retried one gets it again unprocessed.
    func inboundTransactionResponse(origin: String, txnID: String) async throws -> JSON?
    /// Records a transaction's answer; answers older than a day are forgotten.
    func saveInboundTransaction(origin: String, txnID: String, response: JSON, now: Int64) async throws

    /// Queues a PDU (by event ID) or an EDU for each destination.
    func enqueueOutbound(destinations: [String], eventID: String?, edu: JSON?, now: Int64) async throws
    /// Destinations with something queued whose back-off has passed.
    func pendingDestinations(now: Int64) async throws -> [String]
    /// The oldest queued entries of a destination: at most `pdus` PDUs and `edus` EDUs.
    func outboundBatch(destination: String, pdus: Int, edus: Int) async throws -> OutboundBatch
    /// Removes sent entries and resets the destination's back-off.
    func completeOutbound(destination: String, sequences: [Int64]) async throws
    /// Counts a failure: the destination is retried at `retryAt`. Returns the failures so far.
    @discardableResult
    func failOutbound(destination: String, retryAt: Int64, now: Int64) async throws -> Int
    /// Drops all but the newest `keeping` PDUs of a destination that fell far behind; the
    /// peer fetches the gap with `/get_missing_events`.
    func trimOutbound(destination: String, keeping: Int) async throws
    /// Takes (or renews) the right to send to a destination until `until`: one node at a time.
    func leaseDestination(_ destination: String, owner: String, now: Int64, until: Int64) async throws -> Bool
    /// Gives the lease up (when the owner has nothing more to send, or stops), so another
    /// node, or this one after a restart, need not wait for it to run out.
    func releaseDestination(_ destination: String, owner: String) async throws
}

public struct OutboundBatch: Sendable, Equatable {
    public var pdus: [(sequence: Int64, eventID: String)]
    public var edus: [(sequence: Int64, edu: JSON)]
    public var total: Int

    public init(pdus: [(sequence: Int64, eventID: String)], edus: [(sequence: Int64, edu: JSON)], total: Int) {
        self.pdus = pdus
        self.edus = edus
        self.total = total
    }

    public var isEmpty: Bool { pdus.isEmpty && edus.isEmpty }
    public var sequences: [Int64] { pdus.map(\.sequence) + edus.map(\.sequence) }

    public static func == (a: Self, b: Self) -> Bool {
        a.pdus.map(\.sequence) == b.pdus.map(\.sequence) && a.edus.map(\.sequence) == b.edus.map(\.sequence) && a.total == b.total
    }
}

extension ServerKeys {
    public var storedKeys: [StoredServerKey] {
        keys.map { keyID, key in
            StoredServerKey(
                serverName: serverName, keyID: keyID, publicKey: key.publicKey, validUntil: validUntil, expiredAt: key.expiredAt, response: json)
        }
    }
}
