import Testing
import TensorIO

/// The strict JSON parser behind safetensors headers and `config.json`.
@Suite struct SafetensorsJSONTests {
    @Test func parsesAConfigWithTypedAccessors() throws {
        let config = try JSONValue.parse("""
            {"hidden_size": 576, "rms_norm_eps": 1e-05, "rope_theta": 100000.0, "tie_word_embeddings": true,
             "rope_scaling": {"type": "linear", "factor": 2.0}, "eos_token_id": [1, 2], "bos_token_id": null,
             "name": "Smol\\u00e9 \\ud83d\\ude00 \\"q\\"\\n"}
            """)
        #expect(config["hidden_size"]?.intValue == 576)
        #expect(config["rope_theta"]?.intValue == 100_000)
        #expect(abs((config["rms_norm_eps"]?.doubleValue ?? 0) - 1e-5) < 1e-12)
        #expect(config["tie_word_embeddings"]?.boolValue == true)
        #expect(config["rope_scaling"]?["type"]?.stringValue == "linear")
        #expect(abs((config["rope_scaling"]?["factor"]?.doubleValue ?? 0) - 2) < 1e-12)
        #expect(config["eos_token_id"]?[1]?.intValue == 2)
        #expect(config["bos_token_id"]?.isNull == true)
        #expect(config["name"]?.stringValue == "Smolé 😀 \"q\"\n")
        #expect(config["missing"] == nil)
        #expect(config["hidden_size"]?.stringValue == nil)
        #expect(config.objectValue?.keys.first == "hidden_size")
    }

    @Test func keepsLargeIntegersExact() throws {
        let value = try JSONValue.parse("[9007199254740993, -0, 1.5, 12345678901234567890]")
        #expect(value[0] == .integer(9_007_199_254_740_993))
        #expect(value[1] == .integer(0))
        #expect(value[2] == .number(1.5))
        #expect(value[3]?.intValue == nil)  // beyond Int: kept as an inexact Double
    }

    @Test(arguments: [
        "{\"a\":1,}", "[1,]", "{'a':1}", "01", "1.", ".5", "-", "1e", "tru", "\"\\x\"", "\"a\nb\"",
        "\"\\ud800\"", "[1] 2", "{\"a\" 1}", "// c\n1", "nan", "1e999",
    ])
    func rejectsInvalidDocuments(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func rejectsDuplicateKeysAtAnyDepth() {
        do {
            _ = try JSONValue.parse("{\"a\": {\"x\": 1, \"x\": 2}}")
            Issue.record("duplicate accepted")
        } catch {
            #expect(error.reason == .duplicateKey("x", depth: 2))
            #expect(error.offset == 15)
        }
    }

    @Test func rejectsDeepNestingWithoutRecursingFurther() {
        let text = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError(offset: JSONValue.maximumNesting, reason: .nestingTooDeep(limit: JSONValue.maximumNesting))) {
            try JSONValue.parse(text)
        }
        #expect(throws: Never.self) {
            try JSONValue.parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100))
        }
    }

    @Test func serializationRoundTrips() throws {
        let text = "{\"b\":[1,2.5,\"x\\\"\\u0001\"],\"a\":{\"t\":true,\"n\":null},\"e\":{},\"l\":[]}"
        let value = try JSONValue.parse(text)
        #expect(value.serialized() == text)
        let pretty = value.serialized(pretty: true)
        #expect(pretty.contains("\n  \"a\": {\n    \"t\": true,"))
        #expect(try JSONValue.parse(pretty) == value)
    }

    @Test func objectEqualityIgnoresKeyOrder() throws {
        #expect(try JSONValue.parse("{\"a\":1,\"b\":2}") == JSONValue.parse("{\"b\":2,\"a\":1}"))
        var object = JSONObject()
        object["x"] = .integer(1)
        object["y"] = .integer(2)
        object["x"] = nil
        #expect(object.keys == ["y"])
    }
}
