import AxonStorage
import MatrixModel

/// `POST /user_directory/search`: users the searcher shares a room with, and members of
/// public rooms, matched on user ID and display name (case-insensitive).
extension ServerContext {
    static let maxDirectoryResults = 50

    func registerUserDirectoryRoutes(on routes: RouteTable) {
        routes.client(.post, "/user_directory/search") { request in
            let body = try request.jsonObject()
            let term = try body.requiredString("search_term").lowercased().trimmingCharacters(in: .whitespaces)
            var limit = 10
            if let value = body.optional("limit") {
                guard let number = value.intValue, number >= 0 else { throw MatrixError.badJSON("'limit' must be a non-negative integer") }
                limit = min(Int(number), Self.maxDirectoryResults)
            }
            let matches = try await storage.directoryCandidates(userID: request.user.userID).filter { account in
                term.isEmpty || account.userID.lowercased().contains(term)
                    || (account.displayName?.lowercased().contains(term) ?? false)
            }
            // Names that start with the term first, then by user ID, so results are stable.
            let ranked = matches.sorted { lhs, rhs in
                let left = Self.startsWith(lhs, term)
                let right = Self.startsWith(rhs, term)
                return left != right ? left : lhs.userID < rhs.userID
            }
            let results: [JSON] = ranked.prefix(limit).map { account in
                var entry: JSONObject = ["user_id": .string(account.userID)]
                if let name = account.displayName { entry["display_name"] = .string(name) }
                if let avatar = account.avatarURL { entry["avatar_url"] = .string(avatar) }
                return .object(entry)
            }
            return .ok(["results": .array(results), "limited": .bool(ranked.count > limit)])
        }
    }

    private static func startsWith(_ account: Account, _ term: String) -> Bool {
        UserID(account.userID)?.localpart.lowercased().hasPrefix(term) == true
            || account.displayName?.lowercased().hasPrefix(term) == true
    }
}
