import Crypto

/// An Ed25519 signing key with its Matrix key ID (`ed25519:<version>`).
public struct SigningKey: Sendable {
    public let keyID: String
    public let privateKey: Curve25519.Signing.PrivateKey

    public init(keyID: String, seed: [UInt8]) throws {
        self.keyID = keyID
        self.privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
    }

    public static func generate(version: String) -> SigningKey {
        let key = Curve25519.Signing.PrivateKey()
        return try! SigningKey(keyID: "ed25519:\(version)", seed: Array(key.rawRepresentation))
    }

    public var seed: [UInt8] { Array(privateKey.rawRepresentation) }
    public var publicKeyBase64: String { UnpaddedBase64.encode(privateKey.publicKey.rawRepresentation) }

    /// Synapse's signing key file format: `ed25519 <version> <unpadded base64 seed>`.
    public var fileRepresentation: String {
        "ed25519 \(keyID.dropFirst("ed25519:".count)) \(UnpaddedBase64.encode(seed))\n"
    }

    public init?(fileRepresentation: String) {
        let parts = fileRepresentation.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count == 3, parts[0] == "ed25519", let seed = UnpaddedBase64.decode(String(parts[2])),
            seed.count == 32, (try? SigningKey(keyID: "ed25519:\(parts[1])", seed: seed)) != nil
        else { return nil }
        try? self.init(keyID: "ed25519:\(parts[1])", seed: seed)
    }
}

public enum JSONSigning {
    /// Signs a JSON object per the appendix "Signing JSON": the canonical form without
    /// `signatures` and `unsigned` is signed, and the signature added under
    /// `signatures.<server>.<keyID>`, keeping existing signatures.
    public static func sign(_ object: JSONObject, server: String, key: SigningKey) throws(CanonicalJSONError) -> JSONObject {
        var stripped = object
        let existing = stripped.removeValue(forKey: "signatures")?.objectValue ?? [:]
        let unsigned = stripped.removeValue(forKey: "unsigned")
        let message = try JSON.object(stripped).canonicalBytes()
        let signature = try! key.privateKey.signature(for: message)
        var signatures = existing
        var serverSignatures = signatures[server]?.objectValue ?? [:]
        serverSignatures[key.keyID] = .string(UnpaddedBase64.encode(signature))
        signatures[server] = .object(serverSignatures)
        var signed = stripped
        signed["signatures"] = .object(signatures)
        if let unsigned { signed["unsigned"] = unsigned }
        return signed
    }

    /// Checks `signatures.<server>.<keyID>` over the object against an Ed25519 public key.
    public static func verify(_ object: JSONObject, server: String, keyID: String, publicKey: [UInt8]) -> Bool {
        guard let signatureText = object["signatures"]?[server]?[keyID]?.stringValue,
            let signature = UnpaddedBase64.decode(signatureText),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey)
        else { return false }
        var stripped = object
        stripped["signatures"] = nil
        stripped["unsigned"] = nil
        guard let message = try? JSON.object(stripped).canonicalBytes() else { return false }
        return key.isValidSignature(signature, for: message)
    }
}
