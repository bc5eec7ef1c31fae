import Testing

@testable import MatrixModel

@Suite("Push rules")
struct PushRuleTests {
    let alice = "@alice:hs"

    func context(members: Int = 5, senderLevel: Int64 = 0, displayName: String? = nil) -> PushEvaluationContext {
        PushEvaluationContext(
            userID: alice, displayName: displayName, memberCount: members, senderPowerLevel: senderLevel, notificationLevels: ["room": 50])
    }

    func message(_ body: String, msgtype: String = "m.text", extra: JSONObject = [:]) -> JSONObject {
        var content: JSONObject = ["msgtype": .string(msgtype), "body": .string(body)]
        for (key, value) in extra { content[key] = value }
        return ["type": "m.room.message", "room_id": "!r:hs", "sender": "@bob:hs", "content": .object(content)]
    }

    func ruleID(_ set: PushRuleSet, _ event: JSONObject, _ context: PushEvaluationContext) -> PushActions? {
        set.evaluate(event, context: context)
    }

    @Test("glob patterns: whole values, case-insensitive, ? needs a character")
    func globWhole() {
        #expect(GlobPattern("lunc?*").matchesWhole("Lunch plans"))
        #expect(GlobPattern("lunc?*").matchesWhole("LUNCH"))
        #expect(!GlobPattern("lunc?*").matchesWhole(" lunch"))
        #expect(!GlobPattern("lunc?*").matchesWhole("lunc"))
        #expect(GlobPattern("").matchesWhole(""))
        #expect(!GlobPattern("").matchesWhole("x"))
        #expect(GlobPattern("a*b*c").matchesWhole("aXXbYYc"))
        #expect(!GlobPattern("a*b*c").matchesWhole("aXXbYY"))
    }

    @Test("content.body patterns match between word boundaries")
    func globWords() {
        #expect(GlobPattern("ex*ple").matchesWords(in: "An example event."))
        #expect(GlobPattern("ex*ple").matchesWords(in: "exple"))
        #expect(GlobPattern("ex*ple").matchesWords(in: "An exciting triple-whammy"))
        #expect(!GlobPattern("cake").matchesWords(in: "cakes are nice"))
        #expect(!GlobPattern("cake").matchesWords(in: "pancake"))
        #expect(GlobPattern("cake").matchesWords(in: "I like CAKE!"))
        #expect(!GlobPattern("cake").matchesWords(in: "cake_lover"))
    }

    @Test("a hostile pattern over a long body stays linear")
    func globHostile() {
        let body = String(repeating: "a", count: 20_000)
        #expect(!GlobPattern(String(repeating: "*a", count: 30) + "b").matchesWords(in: body))
    }

    @Test("literal word search finds words at boundaries only, in linear time")
    func literalWords() {
        let name = GlobPattern(literal: "Ali*ce")
        #expect(name.matchesWords(in: "hey ali*ce, lunch?"))
        #expect(!name.matchesWords(in: "hey ali*cex"))
        #expect(GlobPattern(literal: "aab").matchesWords(in: "aaab aab"))
        #expect(!GlobPattern(literal: "aab").matchesWords(in: "aaab"))
        #expect(GlobPattern(literal: "abab").matchesWords(in: "x ababab abab"))
        #expect(GlobPattern("bob").matchesWords(in: "Bob!"))
        #expect(GlobPattern(literal: "a").cost(String(repeating: "a", count: 1000), words: true) == 1001)
        #expect(GlobPattern("*a*b").cost(String(repeating: "a", count: 1000), words: true) == 1001 * 5)
    }

    @Test("a match that would exceed the user's work budget is skipped")
    func workBudget() throws {
        var rules = PushRuleSet(userID: alice, document: nil)
        // Matches "a…ab" by backtracking over every `*`: 127 tokens × the body's length.
        let expensive = String(repeating: "*a", count: 126) + "b*"
        let highlight: JSON = ["notify", ["set_tweak": "highlight"]]
        for index in 0..<20 {
            try rules.setRule(.content, id: "costly\(index)", body: ["pattern": .string(expensive), "actions": highlight], before: nil, after: nil)
        }
        let small = message(String(repeating: "a", count: 200) + "b")
        #expect(rules.evaluate(small, context: context())?.highlights == true)
        let huge = message(String(repeating: "a", count: 60_000) + "b")
        #expect(GlobPattern(expensive).cost(huge["content"]!["body"]!.stringValue!, words: true) > PushRuleSet.workBudget)
        // The expensive rules are skipped; cheap checks still run, so the server defaults
        // decide (a message notifies, without highlight) and so would a cheap user rule.
        let actions = rules.evaluate(huge, context: context())
        #expect(actions?.notifies == true)
        #expect(actions?.highlights == false)
        try rules.setRule(.content, id: "cheap", body: ["pattern": "a*b", "actions": highlight], before: nil, after: "costly0")
        #expect(rules.evaluate(message("x " + String(repeating: "a", count: 60_000) + "b"), context: context())?.highlights == true)
    }

    @Test("dotted paths unescape \\. and \\\\")
    func propertyPaths() {
        #expect(PropertyPath.components("content.m\\.mentions.user_ids") == ["content", "m.mentions", "user_ids"])
        #expect(PropertyPath.components("a\\\\.b") == ["a\\", "b"])
        let event: JSONObject = ["content": ["m.relates_to": ["rel_type": "m.replace"]]]
        #expect(PropertyPath.value(at: "content.m\\.relates_to.rel_type", in: event) == "m.replace")
        #expect(PropertyPath.value(at: "content.m.relates_to.rel_type", in: event) == nil)
    }

    @Test("member count comparisons")
    func memberCount() {
        #expect(MemberCountComparison("2")!.holds(2))
        #expect(!MemberCountComparison("==2")!.holds(3))
        #expect(MemberCountComparison("<=10")!.holds(10))
        #expect(MemberCountComparison(">1")!.holds(2))
        #expect(!MemberCountComparison("<2")!.holds(2))
        #expect(MemberCountComparison("x2") == nil)
        #expect(MemberCountComparison("") == nil)
        #expect(MemberCountComparison("<") == nil)
    }

    @Test("default rules: messages notify, 1:1 messages ring, notices and edits are quiet")
    func defaults() throws {
        let rules = PushRuleSet(userID: alice, document: nil)
        let group = try #require(rules.evaluate(message("hi"), context: context()))
        #expect(group.notifies && !group.highlights && group.tweaks.isEmpty)
        let direct = try #require(rules.evaluate(message("hi"), context: context(members: 2)))
        #expect(direct.notifies && direct.tweaks["sound"] == "default")
        #expect(rules.evaluate(message("bot", msgtype: "m.notice"), context: context())?.notifies == false)
        let edit = message("* fixed", extra: ["m.relates_to": ["rel_type": "m.replace", "event_id": "$x"]])
        #expect(rules.evaluate(edit, context: context())?.notifies == false)
        let other: JSONObject = ["type": "m.room.topic", "state_key": "", "sender": "@bob:hs", "content": ["topic": "t"]]
        #expect(rules.evaluate(other, context: context()) == nil)
    }

    @Test("mentions highlight; @room needs the sender's notification power")
    func mentions() {
        let rules = PushRuleSet(userID: alice, document: nil)
        let mention = message("hey", extra: ["m.mentions": ["user_ids": [.string(alice)]]])
        #expect(rules.evaluate(mention, context: context())?.highlights == true)
        let otherMention = message("hey", extra: ["m.mentions": ["user_ids": ["@carol:hs"]]])
        #expect(rules.evaluate(otherMention, context: context())?.highlights == false)
        let room = message("everyone", extra: ["m.mentions": ["room": true]])
        #expect(rules.evaluate(room, context: context(senderLevel: 50))?.highlights == true)
        #expect(rules.evaluate(room, context: context(senderLevel: 0))?.highlights == false)
        let roomAsString = message("everyone", extra: ["m.mentions": ["room": "true"]])
        #expect(rules.evaluate(roomAsString, context: context(senderLevel: 100))?.highlights == false)
    }

    @Test("invites for me notify; other membership events do not")
    func invites() {
        let rules = PushRuleSet(userID: alice, document: nil)
        func member(_ target: String, _ membership: String) -> JSONObject {
            ["type": "m.room.member", "state_key": .string(target), "sender": "@bob:hs", "content": ["membership": .string(membership)]]
        }
        #expect(rules.evaluate(member(alice, "invite"), context: context())?.notifies == true)
        #expect(rules.evaluate(member("@carol:hs", "invite"), context: context())?.notifies == false)
        #expect(rules.evaluate(member(alice, "join"), context: context())?.notifies == false)
    }

    @Test("user rules: placement, precedence over defaults, enable and actions, master")
    func userRules() throws {
        var rules = PushRuleSet(userID: alice, document: nil)
        try rules.setRule(.content, id: "cake", body: ["pattern": "cake", "actions": ["notify", ["set_tweak": "highlight"]]], before: nil, after: nil)
        try rules.setRule(.content, id: "lie", body: ["pattern": "cake*lie", "actions": []], before: "cake", after: nil)
        #expect(rules.rules(.content).map(\.ruleID) == ["lie", "cake"])
        #expect(rules.evaluate(message("the cake is a lie"), context: context())?.notifies == false)
        #expect(rules.evaluate(message("cake please"), context: context())?.highlights == true)

        try rules.setRule(.room, id: "!r:hs", body: ["actions": []], before: nil, after: nil)
        #expect(rules.evaluate(message("cake time"), context: context())?.highlights == true, "content rules come before room rules")
        #expect(rules.evaluate(message("plain"), context: context())?.notifies == false, "the room rule silences the room")
        try rules.deleteRule(.room, id: "!r:hs")

        try rules.setEnabled(.content, id: "cake", enabled: false)
        #expect(rules.rule(.content, id: "cake")?.enabled == false)
        #expect(rules.evaluate(message("cake please"), context: context())?.highlights == false)

        try rules.setActions(.underride, id: ".m.rule.message", actions: ["notify", ["set_tweak": "sound", "value": "x"]])
        #expect(rules.evaluate(message("plain"), context: context())?.tweaks["sound"] == "x")

        try rules.setEnabled(.override, id: ".m.rule.master", enabled: true)
        #expect(rules.evaluate(message("plain"), context: context())?.notifies == false)
        #expect(rules.rules(.override).first?.ruleID == ".m.rule.master")

        // The stored document round-trips.
        let reloaded = PushRuleSet(userID: alice, document: rules.document)
        #expect(reloaded.json == rules.json)
    }

    @Test("invalid changes are refused with the spec's errors")
    func invalidChanges() {
        var rules = PushRuleSet(userID: alice, document: nil)
        #expect(throws: MatrixError.self) { try rules.setRule(.override, id: ".mine", body: ["actions": []], before: nil, after: nil) }
        #expect(throws: MatrixError.self) { try rules.setRule(.override, id: "a/b", body: ["actions": []], before: nil, after: nil) }
        #expect(throws: MatrixError.self) { try rules.setRule(.content, id: "p", body: ["actions": []], before: nil, after: nil) }
        #expect(throws: MatrixError.self) { try rules.setRule(.room, id: "not-a-room", body: ["actions": []], before: nil, after: nil) }
        #expect(throws: MatrixError.self) { try rules.setRule(.override, id: "x", body: ["actions": ["explode"]], before: nil, after: nil) }
        #expect(throws: MatrixError.self) { try rules.setRule(.override, id: "x", body: [:], before: nil, after: nil) }
        let long = JSON.string(String(repeating: "a", count: 256))
        #expect(throws: MatrixError.self) { try rules.setRule(.content, id: "long", body: ["pattern": long, "actions": []], before: nil, after: nil) }
        #expect(throws: MatrixError.self) {
            try rules.setRule(.override, id: "long", body: ["conditions": [["kind": "event_match", "key": "type", "pattern": long]], "actions": []], before: nil, after: nil)
        }
        let many = JSON.array(Array(repeating: ["kind": "event_match", "key": "type", "pattern": "x"], count: 17))
        #expect(throws: MatrixError.self) { try rules.setRule(.override, id: "many", body: ["conditions": many, "actions": []], before: nil, after: nil) }
        do {
            try rules.setRule(.override, id: "x", body: ["actions": []], before: "missing", after: nil)
            Issue.record("an unknown 'before' was accepted")
        } catch {
            #expect(error.errcode == "M_UNKNOWN")
        }
        do {
            try rules.deleteRule(.override, id: "nothing")
            Issue.record("deleting an unknown rule succeeded")
        } catch {
            #expect(error.status == 404)
        }
        #expect(throws: MatrixError.self) { try rules.deleteRule(.override, id: ".m.rule.master") }
        #expect(rules.document.isEmpty)
    }

    @Test("a user's rules are bounded in number")
    func ruleCount() throws {
        var rules = PushRuleSet(userID: alice, document: nil)
        for index in 0..<PushRuleSet.maxUserRules {
            try rules.setRule(.sender, id: "@u\(index):hs", body: ["actions": []], before: nil, after: nil)
        }
        #expect(throws: MatrixError.self) { try rules.setRule(.sender, id: "@one-more:hs", body: ["actions": []], before: nil, after: nil) }
        // Changing an existing rule is still allowed.
        try rules.setRule(.sender, id: "@u0:hs", body: ["actions": ["notify"]], before: nil, after: nil)
    }

    @Test("unknown conditions never match; display names match as words")
    func conditions() throws {
        var rules = PushRuleSet(userID: alice, document: nil)
        try rules.setRule(.override, id: "odd", body: ["conditions": [["kind": "future_condition"]], "actions": ["notify", ["set_tweak": "highlight"]]], before: nil, after: nil)
        #expect(rules.evaluate(message("x"), context: context())?.highlights == false)
        try rules.setRule(.override, id: "name", body: ["conditions": [["kind": "contains_display_name"]], "actions": ["notify", ["set_tweak": "highlight"]]], before: nil, after: nil)
        #expect(rules.usesDisplayName)
        #expect(rules.evaluate(message("hi Alice!"), context: context(displayName: "alice"))?.highlights == true)
        #expect(rules.evaluate(message("hi Alicea"), context: context(displayName: "alice"))?.highlights == false)
        #expect(rules.evaluate(message("hi alice"), context: context(displayName: nil))?.highlights == false)
    }
}
