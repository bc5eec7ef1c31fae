/// Cross-signing keys and signature checks (spec "Cross-signing"). A cross-signing key is
/// `{"user_id", "usage": [...], "keys": {"ed25519:<public key>": "<public key>"}, "signatures"}`.
public struct CrossSigningKey: Sendable, Equatable {
    public let json: JSONObject
    public let userID: String
    public let usage: [String]
    /// `ed25519:<unpadded base64 public key>`.
    public let keyID: String
    public let publicKey: [UInt8]

    /// Nil when the object does not have the shape the spec requires: one ed25519 key whose ID
    /// names the key itself.
    public init?(_ json: JSONObject) {
        guard let userID = json["user_id"]?.stringValue,
            let usage = json["usage"]?.arrayValue?.compactMap(\.stringValue), !usage.isEmpty,
            let keys = json["keys"]?.objectValue, keys.count == 1, let entry = keys.entries.first,
            let encoded = entry.value.stringValue, entry.key == "ed25519:" + encoded,
            let publicKey = UnpaddedBase64.decode(encoded), publicKey.count == 32
        else { return nil }
        self.json = json
        self.userID = userID
        self.usage = usage
        self.keyID = entry.key
        self.publicKey = publicKey
    }

    /// The unpadded base64 public key, which is how signatures name their target.
    public var publicKeyBase64: String { String(keyID.dropFirst("ed25519:".count)) }

    /// Whether `object` carries a valid signature by this key.
    public func hasSigned(_ object: JSONObject) -> Bool {
        JSONSigning.verify(object, server: userID, keyID: keyID, publicKey: publicKey)
    }
}

/// Key backup's rule for two copies of one session key (spec "Server-side key backups"):
/// keep the verified one, then the one with the lower first message index, then the one
/// forwarded fewer times.
public enum KeyBackupRule {
    public static func keepExisting(_ existing: JSON, over candidate: JSON) -> Bool {
        let existingVerified = existing["is_verified"]?.boolValue ?? false
        let candidateVerified = candidate["is_verified"]?.boolValue ?? false
        if existingVerified != candidateVerified { return existingVerified }
        let existingIndex = existing["first_message_index"]?.intValue ?? .max
        let candidateIndex = candidate["first_message_index"]?.intValue ?? .max
        if existingIndex != candidateIndex { return existingIndex < candidateIndex }
        return (existing["forwarded_count"]?.intValue ?? .max) <= (candidate["forwarded_count"]?.intValue ?? .max)
    }
}
