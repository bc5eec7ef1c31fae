import AxonStorage
import MatrixModel

/// Device keys, one-time and fallback keys (spec keys.yaml). The server checks shapes and
/// routes keys; it never decrypts anything.
extension ServerContext {
    func registerKeyRoutes(on routes: RouteTable) {
        routes.client(.post, "/keys/upload") { request in
            let body = try request.jsonObject()
            let user = request.user
            var deviceKeys: JSONObject?
            if let keys = body.optional("device_keys") {
                deviceKeys = try Self.validatedDeviceKeys(keys, userID: user.userID, deviceID: user.deviceID)
            }
            let oneTimeKeys = try Self.validatedKeyMap(body.optional("one_time_keys"), name: "one_time_keys")
            let fallbackKeys = try Self.validatedKeyMap(body.optional("fallback_keys"), name: "fallback_keys")
            guard Set(fallbackKeys.map { $0.id.split(separator: ":")[0] }).count == fallbackKeys.count else {
                throw MatrixError.invalidParam("At most one fallback key per algorithm")
            }
            do {
                let position = try await storage.uploadKeys(
                    userID: user.userID, deviceID: user.deviceID, deviceKeys: deviceKeys, oneTimeKeys: oneTimeKeys,
                    fallbackKeys: fallbackKeys)
                try await announceDeviceListChange(user.userID, at: position)
            } catch KeyStoreError.oneTimeKeyExists(let id) {
                throw MatrixError.invalidParam("One-time key \(id) already exists with different content")
            }
            let counts = try await storage.oneTimeKeyCounts(userID: user.userID, deviceID: user.deviceID)
            return .ok(["one_time_key_counts": .object(JSONObject(counts.mapValues { JSON.int(Int64($0)) }))])
        }
        routes.client(.post, "/keys/query") { request in
            let body = try request.jsonObject()
            guard let wanted = body["device_keys"]?.objectValue else { throw MatrixError.badJSON("'device_keys' must be an object") }
            let timeout = Duration.milliseconds(min(max(body["timeout"]?.intValue ?? 10_000, 1_000), 30_000))
            return .ok(.object(try await queryKeys(wanted, requester: request.user.userID, timeout: timeout)))
        }
        routes.client(.post, "/keys/claim") { request in
            let body = try request.jsonObject()
            guard let wanted = body["one_time_keys"]?.objectValue else { throw MatrixError.badJSON("'one_time_keys' must be an object") }
            var claimed = JSONObject()
            var failures = JSONObject()
            var remote: [String: JSONObject] = [:]
            for (userID, devices) in wanted {
                guard let devices = devices.objectValue else { throw MatrixError.badJSON("one_time_keys.\(userID) must be an object") }
                let server = try server(of: userID)
                guard server == serverName else {
                    remote[server.value, default: [:]][userID] = .object(devices)
                    continue
                }
                let byDevice = try await claimLocalKeys(userID: userID, devices: devices)
                if !byDevice.isEmpty { claimed[userID] = .object(byDevice) }
            }
            let timeout = Duration.milliseconds(min(max(body["timeout"]?.intValue ?? 10_000, 1_000), 30_000))
            try await RemoteKeys(context: self).claim(remote, timeout: timeout, claimed: &claimed, failures: &failures)
            return .ok(["one_time_keys": .object(claimed), "failures": .object(failures)])
        }
        routes.client(.get, "/keys/changes") { request in
            guard let from = request.query("from").flatMap(SyncToken.init), let to = request.query("to").flatMap(SyncToken.init) else {
                throw MatrixError.invalidParam("'from' and 'to' must be sync tokens")
            }
            let (changed, left) = try await DeviceLists(storage: storage).updates(
                viewer: request.user.userID, after: from.position, upTo: to.position)
            return .ok(["changed": .array(changed.sorted().map(JSON.string)), "left": .array(left.sorted().map(JSON.string))])
        }
    }

    /// One local user's one-time (or fallback) keys, one per device asked for.
    func claimLocalKeys(userID: String, devices: JSONObject) async throws -> JSONObject {
        var byDevice = JSONObject()
        for (deviceID, algorithm) in devices {
            guard let algorithm = algorithm.stringValue else { throw MatrixError.badJSON("Algorithms must be strings") }
            if let key = try await storage.claimKey(userID: userID, deviceID: deviceID, algorithm: algorithm) {
                byDevice[deviceID] = [key.keyID: key.key]
            }
        }
        return byDevice
    }

    /// The user's server when the ID is well-formed, else a 400 naming it.
    private func server(of userID: String) throws(MatrixError) -> ServerName {
        guard let parsed = UserID(userID) else { throw MatrixError.invalidParam("'\(userID)' is not a user ID") }
        return parsed.server
    }

    /// `/keys/query`: device keys with the signatures others uploaded for them, and
    /// cross-signing keys (the user-signing key only for its owner); users of other servers
    /// are asked of their servers (`/user/keys/query`), which appear in `failures` only when
    /// they could not be reached.
    private func queryKeys(_ wanted: JSONObject, requester: String, timeout: Duration) async throws -> JSONObject {
        var result = KeyQueryResult()
        var remote: [String: JSONObject] = [:]
        for (userID, devices) in wanted {
            guard let devices = devices.arrayValue else { throw MatrixError.badJSON("device_keys.\(userID) must be a list of device IDs") }
            let server = try server(of: userID)
            guard server == serverName else {
                remote[server.value, default: [:]][userID] = .array(devices)
                continue
            }
            try await localKeys(userID: userID, deviceIDs: devices.compactMap(\.stringValue), requester: requester, into: &result)
        }
        try await RemoteKeys(context: self).query(remote, timeout: timeout, into: &result)
        return result.json
    }

    /// One local user's keys, as `/keys/query` and `/user/keys/query` answer them.
    func localKeys(userID: String, deviceIDs: [String], requester: String, into result: inout KeyQueryResult) async throws {
        let signatures = try await storage.keySignatures(targetUserID: userID)
        var byDevice = JSONObject()
        for stored in try await storage.deviceKeys(userID: userID, deviceIDs: deviceIDs.isEmpty ? nil : deviceIDs) {
            var keys = Self.addingSignatures(stored.keys, signatures.filter { $0.targetKeyID == stored.deviceID })
            var unsigned = keys["unsigned"]?.objectValue ?? [:]
            if let name = stored.displayName { unsigned["device_display_name"] = .string(name) }
            keys["unsigned"] = .object(unsigned)
            byDevice[stored.deviceID] = .object(keys)
        }
        result.deviceKeys[userID] = .object(byDevice)
        let crossSigning = try await storage.crossSigningKeys(userID: userID)
        if let master = crossSigning["master"] {
            // Signatures by other users' user-signing keys are for those users' eyes only.
            let target = CrossSigningKey(master)?.publicKeyBase64
            let visible = signatures.filter { $0.targetKeyID == target && ($0.signerUserID == userID || $0.signerUserID == requester) }
            result.masterKeys[userID] = .object(Self.addingSignatures(master, visible))
        }
        if let selfSigning = crossSigning["self_signing"] { result.selfSigningKeys[userID] = .object(selfSigning) }
        if userID == requester, let userSigning = crossSigning["user_signing"] { result.userSigningKeys[userID] = .object(userSigning) }
    }

    static func addingSignatures(_ object: JSONObject, _ signatures: [KeySignature]) -> JSONObject {
        guard !signatures.isEmpty else { return object }
        var object = object
        var all = object["signatures"]?.objectValue ?? [:]
        for signature in signatures {
            var bySigner = all[signature.signerUserID]?.objectValue ?? [:]
            bySigner[signature.signerKeyID] = .string(signature.signature)
            all[signature.signerUserID] = .object(bySigner)
        }
        object["signatures"] = .object(all)
        return object
    }

    /// Device keys must name this user and device, list algorithms, and carry keys and
    /// signatures objects; the device's own ed25519 key must sign them.
    static func validatedDeviceKeys(_ value: JSON, userID: String, deviceID: String) throws(MatrixError) -> JSONObject {
        guard let keys = value.objectValue else { throw MatrixError.badJSON("'device_keys' must be an object") }
        guard keys["user_id"]?.stringValue == userID, keys["device_id"]?.stringValue == deviceID else {
            throw MatrixError.invalidParam("device_keys must name your user ID and this device's ID")
        }
        guard let algorithms = keys["algorithms"]?.arrayValue, algorithms.allSatisfy({ $0.stringValue != nil }),
            let keyMap = keys["keys"]?.objectValue, keyMap.allSatisfy({ $0.value.stringValue != nil }),
            keys["signatures"]?.objectValue != nil
        else { throw MatrixError.badJSON("device_keys needs 'algorithms' (strings), 'keys' (strings) and 'signatures'") }
        guard let ed25519 = keyMap["ed25519:" + deviceID]?.stringValue, let publicKey = UnpaddedBase64.decode(ed25519),
            JSONSigning.verify(keys, server: userID, keyID: "ed25519:" + deviceID, publicKey: publicKey)
        else { throw MatrixError(400, "M_INVALID_SIGNATURE", "device_keys must be signed by the device's own ed25519 key") }
        return keys
    }

    /// `<algorithm>:<key id>` → a key string or a signed key object.
    static func validatedKeyMap(_ value: JSON?, name: String) throws(MatrixError) -> [(id: String, key: JSON)] {
        guard let value else { return [] }
        guard let object = value.objectValue else { throw MatrixError.badJSON("'\(name)' must be an object") }
        var keys: [(id: String, key: JSON)] = []
        for (id, key) in object {
            let parts = id.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw MatrixError.invalidParam("\(name): key IDs have the form <algorithm>:<key id>, not '\(id)'")
            }
            switch key {
            case .string: break
            case .object(let signed) where signed["key"]?.stringValue != nil: break
            default: throw MatrixError.badJSON("\(name).\(id) must be a key string or an object with a 'key'")
            }
            keys.append((id, key))
        }
        return keys
    }
}
