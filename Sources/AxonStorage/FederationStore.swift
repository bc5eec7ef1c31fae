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
}

extension ServerKeys {
    public var storedKeys: [StoredServerKey] {
        keys.map { keyID, key in
            StoredServerKey(
                serverName: serverName, keyID: keyID, publicKey: key.publicKey, validUntil: validUntil, expiredAt: key.expiredAt, response: json)
        }
    }
}
