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

    /// The event ID the room version gives the event: the `event_id` it carries (v1, v2),
    /// or `$` + unpadded base64 of the reference hash (standard in v3, URL-safe from v4).
    /// Nil only for a v1/v2 event without a valid `event_id`.
    public static func eventID(_ event: JSONObject, version: RoomVersion) throws(CanonicalJSONError) -> String {
        switch version.eventIDFormat {
        case .serverScoped:
            guard let id = event["event_id"]?.stringValue, EventID(id) != nil, id.contains(":") else {
                throw CanonicalJSONError.missingEventID
            }
            return id
        case .referenceHash:
            return "$" + UnpaddedBase64.encode(try referenceHash(event, version: version), urlSafe: false)
        case .urlSafeReferenceHash:
            return "$" + UnpaddedBase64.encode(try referenceHash(event, version: version), urlSafe: true)
        }
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
