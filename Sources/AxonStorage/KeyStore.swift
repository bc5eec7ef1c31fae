import MatrixModel

/// A device's uploaded identity keys, with its display name for `/keys/query`.
public struct StoredDeviceKeys: Sendable, Equatable {
    public var userID: String
    public var deviceID: String
    public var keys: JSONObject
    public var displayName: String?
}

/// A signature someone uploaded for a device key or cross-signing key (`/keys/signatures/upload`).
public struct KeySignature: Sendable, Equatable {
    public var targetUserID: String
    /// A device ID, or the unpadded base64 public key of a cross-signing key.
    public var targetKeyID: String
    public var signerUserID: String
    /// `ed25519:<device or key ID>`.
    public var signerKeyID: String
    public var signature: String

    public init(targetUserID: String, targetKeyID: String, signerUserID: String, signerKeyID: String, signature: String) {
        self.targetUserID = targetUserID
        self.targetKeyID = targetKeyID
        self.signerUserID = signerUserID
        self.signerKeyID = signerKeyID
        self.signature = signature
    }
}

public struct ClaimedKey: Sendable, Equatable {
    /// `<algorithm>:<key id>`.
    public var keyID: String
    public var key: JSON
}

/// A membership change seen from a viewer, for device-list tracking.
public struct MembershipChange: Sendable, Equatable {
    public var roomID: String
    public var userID: String
    public var membership: String
}

/// The keys of a remote user whose device list this server tracks (they share a room with a
/// local user): `device_keys` by device, `master_key`, `self_signing_key`, as their server
/// gave them, and the `stream_id` of the last device-list update applied (nil when the copy
/// came from `/user/keys/query`, which has none).
public struct RemoteDeviceList: Sendable, Equatable {
    public var userID: String
    public var streamID: Int64?
    public var keys: JSONObject

    public init(userID: String, streamID: Int64?, keys: JSONObject) {
        self.userID = userID
        self.streamID = streamID
        self.keys = keys
    }
}

public struct ToDeviceMessage: Sendable, Equatable {
    public var sender: String
    public var type: String
    public var content: JSON
    public var streamPosition: Int64
}

/// One recipient of a to-device send; `*` as the device means every device of the user.
public struct ToDeviceRecipient: Sendable {
    public var userID: String
    public var deviceID: String
    public var content: JSON

    public init(userID: String, deviceID: String, content: JSON) {
        self.userID = userID
        self.deviceID = deviceID
        self.content = content
    }
}

public struct BackupVersion: Sendable, Equatable {
    public var version: String
    public var algorithm: String
    public var authData: JSON
    public var etag: String
    public var count: Int
}

public struct BackedUpKey: Sendable, Equatable {
    public var roomID: String
    public var sessionID: String
    public var data: JSON

    public init(roomID: String, sessionID: String, data: JSON) {
        self.roomID = roomID
        self.sessionID = sessionID
        self.data = data
    }
}

/// Everything `/sync` needs from the key store for one device, read together.
public struct SyncKeyState: Sendable {
    public var oneTimeKeyCounts: [String: Int]
    public var unusedFallbackKeyTypes: [String]
    /// Pending to-device messages after the acknowledged position, oldest first.
    public var toDevice: [ToDeviceMessage]
    /// Users whose device lists changed in (since, upTo]; empty on an initial sync.
    public var deviceListChanges: Set<String>
    /// Membership changes in (since, upTo] in the rooms the user has a membership in.
    public var membershipChanges: [MembershipChange]

    public init(
        oneTimeKeyCounts: [String: Int] = [:], unusedFallbackKeyTypes: [String] = [], toDevice: [ToDeviceMessage] = [],
        deviceListChanges: Set<String> = [], membershipChanges: [MembershipChange] = []
    ) {
        self.oneTimeKeyCounts = oneTimeKeyCounts
        self.unusedFallbackKeyTypes = unusedFallbackKeyTypes
        self.toDevice = toDevice
        self.deviceListChanges = deviceListChanges
        self.membershipChanges = membershipChanges
    }
}

public enum KeyStoreError: Error, Equatable {
    /// A one-time key ID is already stored with different content.
    case oneTimeKeyExists(String)
    /// Keys may only be written to the current backup version.
    case wrongBackupVersion(current: String?)
}

/// End-to-end encryption keys, device lists, to-device messages and key backups. The server
/// stores and routes these; it never sees plaintext.
public protocol KeyStore: Sendable {
    /// Stores what a device uploads. When the identity keys are new or changed, records a
    /// device-list change at a new stream position and returns it.
    func uploadKeys(
        userID: String, deviceID: String, deviceKeys: JSONObject?, oneTimeKeys: [(id: String, key: JSON)],
        fallbackKeys: [(id: String, key: JSON)]
    ) async throws -> Int64?
    func oneTimeKeyCounts(userID: String, deviceID: String) async throws -> [String: Int]
    /// All of the user's devices with keys when `deviceIDs` is nil.
    func deviceKeys(userID: String, deviceIDs: [String]?) async throws -> [StoredDeviceKeys]
    /// Takes a one-time key of the algorithm, or else returns (and marks used) the fallback key.
    func claimKey(userID: String, deviceID: String, algorithm: String) async throws -> ClaimedKey?

    /// `master`, `self_signing`, `user_signing` → key.
    func crossSigningKeys(userID: String) async throws -> [String: JSONObject]
    /// Replaces the given cross-signing keys and records a device-list change; returns its position.
    func setCrossSigningKeys(userID: String, keys: [String: JSONObject]) async throws -> Int64
    /// Stores signatures and records a device-list change for each `changedUsers`; returns the position.
    func addKeySignatures(_ signatures: [KeySignature], changedUsers: Set<String>) async throws -> Int64
    func keySignatures(targetUserID: String) async throws -> [KeySignature]

    /// Records that the user's devices changed (a new device, a renamed one) without a key
    /// change; returns the position.
    func markDeviceListChanged(userID: String) async throws -> Int64
    /// Users whose device lists changed in (after, upTo].
    func deviceListChanges(after: Int64, upTo: Int64) async throws -> Set<String>
    /// Membership changes in (after, upTo] in every room the viewer has any membership in.
    func membershipChanges(viewer: String, after: Int64, upTo: Int64) async throws -> [MembershipChange]

    /// Queues a to-device message for each recipient at one new stream position; nil when the
    /// sender's device already sent this transaction ID. Returns the position and the users reached.
    func sendToDevice(
        sender: String, senderDevice: String, transactionID: String, type: String, recipients: [ToDeviceRecipient]
    ) async throws -> (position: Int64, users: Set<String>)?
    /// The same for a message another server relayed (`m.direct_to_device`): nil when that
    /// sender's `message_id` was delivered before.
    func receiveToDevice(
        sender: String, messageID: String, type: String, recipients: [ToDeviceRecipient]
    ) async throws -> (position: Int64, users: Set<String>)?
    func remoteDeviceList(userID: String) async throws -> RemoteDeviceList?
    func saveRemoteDeviceList(_ list: RemoteDeviceList) async throws
    func deleteRemoteDeviceList(userID: String) async throws
    /// Deletes the device's to-device messages at or before `acknowledged` and reads, in one
    /// go, what a sync response needs of keys and devices (one hop instead of six per sync).
    func syncKeyState(
        userID: String, deviceID: String, acknowledged: Int64?, since: Int64?, upTo: Int64, toDeviceLimit: Int
    ) async throws -> SyncKeyState

    func createBackupVersion(userID: String, algorithm: String, authData: JSON) async throws -> String
    /// The given version, or the newest when nil; deleted versions are not found.
    func backupVersion(userID: String, version: String?) async throws -> BackupVersion?
    func updateBackupVersion(userID: String, version: String, authData: JSON) async throws -> Bool
    func deleteBackupVersion(userID: String, version: String) async throws -> Bool
    /// Stores keys into the current version, keeping an existing key when `keepExisting`
    /// (existing, new) says so. Throws `KeyStoreError.wrongBackupVersion` for another version.
    func putBackupKeys(
        userID: String, version: String, keys: [BackedUpKey], keepExisting: @escaping @Sendable (JSON, JSON) -> Bool
    ) async throws -> BackupVersion
    func backupKeys(userID: String, version: String, roomID: String?, sessionID: String?) async throws -> [BackedUpKey]
    func deleteBackupKeys(userID: String, version: String, roomID: String?, sessionID: String?) async throws -> BackupVersion
}
