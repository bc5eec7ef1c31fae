import Crypto

/// Content hashes, reference hashes, event IDs and event signatures (server-server spec,
/// "Signing events" and "Calculating the reference hash").
public enum EventHashing {
    /// SHA-256 over the canonical event without `unsigned`, `signatures` and `hashes`.
    public static func contentHash(_ event: JSONObject) throws(CanonicalJSONError) -> [UInt8] {
        var stripped = event
        stripped["unsigned"] = nil
        stripped["signatures"] = nil
        stripped["hashes"] = nil
        return Array(SHA256.hash(data: try JSON.object(stripped).canonicalBytes()))
    }

    /// SHA-256 over the canonical redacted event without `signatures` and `unsigned`.
    public static func referenceHash(_ event: JSONObject, version: RoomVersion) throws(CanonicalJSONError) -> [UInt8] {
        var redacted = Redaction.redact(event, version: version)
        redacted["signatures"] = nil
        redacted["unsigned"] = nil
        return Array(SHA256.hash(data: try JSON.object(redacted).canonicalBytes()))
    }

    /// `$` + URL-safe unpadded base64 of the reference hash (room v4+).
    public static func eventID(_ event: JSONObject, version: RoomVersion) throws(CanonicalJSONError) -> String {
        "$" + UnpaddedBase64.encode(try referenceHash(event, version: version), urlSafe: true)
    }

    /// Adds `hashes.sha256` and this server's signature over the redacted form, as
    /// `hash_and_sign_event` in the spec does.
    public static func hashAndSign(
        _ event: JSONObject, version: RoomVersion, server: String, key: SigningKey
    ) throws(CanonicalJSONError) -> JSONObject {
        var hashed = event
        hashed["hashes"] = ["sha256": .string(UnpaddedBase64.encode(try contentHash(event)))]
        let redacted = Redaction.redact(hashed, version: version)
        let signed = try JSONSigning.sign(redacted, server: server, key: key)
        hashed["signatures"] = signed["signatures"]
        return hashed
    }

    /// Checks that the event still matches its content hash (false once redacted).
    public static func contentHashMatches(_ event: JSONObject) -> Bool {
        guard let expected = event["hashes"]?["sha256"]?.stringValue, let hash = try? contentHash(event) else { return false }
        return UnpaddedBase64.encode(hash) == expected
    }
}
