import Testing

@testable import MatrixModel

@Suite struct CanonicalJSONTests {
    /// Every example of the spec appendix "Canonical JSON".
    @Test(arguments: [
        ("{}", "{}"),
        (#"{"one": 1, "two": "Two"}"#, #"{"one":1,"two":"Two"}"#),
        (#"{"b": "2", "a": "1"}"#, #"{"a":"1","b":"2"}"#),
        (#"{"b":"2","a":"1"}"#, #"{"a":"1","b":"2"}"#),
        (
            #"{"auth": {"success": true, "mxid": "@john.doe:example.com", "profile": {"display_name": "John Doe", "three_pids": [{"medium": "email", "address": "john.doe@example.org"}, {"medium": "msisdn", "address": "123456789"}]}}}"#,
            #"{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}"#
        ),
        (#"{"a": "日本語"}"#, #"{"a":"日本語"}"#),
        (#"{"本": 2, "日": 1}"#, #"{"日":1,"本":2}"#),
        (#"{"a": "\u65E5"}"#, #"{"a":"日"}"#),
        (#"{"a": null}"#, #"{"a":null}"#),
        (#"{"a": -0, "b": 1e10}"#, #"{"a":0,"b":10000000000}"#),
    ])
    func specExamples(input: String, expected: String) throws {
        #expect(try JSONParser.parse(input).canonicalString() == expected)
    }

    @Test func escapesOnlyWhatTheGrammarRequires() throws {
        let value = JSON.string("a/b\"c\\d\n\t\u{01}\u{1f}é")
        #expect(try value.canonicalString() == #""a/b\"c\\d\n\t\u0001\u001fé""#)
    }

    @Test func keysSortByUTF8BytesNotUnicodeEquivalence() throws {
        // "é" precomposed (C3 A9) and decomposed (65 CC 81) are distinct keys; Swift's String
        // equality would merge them.
        let parsed = try JSONParser.parse("{\"\\u00e9\": 1, \"e\\u0301\": 2, \"z\": 3}")
        #expect(parsed.objectValue?.count == 3)
        #expect(try parsed.canonicalString() == "{\"e\u{301}\":2,\"z\":3,\"\u{e9}\":1}")
    }

    @Test func rejectsFractionsAndUnsafeIntegers() {
        #expect(throws: CanonicalJSONError.floatNotAllowed) { try JSON.double(1.5).canonicalBytes() }
        #expect(throws: CanonicalJSONError.integerOutOfRange(9_007_199_254_740_992)) {
            try JSON.int(9_007_199_254_740_992).canonicalBytes()
        }
        #expect((try? JSON.int(-9_007_199_254_740_991).canonicalString()) == "-9007199254740991")
    }
}

@Suite struct JSONParserTests {
    @Test func integersStayIntegersAndBooleansStayBooleans() throws {
        let value = try JSONParser.parse(#"{"i": 1, "t": true, "f": 1.0, "big": 123456789012345678901}"#)
        #expect(value["i"] == .int(1))
        #expect(value["t"] == .bool(true))
        #expect(value["f"] == .double(1.0))
        #expect(value["big"]?.intValue == nil)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "tru", "\"\\x\"", "\"\u{01}\"", "{\"a\" 1}", "[1] 2",
        "\"\\ud800\"", "\"\\udc00x\"", "NaN", "{\"a\":1,\"a\":2}",
    ])
    func rejectsInvalidInput(input: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(input) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
    }

    @Test func limitsNestingInsteadOfOverflowingTheStack() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: 50) + String(repeating: "]", count: 50)
        #expect(throws: Never.self) { try JSONParser.parse(fine) }
    }

    @Test func decodesSurrogatePairs() throws {
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    @Test func roundTripsThroughTheEncoder() throws {
        let text = #"{"a":[1,-2,{"b":null}],"c":"x/y","d":false,"e":0.5}"#
        #expect(try JSONParser.parse(text).encodedString() == text)
    }
}
