import AxonStorage
import MatrixModel

/// Cross-signing (spec cross_signing.yaml): uploading the master, self-signing and
/// user-signing keys, and signatures made with them. Every signature is verified before it
/// is stored, so other users' clients can trust what /keys/query returns to be well-formed.
extension ServerContext {
    func registerCrossSigningRoutes(on routes: RouteTable) {
        // Some clients (older Element and mautrix) still call the unstable paths.
        routes.client(.post, "/keys/device_signing/upload", alsoUnstable: true) { request in
            let body = try request.jsonObject()
            let userID = request.user.userID
            let existing = try await storage.crossSigningKeys(userID: userID)
            var uploaded: [String: CrossSigningKey] = [:]
            for (field, usage) in [("master_key", "master"), ("self_signing_key", "self_signing"), ("user_signing_key", "user_signing")] {
                guard let value = body.optional(field) else { continue }
                guard let object = value.objectValue, let key = CrossSigningKey(object) else {
                    throw MatrixError.badJSON("\(field) must have user_id, usage and exactly one ed25519 key named after itself")
                }
                guard key.userID == userID, key.usage.contains(usage) else {
                    throw MatrixError.invalidParam("\(field) must be yours and have usage '\(usage)'")
                }
                uploaded[usage] = key
            }
            guard !uploaded.isEmpty else { throw MatrixError.missingParam("No cross-signing keys to upload") }
            // Once cross-signing is set up, changing it needs the password; the first upload,
            // or the same keys again (a client retrying), does not.
            let unchanged = uploaded.allSatisfy { existing[$0.key] == $0.value.json }
            // MSC4190: an application service replaces its users' keys without it.
            if existing["master"] != nil, !unchanged, !managesDevices(request) {
                try await uia.require(passwordRequirement("keys/device_signing/upload", request), body: body)
            }
            guard let master = uploaded["master"] ?? existing["master"].flatMap(CrossSigningKey.init) else {
                throw MatrixError.missingParam("Upload a master key before the keys it signs")
            }
            for usage in ["self_signing", "user_signing"] {
                if let key = uploaded[usage], !master.hasSigned(key.json) {
                    throw MatrixError(400, "M_INVALID_SIGNATURE", "The \(usage) key must be signed by the master key")
                }
            }
            let position = try await storage.setCrossSigningKeys(userID: userID, keys: uploaded.mapValues(\.json))
            try await announceDeviceListChange(userID, at: position)
            try await announceSigningKeys(
                userID, master: uploaded["master"].map { .object($0.json) }, selfSigning: uploaded["self_signing"].map { .object($0.json) })
            return .empty
        }
        routes.client(.post, "/keys/signatures/upload", alsoUnstable: true) { request in
            let body = try request.jsonObject()
            guard let targets = body.objectValue else { throw MatrixError.badJSON("Expected an object of users") }
            let (signatures, failures, changed) = try await checkSignatures(targets, signer: request.user.userID)
            if !signatures.isEmpty {
                let position = try await storage.addKeySignatures(signatures, changedUsers: changed)
                for user in changed { try await announceDeviceListChange(user, at: position) }
            }
            return .ok(["failures": .object(failures)])
        }
    }

    /// Sorts uploaded signatures into valid ones and per-key failures. A user signs their own
    /// devices with their self-signing key, their master key with a device key, and other
    /// users' master keys with their user-signing key.
    private func checkSignatures(
        _ targets: JSONObject, signer: String
    ) async throws -> (signatures: [KeySignature], failures: JSONObject, changed: Set<String>) {
        let ownKeys = try await storage.crossSigningKeys(userID: signer)
        let selfSigning = ownKeys["self_signing"].flatMap(CrossSigningKey.init)
        let userSigning = ownKeys["user_signing"].flatMap(CrossSigningKey.init)
        let ownDevices = Dictionary(
            try await storage.deviceKeys(userID: signer, deviceIDs: nil).map { ($0.deviceID, $0.keys) }, uniquingKeysWith: { a, _ in a })
        var signatures: [KeySignature] = []
        var failures = JSONObject()
        var changed = Set<String>()
        for (targetUser, keys) in targets {
            guard let keys = keys.objectValue else { throw MatrixError.badJSON("\(targetUser) must map key IDs to signed objects") }
            var userFailures = JSONObject()
            let targetMaster = try await storage.crossSigningKeys(userID: targetUser)["master"].flatMap(CrossSigningKey.init)
            let targetDevices = targetUser == signer ? ownDevices : [:]
            for (keyID, signed) in keys {
                guard let signed = signed.objectValue else {
                    userFailures[keyID] = ["errcode": "M_BAD_JSON", "error": "Not an object"]
                    continue
                }
                // Which key of the signer may sign this target, and is the target what we hold?
                var signingKeys: [(keyID: String, publicKey: [UInt8])] = []
                if targetUser == signer, let device = targetDevices[keyID] {
                    guard Self.sameKeys(device, signed) else {
                        userFailures[keyID] = ["errcode": "M_INVALID_PARAM", "error": "These are not the device's current keys"]
                        continue
                    }
                    if let selfSigning { signingKeys.append((selfSigning.keyID, selfSigning.publicKey)) }
                } else if let master = targetMaster, keyID == master.publicKeyBase64 {
                    guard Self.sameKeys(master.json, signed) else {
                        userFailures[keyID] = ["errcode": "M_INVALID_PARAM", "error": "This is not the user's current master key"]
                        continue
                    }
                    if targetUser == signer {
                        for (deviceID, device) in ownDevices {
                            if let key = device["keys"]?["ed25519:" + deviceID]?.stringValue.flatMap(UnpaddedBase64.decode) {
                                signingKeys.append(("ed25519:" + deviceID, key))
                            }
                        }
                    } else if let userSigning {
                        signingKeys.append((userSigning.keyID, userSigning.publicKey))
                    }
                } else {
                    userFailures[keyID] = ["errcode": "M_NOT_FOUND", "error": "Unknown key"]
                    continue
                }
                let valid = signingKeys.filter { JSONSigning.verify(signed, server: signer, keyID: $0.keyID, publicKey: $0.publicKey) }
                guard !valid.isEmpty, let signatureValues = signed["signatures"]?[signer]?.objectValue else {
                    userFailures[keyID] = ["errcode": "M_INVALID_SIGNATURE", "error": "No valid signature by a key allowed to sign this"]
                    continue
                }
                for (signerKeyID, _) in valid {
                    if let value = signatureValues[signerKeyID]?.stringValue {
                        signatures.append(
                            KeySignature(targetUserID: targetUser, targetKeyID: keyID, signerUserID: signer, signerKeyID: signerKeyID, signature: value))
                    }
                }
                // Either the signer's own keys changed, or (signing someone else's master key)
                // something only the signer sees: either way the signer's device list.
                changed.insert(signer)
            }
            if !userFailures.isEmpty { failures[targetUser] = .object(userFailures) }
        }
        return (signatures, failures, changed)
    }

    /// The signed object must be the stored key apart from signatures and unsigned data.
    private static func sameKeys(_ stored: JSONObject, _ signed: JSONObject) -> Bool {
        var a = stored
        var b = signed
        for key in ["signatures", "unsigned"] {
            a[key] = nil
            b[key] = nil
        }
        return a == b
    }
}
