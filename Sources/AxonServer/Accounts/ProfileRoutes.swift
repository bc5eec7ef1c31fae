import AxonStorage
import MatrixModel

/// Profiles (spec v1.16 profile fields). Propagating a change into the user's membership
/// events happens in the rooms layer.
extension ServerContext {
    static let maxProfileBytes = 64 * 1024
    static let maxProfileKeyBytes = 255

    func registerProfileRoutes(on routes: RouteTable) {
        routes.client(.get, "/profile/{userId}", auth: .optional) { request in
            .ok(.object(try await profile(of: request.parameter("userId"))))
        }
        routes.client(.get, "/profile/{userId}/{keyName}", auth: .optional) { request in
            let key = request.parameter("keyName")
            guard let value = try await profile(of: request.parameter("userId"))[key] else {
                throw MatrixError.notFound("Profile field not found")
            }
            return .ok([key: value])
        }
        routes.client(.put, "/profile/{userId}/{keyName}", auth: .required(allowGuests: true)) { request in
            let key = request.parameter("keyName")
            let body = try request.jsonObject()
            guard let value = body[key] else { throw MatrixError.missingParam("Missing '\(key)'") }
            try requireGuestMayChange(request, key: key)
            try validate(key: key, value: value)
            try await setField(request, key: key, value: value)
            return .empty
        }
        routes.client(.delete, "/profile/{userId}/{keyName}", auth: .required(allowGuests: true)) { request in
            let key = request.parameter("keyName")
            try requireGuestMayChange(request, key: key)
            try validate(key: key, value: nil)
            try await setField(request, key: key, value: nil)
            return .empty
        }
    }

    private func profile(of userID: String) async throws -> JSONObject {
        guard let parsed = UserID(userID) else { throw MatrixError.invalidParam("Invalid user ID") }
        if parsed.server != serverName { return try await remoteProfile(of: parsed) }
        var found = try await storage.account(userID: userID)
        // A user an application service claims may be made by it when first asked for (a puppet).
        if found == nil, await appServiceMadeUser(userID) { found = try await storage.account(userID: userID) }
        guard let account = found, !account.isDeactivated else {
            throw MatrixError.notFound("Profile not found")
        }
        return account.profile
    }

    /// Guests may set a display name and nothing else (spec "Guest access").
    private func requireGuestMayChange(_ request: MatrixRequest, key: String) throws(MatrixError) {
        if request.user.isGuest, key != "displayname" { throw MatrixError.guestAccessForbidden() }
    }

    private func validate(key: String, value: JSON?) throws(MatrixError) {
        guard !key.isEmpty else { throw MatrixError.invalidParam("Invalid profile key") }
        guard key.utf8.count <= Self.maxProfileKeyBytes else {
            throw MatrixError(400, "M_KEY_TOO_LARGE", "Profile keys are limited to \(Self.maxProfileKeyBytes) bytes")
        }
        guard let value else { return }
        switch key {
        case "displayname":
            guard let name = value.stringValue else { throw MatrixError.badJSON("'displayname' must be a string") }
            guard name.utf8.count <= 256 else { throw MatrixError.invalidParam("Display name is longer than 256 bytes") }
        case "avatar_url":
            guard let url = value.stringValue else { throw MatrixError.badJSON("'avatar_url' must be a string") }
            guard url.isEmpty || url.hasPrefix("mxc://") else { throw MatrixError.invalidParam("'avatar_url' must be an mxc:// URI") }
        case "m.tz":
            guard value.stringValue != nil else { throw MatrixError.badJSON("'m.tz' must be a string") }
        default:
            break
        }
    }

    private func setField(_ request: MatrixRequest, key: String, value: JSON?) async throws {
        let userID = request.parameter("userId")
        try requireSelf(request, userID: userID)
        var profile = try await profile(of: userID)
        profile[key] = value
        guard JSON.object(profile).encodedBytes().count <= Self.maxProfileBytes else {
            throw MatrixError(400, "M_PROFILE_TOO_LARGE", "The profile would exceed 64 KiB")
        }
        guard try await storage.setProfileField(userID: userID, key: key, value: value) else {
            throw MatrixError.notFound("Profile not found")
        }
        if key == "displayname" || key == "avatar_url" {
            try await rooms.updateMemberProfiles(userID: userID, key: key, value: value)
        }
    }
}
