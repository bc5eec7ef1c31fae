/// A requested OAuth scope (spec "Scope"): full client-server access and exactly one device.
/// Tokens Axon does not grant are dropped from what it answers, as RFC 6749 §3.3 allows.
struct OAuthScope: Equatable, Sendable {
    static let api = "urn:matrix:client:api:*"
    static let devicePrefix = "urn:matrix:client:device:"
    /// The names matrix-rust-sdk and Element used before the spec had them (MSC2967).
    static let unstableAPI = "urn:matrix:org.matrix.msc2967.client:api:*"
    static let unstableDevicePrefix = "urn:matrix:org.matrix.msc2967.client:device:"

    let deviceID: String
    /// The scope tokens granted, in the order asked.
    let granted: [String]

    var text: String { granted.joined(separator: " ") }

    enum Failure: Error, Equatable {
        case malformed(String)
        case missingAPIAccess
        case deviceCount(Int)
        case badDeviceID(String)
    }

    static func parse(_ text: String) throws(Failure) -> OAuthScope {
        // RFC 6749 §3.3: space-delimited tokens of %x21 / %x23-5B / %x5D-7E.
        let tokens = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        for token in tokens where !token.utf8.allSatisfy({ $0 == 0x21 || (0x23...0x5B).contains($0) || (0x5D...0x7E).contains($0) }) {
            throw .malformed(token)
        }
        var deviceIDs: Set<String> = []
        var granted: [String] = []
        var hasAPI = false
        for token in tokens where !granted.contains(token) {
            if token == api || token == unstableAPI {
                hasAPI = true
                granted.append(token)
            } else if let device = token.dropPrefix(devicePrefix) ?? token.dropPrefix(unstableDevicePrefix) {
                deviceIDs.insert(device)
                granted.append(token)
            }
        }
        guard hasAPI else { throw .missingAPIAccess }
        // The stable and unstable names may both carry the device, but only one device.
        guard deviceIDs.count == 1, let deviceID = deviceIDs.first else { throw .deviceCount(deviceIDs.count) }
        // The spec recommends RFC 3986's unreserved characters; a device ID also has to fit
        // where Matrix IDs go.
        guard (1...255).contains(deviceID.utf8.count),
            deviceID.utf8.allSatisfy(\.isURIUnreserved)
        else { throw .badDeviceID(deviceID) }
        return OAuthScope(deviceID: deviceID, granted: granted)
    }
}

extension OAuthScope.Failure {
    var description: String {
        switch self {
        case .malformed(let token): "Scope token '\(token)' has characters a scope may not contain"
        case .missingAPIAccess: "The scope must include \(OAuthScope.api)"
        case .deviceCount(let count): "The scope must name exactly one device (\(OAuthScope.devicePrefix)<device_id>), not \(count)"
        case .badDeviceID(let id): "Device ID '\(id)' must be 1 to 255 of A-Z a-z 0-9 - . _ ~"
        }
    }
}

extension String {
    func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}

