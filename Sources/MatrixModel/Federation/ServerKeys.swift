/// A server's published signing keys (spec "Publishing Keys", `GET /_matrix/key/v2/server`).
public struct ServerKeys: Sendable, Equatable {
    public struct VerifyKey: Sendable, Equatable {
        public var publicKey: [UInt8]
        /// Set for `old_verify_keys`: when the key stopped being used.
        public var expiredAt: Int64?
    }

    public var serverName: String
    public var validUntil: Int64
    public var keys: [String: VerifyKey]
    /// The response as received, signatures included, for notaries to pass on.
    public var json: JSONObject

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        case wrongServer(String)
        case unsigned(String)
        public var description: String {
            switch self {
            case .malformed(let reason): "malformed key response: \(reason)"
            case .wrongServer(let name): "keys are for \(name), not the server asked"
            case .unsigned(let keyID): "the response is not signed by its own key \(keyID)"
            }
        }
    }

    /// Parses and checks a response for `expectedServer`: every current key must have signed
    /// it, as the spec requires of a server's own response.
    public init(response json: JSONObject, expectedServer: String) throws(Problem) {
        guard let name = json["server_name"]?.stringValue else { throw .malformed("no server_name") }
        guard name == expectedServer else { throw .wrongServer(name) }
        guard let validUntil = json["valid_until_ts"]?.intValue else { throw .malformed("no valid_until_ts") }
        var keys: [String: VerifyKey] = [:]
        for (keyID, entry) in json["verify_keys"]?.objectValue ?? [:] {
            guard keyID.hasPrefix("ed25519:"), let text = entry["key"]?.stringValue, let key = UnpaddedBase64.decode(text), key.count == 32
            else { continue }
            keys[keyID] = VerifyKey(publicKey: key, expiredAt: nil)
        }
        guard !keys.isEmpty else { throw .malformed("no usable verify_keys") }
        for (keyID, key) in keys where !JSONSigning.verify(json, server: name, keyID: keyID, publicKey: key.publicKey) {
            throw .unsigned(keyID)
        }
        for (keyID, entry) in json["old_verify_keys"]?.objectValue ?? [:] where keys[keyID] == nil {
            guard keyID.hasPrefix("ed25519:"), let text = entry["key"]?.stringValue, let key = UnpaddedBase64.decode(text), key.count == 32,
                let expired = entry["expired_ts"]?.intValue
            else { continue }
            keys[keyID] = VerifyKey(publicKey: key, expiredAt: expired)
        }
        self.serverName = name
        self.validUntil = validUntil
        self.keys = keys
        self.json = json
    }

    /// The key usable for a signature made at `time`: current keys while the response is valid
    /// (before room v5, regardless of `valid_until_ts`), old keys up to their expiry.
    public func key(_ keyID: String, usableAt time: Int64, enforceValidity: Bool) -> [UInt8]? {
        guard let key = keys[keyID] else { return nil }
        if let expired = key.expiredAt { return time < expired ? key.publicKey : nil }
        if enforceValidity, time > validUntil { return nil }
        return key.publicKey
    }

    /// This server's own response, signed with its key.
    public static func publish(serverName: String, key: SigningKey, validUntil: Int64, oldKeys: JSONObject = [:]) throws(CanonicalJSONError) -> JSONObject {
        let unsigned: JSONObject = [
            "server_name": .string(serverName), "valid_until_ts": .int(validUntil),
            "verify_keys": [.init(stringLiteral: key.keyID): ["key": .string(key.publicKeyBase64)]],
            "old_verify_keys": .object(oldKeys),
        ]
        return try JSONSigning.sign(unsigned, server: serverName, key: key)
    }
}
