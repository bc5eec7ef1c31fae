import ArgumentParser
import AxonServer
import AxonStorage
import Foundation
import Logging
import MatrixModel

/// `axon admin`: administration from a shell, on the database directly (like
/// `register-user`), for an admin without an access token.
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Administer users, rooms, reports and media directly in the database.",
        subcommands: [AdminUsers.self, AdminRooms.self, AdminReports.self, AdminMedia.self])
}

/// Opens the configured server, runs `body` on its admin commands, closes the database, and
/// turns Matrix errors into a message and a non-zero exit.
func withAdmin(_ options: ConfigOptions, _ body: (AdminCommands) async throws -> Void) async throws {
    let config = try options.load()
    let storage = try await AxonServer.openStorage(config)
    let server = try await AxonServer(config: config, storage: storage, logger: Logger(label: "axon"))
    do {
        try await body(server.admin)
    } catch let error as MatrixError {
        try await storage.close()
        throw ValidationError(error.message)
    }
    try await storage.close()
}

/// `register-user` and `admin users create`.
func createUser(_ options: ConfigOptions, name: String, password: String, admin: Bool) async throws {
    try await withAdmin(options) { commands in
        print("Created \(admin ? "admin " : "")user \(try await commands.createUser(name, password: password, admin: admin))")
    }
}

struct AdminUsers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "List, create, deactivate users; reset passwords; grant admin.",
        subcommands: [List.self, Create.self, Deactivate.self, ResetPassword.self, MakeAdmin.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per user: ID, admin, deactivated, display name.")
        @OptionGroup var options: ConfigOptions
        @Flag(name: .long, help: "Include deactivated users.") var deactivated = false
        @Flag(name: .long, help: "Only server admins.") var admins = false

        func run() async throws {
            try await withAdmin(options) { admin in
                for account in try await admin.listUsers(deactivated: deactivated, adminsOnly: admins) {
                    print([account.userID, account.isAdmin ? "admin" : "-", account.isDeactivated ? "deactivated" : "active", account.displayName ?? ""]
                        .joined(separator: "\t"))
                }
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user.")
        @OptionGroup var options: ConfigOptions
        @Flag(name: .long, help: "Make the user a server admin.") var admin = false
        @Argument(help: "The localpart (alice for @alice:server).") var name: String
        @Argument(help: "The password.") var password: String

        func run() async throws {
            try await createUser(options, name: name, password: password, admin: admin)
        }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deactivate a user: they leave every room and are logged out.")
        @OptionGroup var options: ConfigOptions
        @Flag(name: .long, help: "Also erase their profile and hide their messages from new members.") var erase = false
        @Argument(help: "alice or @alice:server.") var user: String

        func run() async throws {
            try await withAdmin(options) { admin in print("Deactivated \(try await admin.deactivate(user, erase: erase))") }
        }
    }

    struct ResetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "reset-password", abstract: "Set a new password and log out every device.")
        @OptionGroup var options: ConfigOptions
        @Flag(name: .long, help: "Keep the user's devices logged in.") var keepDevices = false
        @Argument(help: "alice or @alice:server.") var user: String
        @Argument(help: "The new password.") var password: String

        func run() async throws {
            try await withAdmin(options) { admin in
                print("Reset the password of \(try await admin.resetPassword(user, password: password, logoutDevices: !keepDevices))")
            }
        }
    }

    struct MakeAdmin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "make-admin", abstract: "Make a user a server admin (or no longer one).")
        @OptionGroup var options: ConfigOptions
        @Flag(name: .long, help: "Take server admin away instead.") var revoke = false
        @Argument(help: "alice or @alice:server.") var user: String

        func run() async throws {
            try await withAdmin(options) { admin in
                let userID = try await admin.setAdmin(user, !revoke)
                print(revoke ? "\(userID) is no longer a server admin" : "\(userID) is a server admin")
            }
        }
    }
}

struct AdminRooms: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rooms", abstract: "List and delete rooms.", subcommands: [List.self, Delete.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per room: ID, joined members, local members, name, alias.")
        @OptionGroup var options: ConfigOptions
        @Option(name: .long, help: "Part of the name or alias, or the whole room ID.") var search: String?

        func run() async throws {
            try await withAdmin(options) { admin in
                for room in try await admin.listRooms(search: search) {
                    print([room.roomID, String(room.joinedMembers), String(room.joinedLocalMembers), room.name ?? "", room.canonicalAlias ?? ""]
                        .joined(separator: "\t"))
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make every local member leave, remove the room's aliases and directory entry, and purge it; prints the outcome as JSON.")
        @OptionGroup var options: ConfigOptions
        @Flag(name: .long, help: "Also block the room: no one here may join it again.") var block = false
        @Flag(name: .long, help: "Keep the room's history in the database.") var noPurge = false
        @Argument(help: "The room ID.") var roomID: String

        func run() async throws {
            try await withAdmin(options) { admin in print(try await admin.deleteRoom(roomID, block: block, purge: !noPurge).encodedString()) }
        }
    }
}

struct AdminReports: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reports", abstract: "List and read what users reported.", subcommands: [List.self, Show.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per report: ID, time, reporter, room, event, user, reason.")
        @OptionGroup var options: ConfigOptions

        func run() async throws {
            try await withAdmin(options) { admin in
                for report in try await admin.reports() {
                    print([String(report.id), String(report.createdAt), report.reporter, report.roomID ?? "-", report.eventID ?? "-", report.userID ?? "-", report.reason ?? ""]
                        .joined(separator: "\t"))
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One report as JSON.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The report's ID.") var id: Int64

        func run() async throws {
            try await withAdmin(options) { admin in
                guard let report = try await admin.report(id: id) else { throw ValidationError("No report \(id)") }
                var json: JSONObject = ["id": .int(report.id), "received_ts": .int(report.createdAt), "reporter": .string(report.reporter)]
                for (key, value) in [("room_id", report.roomID), ("event_id", report.eventID), ("user_id", report.userID), ("reason", report.reason)] {
                    json[key] = value.map(JSON.string) ?? .null
                }
                print(JSON.object(json).encodedString())
            }
        }
    }
}

struct AdminMedia: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "media", abstract: "Quarantine media.", subcommands: [Quarantine.self])

    struct Quarantine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Quarantine one item: it is served to no one, here or over federation.")
        @OptionGroup var options: ConfigOptions
        @Flag(name: .long, help: "Release it from quarantine instead.") var release = false
        @Argument(help: "mxc://server/media_id or server/media_id.") var media: String

        func run() async throws {
            try await withAdmin(options) { admin in
                let changed = try await admin.quarantine(media, release: release)
                print(changed == 0 ? "No change to \(media)" : release ? "Released \(media)" : "Quarantined \(media)")
            }
        }
    }
}
