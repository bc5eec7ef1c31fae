import AxonStorage
import MatrixModel

/// What the admin API (and `/account/deactivate`) change on an account, each with the same
/// consequences as when the user does it: rooms left, devices logged out, member events
/// carrying the new profile.
extension ServerContext {
    func deactivate(_ userID: String, erase: Bool) async throws {
        try await rooms.leaveAll(userID: userID, reason: "Account deactivated")
        try await announceDeviceListChange(userID, at: try await storage.deactivateAccount(userID: userID, erase: erase))
        logger.info("deactivated user", metadata: ["user_id": "\(userID)"])
    }

    func setPassword(_ userID: String, _ password: String, logoutDevices: Bool) async throws {
        try await storage.setPasswordHash(userID: userID, hash: try await accounts.hashPassword(password))
        if logoutDevices {
            try await announceDeviceListChange(userID, at: try await storage.deleteAllDevices(userID: userID, keepingDeviceID: nil))
        }
    }

    /// `PUT /_synapse/admin/v2/users/{userId}`: 201 with the new account, or 200 with the
    /// changed one.
    func createOrModifyUser(_ request: MatrixRequest) async throws -> MatrixResponse {
        let userID = try localUser(request)
        let body = try request.jsonObject()
        let password = try body.optionalString("password")
        let displayName = try body.optionalString("displayname")
        let avatarURL = try body.optionalString("avatar_url")
        if let avatarURL, !avatarURL.isEmpty, !avatarURL.hasPrefix("mxc://") { throw MatrixError.invalidParam("'avatar_url' must be an mxc:// URI") }
        if let displayName, displayName.utf8.count > 256 { throw MatrixError.invalidParam("Display name is longer than 256 bytes") }
        let admin = try body.optionalBool("admin")
        let deactivated = try body.optionalBool("deactivated")
        let threePIDs = try Self.adminThreePIDs(body)
        let externalIDs = try Self.adminExternalIDs(body)
        guard let existing = try await storage.account(userID: userID.description) else {
            guard deactivated != true else { throw MatrixError.badJSON("A new account cannot start deactivated") }
            // The same localpart rules as registration: no account an ordinary login could not name.
            guard UserID.isCompliantLocalpart(userID.localpart) else {
                throw MatrixError.invalidUsername("User ID may only contain the characters a-z, 0-9, '.', '_', '=', '-', '/' and '+'")
            }
            _ = try await accounts.register(userID: userID, password: password, isAdmin: admin ?? false, displayName: displayName, login: nil)
            if let avatarURL { _ = try await storage.setProfileField(userID: userID.description, key: "avatar_url", value: .string(avatarURL)) }
            try await replaceIdentifiers(userID.description, threePIDs: threePIDs, externalIDs: externalIDs)
            logger.info("an admin created a user", metadata: ["user_id": "\(userID)", "admin": "\(request.user.userID)"])
            guard let created = try await storage.account(userID: userID.description) else { throw MatrixError.unknown("The account vanished") }
            return MatrixResponse(status: .created, json: .object(try await details(created)))
        }
        let id = existing.userID
        if deactivated == false, existing.isDeactivated {
            guard password != nil else { throw MatrixError.badJSON("Reactivating an account needs a new password") }
            try await storage.reactivateAccount(userID: id)
        }
        if let password { try await setPassword(id, password, logoutDevices: try body.optionalBool("logout_devices") ?? true) }
        try await replaceIdentifiers(id, threePIDs: threePIDs, externalIDs: externalIDs)
        if let admin {
            guard id != request.user.userID || admin else { throw MatrixError.badJSON("You may not demote yourself") }
            try await storage.setAdmin(userID: id, isAdmin: admin)
        }
        for (key, value) in [("displayname", displayName), ("avatar_url", avatarURL)] {
            guard let value else { continue }
            let json: JSON? = value.isEmpty ? nil : .string(value)
            _ = try await storage.setProfileField(userID: id, key: key, value: json)
            try await rooms.updateMemberProfiles(userID: id, key: key, value: json)
        }
        if deactivated == true, !existing.isDeactivated { try await deactivate(id, erase: false) }
        guard let changed = try await storage.account(userID: id) else { throw MatrixError.notFound("User not found") }
        return .ok(.object(try await details(changed)))
    }

    /// `threepids` ([{medium, address}]) as Synapse takes them: absent keeps, given replaces.
    static func adminThreePIDs(_ body: JSON) throws -> [(medium: String, address: String)]? {
        guard let list = body.optional("threepids") else { return nil }
        guard let items = list.arrayValue else { throw MatrixError.badJSON("'threepids' must be a list") }
        return try items.map { item in
            let medium = try item.requiredString("medium")
            guard medium == "email" else { throw MatrixError(400, "M_THREEPID_MEDIUM_NOT_SUPPORTED", "Only email addresses are supported") }
            return (medium, try ServerContext.canonicalEmail(try item.requiredString("address")))
        }
    }

    /// `external_ids` ([{auth_provider, external_id}]): absent keeps, given replaces.
    static func adminExternalIDs(_ body: JSON) throws -> [(provider: String, subject: String)]? {
        guard let list = body.optional("external_ids") else { return nil }
        guard let items = list.arrayValue else { throw MatrixError.badJSON("'external_ids' must be a list") }
        return try items.map { (try $0.requiredString("auth_provider"), try $0.requiredString("external_id")) }
    }

    private func replaceIdentifiers(
        _ userID: String, threePIDs: [(medium: String, address: String)]?, externalIDs: [(provider: String, subject: String)]?
    ) async throws {
        let now = nowMillis()
        if let threePIDs {
            for old in try await storage.threePIDs(userID: userID) where !threePIDs.contains(where: { $0 == (old.medium, old.address) }) {
                _ = try await storage.unbindThreePID(userID: userID, medium: old.medium, address: old.address)
            }
            for threePID in threePIDs {
                do {
                    try await storage.bindThreePID(userID: userID, UserThreePID(medium: threePID.medium, address: threePID.address, validatedAt: now, addedAt: now))
                } catch StorageError.conflict {
                    throw MatrixError(400, "M_THREEPID_IN_USE", "\(threePID.address) belongs to another account")
                }
            }
        }
        if let externalIDs {
            try await storage.unlinkExternalIDs(userID: userID)
            for external in externalIDs where try await !storage.linkExternalID(providerID: external.provider, subject: external.subject, userID: userID, now: now) {
                throw MatrixError(400, "M_USER_IN_USE", "\(external.provider) \(external.subject) is linked to another account")
            }
        }
    }
}
